/* receiver: lab 4's receiver, run in container B.
 *
 * usage: receiver COUNT   (how many bits to receive, at most MAX_BITS)
 *
 * Before the first slot it calls receive_setup; SAMPLE_NS into slot i (slots.h)
 * it calls receive_bit, and at the end it prints "received BITS".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"

static long last_forks;

/* /proc/stat's "processes": forks since boot, in the kernel this container sees. */
static long forks(void) {
    char line[256];
    long value = -1;
    FILE *stat = fopen("/proc/stat", "r");
    if (stat == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, stat) != NULL) {
        if (strncmp(line, "processes ", 10) == 0) {
            value = atol(line + 10);
        }
    }
    fclose(stat);
    return value;
}

static void receive_setup(void) {
    last_forks = forks();
}

/* A 1 when someone forked since the last look. */
static int receive_bit(void) {
    long now = forks();
    int bit = now > last_forks;
    last_forks = now;
    return bit;
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
