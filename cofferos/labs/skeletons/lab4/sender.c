/* sender: lab 4's sender, run in container A.
 *
 * usage: sender BITS      (a string of 0 and 1, at most MAX_BITS)
 *
 * At the start of slot i (slots.h) it calls send_bit with bit i, then waits for
 * the next slot. It shares no file, pipe or socket with the receiver: whatever
 * send_bit does must change kernel state that the other container can see.
 */
#include <stdio.h>
#include <string.h>

#include "slots.h"

/* TODO: make `bit` observable to a process in another container during this slot
 * (and only through the kernel the two containers run on). */
static void send_bit(int bit) {
    (void)bit;
}

int main(int argc, char **argv) {
    if (argc != 2 || strlen(argv[1]) > MAX_BITS) {
        fprintf(stderr, "usage: sender BITS (at most %d)\n", MAX_BITS);
        return 2;
    }
    size_t count = strlen(argv[1]);
    for (size_t i = 0; i < count; i++) {
        sleep_until(START_NS + (long)i * SLOT_NS);
        send_bit(argv[1][i] == '1');
    }
    sleep_until(START_NS + (long)count * SLOT_NS);
    return 0;
}
