/* receiver: lab 4's receiver, run in container B.
 *
 * usage: receiver COUNT   (how many bits to receive, at most MAX_BITS)
 *
 * Before the first slot it calls receive_setup; SAMPLE_NS into slot i (slots.h)
 * it calls receive_bit, and at the end it prints "received BITS".
 */
#include <stdio.h>
#include <stdlib.h>

#include "slots.h"

/* TODO: remember whatever receive_bit compares with. */
static void receive_setup(void) {
}

/* TODO: return the bit the sender sent in this slot (0 or 1). */
static int receive_bit(void) {
    return 0;
}

int main(int argc, char **argv) {
    int count = argc == 2 ? atoi(argv[1]) : 0;
    char bits[MAX_BITS + 1];
    if (count <= 0 || count > MAX_BITS) {
        fprintf(stderr, "usage: receiver COUNT (1 to %d)\n", MAX_BITS);
        return 2;
    }
    receive_setup();
    for (int i = 0; i < count; i++) {
        sleep_until(START_NS + (long)i * SLOT_NS + SAMPLE_NS);
        bits[i] = receive_bit() ? '1' : '0';
    }
    bits[count] = '\0';
    printf("received %s\n", bits);
    return 0;
}
