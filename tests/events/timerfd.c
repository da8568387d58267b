/* timerfd_create/settime/gettime (fs/timerfd.c): argument errors, one-shot and
 * periodic timers, relative and absolute, on three clocks; blocking and
 * non-blocking reads of the expiration count; poll and epoll on a timer. */
#include "check.h"
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>

#define MS 1000000L

static long long now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct itimerspec spec(long value_ns, long interval_ns)
{
    struct itimerspec s = {{interval_ns / 1000000000L, interval_ns % 1000000000L},
                           {value_ns / 1000000000L, value_ns % 1000000000L}};
    return s;
}

int main(void)
{
    struct itimerspec s, old;
    uint64_t ticks = 0;
    T(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
    T(timerfd_create(-1, 0));
    T(timerfd_create(CLOCK_MONOTONIC, 0x1));
    int efd = T(eventfd(0, 0));
    s = spec(MS, 0);
    T(timerfd_settime(efd, 0, &s, NULL));
    T(timerfd_gettime(efd, &old));
    T(timerfd_settime(99, 0, &s, NULL));
    T(timerfd_gettime(99, &old));
    T(close(efd));

    int tfd = T(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
    T(fcntl(tfd, F_GETFD));
    s.it_value.tv_nsec = 1000000000L;
    T(timerfd_settime(tfd, 0, &s, NULL));
    s.it_value.tv_nsec = -1;
    T(timerfd_settime(tfd, 0, &s, NULL));
    s = spec(MS, 0);
    T(timerfd_settime(tfd, 0x4, &s, NULL));
    T(timerfd_settime(tfd, 0, BAD_POINTER, NULL));
    T(timerfd_gettime(tfd, BAD_POINTER));
    T(timerfd_gettime(tfd, &old));
    printf("disarmed: %ld.%09ld / %ld.%09ld\n", (long)old.it_value.tv_sec, old.it_value.tv_nsec,
           (long)old.it_interval.tv_sec, old.it_interval.tv_nsec);
    T(read(tfd, &ticks, 4));
    T(write(tfd, &ticks, sizeof ticks));

    /* one-shot, relative: a blocking read waits for it */
    long long start = now_ns(CLOCK_MONOTONIC);
    s = spec(20 * MS, 0);
    T(timerfd_settime(tfd, 0, &s, NULL));
    T(read(tfd, &ticks, sizeof ticks));
    printf("one-shot: %llu expiration, waited >= 20 ms: %s\n", (unsigned long long)ticks,
           now_ns(CLOCK_MONOTONIC) - start >= 20 * MS ? "yes" : "no");
    T(timerfd_gettime(tfd, &old));
    printf("expired: %ld.%09ld\n", (long)old.it_value.tv_sec, old.it_value.tv_nsec);

    /* periodic: expirations add up while nobody reads */
    s = spec(100 * MS, 100 * MS);
    T(timerfd_settime(tfd, 0, &s, NULL));
    struct timespec nap = {0, 250 * MS};
    nanosleep(&nap, NULL);
    T(read(tfd, &ticks, sizeof ticks));
    printf("periodic after 250 ms: %llu expirations\n", (unsigned long long)ticks);
    T(timerfd_gettime(tfd, &old));
    printf("next in (0, 100 ms]: %s, interval %ld ms\n",
           old.it_value.tv_sec == 0 && old.it_value.tv_nsec > 0 &&
           old.it_value.tv_nsec <= 100 * MS ? "yes" : "no", old.it_interval.tv_nsec / MS);

    /* the old setting comes back, and a new setting forgets unread expirations */
    s = spec(0, 0);
    T(timerfd_settime(tfd, 0, &s, &old));
    printf("old interval %ld ms, old value in (0, 100 ms]: %s\n", old.it_interval.tv_nsec / MS,
           old.it_value.tv_nsec > 0 && old.it_value.tv_nsec <= 100 * MS ? "yes" : "no");
    s = spec(0, 5 * MS); /* an interval with no value: disarmed, interval kept */
    T(timerfd_settime(tfd, 0, &s, NULL));
    T(timerfd_gettime(tfd, &old));
    printf("interval only: value %ld, interval %ld ms\n", old.it_value.tv_nsec,
           old.it_interval.tv_nsec / MS);
    T(close(tfd));

    /* non-blocking, absolute on CLOCK_MONOTONIC */
    tfd = T(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
    long long at = now_ns(CLOCK_MONOTONIC) + 15 * MS;
    s = spec(0, 0);
    s.it_value.tv_sec = at / 1000000000LL;
    s.it_value.tv_nsec = at % 1000000000LL;
    T(timerfd_settime(tfd, TFD_TIMER_ABSTIME, &s, NULL));
    T(read(tfd, &ticks, sizeof ticks));
    struct pollfd p = {.fd = tfd, .events = POLLIN};
    T(poll(&p, 1, -1));
    printf("poll woke with %#x, at the deadline: %s\n", p.revents,
           now_ns(CLOCK_MONOTONIC) >= at ? "yes" : "no");
    T(read(tfd, &ticks, sizeof ticks));
    printf("absolute: %llu\n", (unsigned long long)ticks);
    T(close(tfd));

    /* CLOCK_REALTIME absolute in the past: expired at once; periodic overruns count */
    tfd = T(timerfd_create(CLOCK_REALTIME, 0));
    long long wall = now_ns(CLOCK_REALTIME);
    s = spec(0, 0);
    s.it_value.tv_sec = wall / 1000000000LL - 10;
    T(timerfd_settime(tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &s, NULL));
    T(read(tfd, &ticks, sizeof ticks));
    printf("past deadline: %llu\n", (unsigned long long)ticks);
    s.it_interval.tv_sec = 1;
    T(timerfd_settime(tfd, TFD_TIMER_ABSTIME, &s, NULL));
    T(read(tfd, &ticks, sizeof ticks));
    printf("past periodic: %s\n", ticks >= 10 && ticks <= 11 ? "10 or 11" : "other");
    T(close(tfd));

    /* CLOCK_BOOTTIME, waited for with epoll */
    tfd = T(timerfd_create(CLOCK_BOOTTIME, 0));
    int ep = T(epoll_create1(0));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77};
    T(epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev));
    T(epoll_wait(ep, &ev, 1, 0));
    s = spec(10 * MS, 0);
    T(timerfd_settime(tfd, 0, &s, NULL));
    T(epoll_wait(ep, &ev, 1, -1));
    printf("epoll: events %#x data %llu\n", ev.events, (unsigned long long)ev.data.u64);
    T(read(tfd, &ticks, sizeof ticks));
    T(epoll_wait(ep, &ev, 1, 0));
    return 0;
}
