/* Timed calls given absurd timeouts: each must behave as Linux does, where
 * timespec64_to_ktime saturates at KTIME_MAX (a sleep that never ends by itself)
 * and an invalid tv_nsec is EINVAL. A 10 ms interval timer interrupts every wait
 * that Linux would otherwise never end; the guest prints results, errno names and
 * relations (never times), so a coffer's run can be compared with a native one. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define HUGE_NS 999999999L
#define KTIME_SEC_MAX 9223372036LL
#define TICK_US 10000

static const char *res(long r) {
    static char buf[64];
    if (r < 0)
        snprintf(buf, sizeof buf, "-1 %s", strerrorname_np(errno));
    else
        snprintf(buf, sizeof buf, "%ld", r);
    return buf;
}

static void on_alarm(int sig) { (void)sig; }

static void tick(void) {  /* interrupt the next wait 10 ms from now */
    struct itimerval it = {{0, TICK_US}, {0, TICK_US}};
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(void) {
    struct sigaction sa = {.sa_handler = on_alarm};  /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    struct timespec huge = {INT64_MAX, HUGE_NS}, bad_ns = {0, 1000000000L};
    struct timespec neg_ns = {0, -1}, neg_s = {-1, 0};
    tick();

    printf("nanosleep huge: %s\n", res(syscall(SYS_nanosleep, &huge, NULL)));
    printf("nanosleep bad nsec: %s\n", res(syscall(SYS_nanosleep, &bad_ns, NULL)));
    printf("nanosleep negative nsec: %s\n", res(syscall(SYS_nanosleep, &neg_ns, NULL)));
    printf("nanosleep negative sec: %s\n", res(syscall(SYS_nanosleep, &neg_s, NULL)));
    printf("clock_nanosleep realtime abstime huge: %d\n",
           clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &huge, NULL));
    printf("clock_nanosleep monotonic abstime huge: %d\n",
           clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &huge, NULL));
    printf("clock_nanosleep relative huge: %d\n", clock_nanosleep(CLOCK_MONOTONIC, 0, &huge, NULL));
    printf("clock_nanosleep bad nsec: %d\n", clock_nanosleep(CLOCK_MONOTONIC, 0, &bad_ns, NULL));

    uint32_t word = 0;
    printf("futex wait huge: %s\n",
           res(syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &huge, NULL, 0)));
    printf("futex wait bad nsec: %s\n",
           res(syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &neg_ns, NULL, 0)));
    printf("futex wait_bitset realtime huge: %s\n",
           res(syscall(SYS_futex, &word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0,
                       &huge, NULL, FUTEX_BITSET_MATCH_ANY)));

    int fds[2];
    pipe(fds);
    struct timeval tv = {INT64_MAX, 999999};
    printf("select huge: %s\n", res(syscall(SYS_select, 0, NULL, NULL, NULL, &tv)));
    write(fds[1], "x", 1);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fds[0], &rd);
    tv = (struct timeval){INT64_MAX, 999999};
    long r = syscall(SYS_select, fds[0] + 1, &rd, NULL, NULL, &tv);
    printf("select ready huge: %s, left past 9e18 s: %d, usec valid: %d\n", res(r),
           tv.tv_sec > 9000000000000000000LL, tv.tv_usec >= 0 && tv.tv_usec < 1000000);
    tv = (struct timeval){INT64_MAX, 1000000};
    printf("select seconds overflow: %s\n", res(syscall(SYS_select, 0, NULL, NULL, NULL, &tv)));
    struct timespec ts = huge;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    r = ppoll(&pfd, 1, &ts, NULL);
    printf("ppoll ready huge: %s, left past 9e18 s: %d\n", res(r),
           ts.tv_sec > 9000000000000000000LL);
    ts = huge;
    pfd.fd = fds[1];
    pfd.events = POLLPRI;
    printf("ppoll huge: %s\n", res(ppoll(&pfd, 1, &ts, NULL)));
    ts = bad_ns;
    printf("ppoll bad nsec: %s\n", res(ppoll(&pfd, 1, &ts, NULL)));
    ts = huge;
    FD_ZERO(&rd);
    FD_SET(fds[0], &rd);
    r = pselect(fds[0] + 1, &rd, NULL, NULL, &ts, NULL);
    printf("pselect ready huge: %s, left past 9e18 s: %d\n", res(r),
           ts.tv_sec > 9000000000000000000LL);
    int ep = epoll_create1(0);
    printf("epoll_pwait2 huge: %s\n",
           res(syscall(SYS_epoll_pwait2, ep, &(struct epoll_event){0}, 1, &huge, NULL, 8)));
    printf("epoll_pwait2 bad nsec: %s\n",
           res(syscall(SYS_epoll_pwait2, ep, &(struct epoll_event){0}, 1, &bad_ns, NULL, 8)));

    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    printf("sigtimedwait huge: %s\n", res(sigtimedwait(&usr1, NULL, &huge)));
    printf("sigtimedwait bad nsec: %s\n", res(sigtimedwait(&usr1, NULL, &bad_ns)));

    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {huge, huge}, cur;
    printf("timerfd_settime huge: %s\n", res(timerfd_settime(tfd, 0, &its, NULL)));
    timerfd_gettime(tfd, &cur);
    printf("timerfd interval: %lld.%09ld, value past 9e9 s: %d\n",
           (long long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec,
           cur.it_value.tv_sec > 9000000000LL && cur.it_value.tv_sec <= KTIME_SEC_MAX);
    uint64_t ticks;
    printf("timerfd read: %s\n", res(read(tfd, &ticks, sizeof ticks)));
    its.it_value = bad_ns;
    printf("timerfd_settime bad nsec: %s\n", res(timerfd_settime(tfd, 0, &its, NULL)));
    its = (struct itimerspec){huge, huge};
    printf("timerfd_settime realtime abstime huge: %s\n",
           res(timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL)));

    struct itimerval itv = {{INT64_MAX, 999999}, {INT64_MAX, 999999}}, got;
    printf("setitimer huge: %s\n", res(setitimer(ITIMER_REAL, &itv, NULL)));
    getitimer(ITIMER_REAL, &got);
    printf("itimer interval: %lld.%06ld, value past 9e9 s: %d\n",
           (long long)got.it_interval.tv_sec, (long)got.it_interval.tv_usec,
           got.it_value.tv_sec > 9000000000LL && got.it_value.tv_sec <= KTIME_SEC_MAX);
    itv = (struct itimerval){{1, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &itv, NULL);
    getitimer(ITIMER_REAL, &got);
    printf("disarmed itimer interval: %lld.%06ld\n", (long long)got.it_interval.tv_sec,
           (long)got.it_interval.tv_usec);
    itv = (struct itimerval){{0, 0}, {0, 1000000}};
    printf("setitimer bad usec: %s\n", res(setitimer(ITIMER_REAL, &itv, NULL)));

    struct timespec now;
    struct timeval wall;
    printf("clock_gettime: %d, gettimeofday: %d\n", clock_gettime(CLOCK_MONOTONIC, &now),
           gettimeofday(&wall, NULL));
    return 0;
}
