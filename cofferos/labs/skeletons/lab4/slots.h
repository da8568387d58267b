/* slots.h: the time slots lab 4's sender and receiver agree on.
 *
 * Both containers start at about the same simulated time. Slot i is the interval
 * [START_NS + i * SLOT_NS, START_NS + (i + 1) * SLOT_NS) of CLOCK_MONOTONIC: the
 * sender sends bit i at the slot's start, the receiver reads it SAMPLE_NS later.
 */
#ifndef SLOTS_H
#define SLOTS_H

#include <errno.h>
#include <time.h>

#define NS_PER_S 1000000000L
#define START_NS 2000000L  /* 2 ms after boot: both are running by then */
#define SLOT_NS 1000000L   /* 1 ms a bit */
#define SAMPLE_NS 750000L  /* the receiver looks 3/4 into the slot */
#define MAX_BITS 256

/* Sleep until CLOCK_MONOTONIC reads ns. */
static inline void sleep_until(long ns) {
    struct timespec when = {ns / NS_PER_S, ns % NS_PER_S};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, NULL) == EINTR) {
    }
}

#endif
