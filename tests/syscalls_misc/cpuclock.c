/* CPU-time clocks named by thread or process (pthread_getcpuclockid,
 * clock_getcpuclockid): ids below zero encode ~pid << 3, a per-thread bit and
 * which time. Prints results and errno names only, never times: each clock reads,
 * does not go backwards, and a thread's clock is readable only in its own process.
 * CPython's test_time.test_pthread_getcpuclockid reads its thread's clock so. */
#include "check.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define CPUCLOCK_PERTHREAD 4
#define MAKE_CLOCK(pid, thread, which) ((~(clockid_t)(pid) << 3) | (thread) | (which))

static int ordered(clockid_t clock)
{
    struct timespec a, b;
    if (clock_gettime(clock, &a) != 0)
        return -errno;
    for (volatile int i = 0; i < 100000; i++)
        ;
    if (clock_gettime(clock, &b) != 0)
        return -errno;
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec <= b.tv_nsec);
}

static clockid_t other_thread_clock;

static void *worker(void *arg)
{
    (void)arg;
    pthread_getcpuclockid(pthread_self(), &other_thread_clock);
    return NULL;
}

int main(void)
{
    struct timespec ts = {0, 0}, res;
    clockid_t mine, process;
    pid_t self = getpid(), child;
    T(pthread_getcpuclockid(pthread_self(), &mine));
    T(mine != CLOCK_THREAD_CPUTIME_ID);
    T(mine == MAKE_CLOCK(gettid(), CPUCLOCK_PERTHREAD, 2));
    T(ordered(mine));
    T(clock_getres(mine, &res));
    T(res.tv_sec == 0 && res.tv_nsec == 1);
    T(clock_getcpuclockid(self, &process));
    T(process == MAKE_CLOCK(self, 0, 2));
    T(ordered(process));
    T(ordered(MAKE_CLOCK(0, 0, 2)));
    T(ordered(MAKE_CLOCK(0, CPUCLOCK_PERTHREAD, 2)));
    for (int which = 0; which < 2; which++) {  /* PROF and VIRT: sampled at the tick */
        T(ordered(MAKE_CLOCK(self, 0, which)));
        T(ordered(MAKE_CLOCK(gettid(), CPUCLOCK_PERTHREAD, which)));
        T(clock_getres(MAKE_CLOCK(self, 0, which), &res));
        T(res.tv_sec == 0 && res.tv_nsec > 1);
    }
    T(clock_gettime(MAKE_CLOCK(self, 0, 3), &ts));          /* a clock fd: EINVAL */
    T(clock_getres(MAKE_CLOCK(self, 0, 3), &res));
    T(clock_gettime(MAKE_CLOCK(0x3fffff, 0, 2), &ts));      /* nobody: EINVAL */
    T(clock_settime(mine, &ts));                            /* exists, never set: EPERM */
    T(clock_settime(MAKE_CLOCK(0x3fffff, 0, 2), &ts));
    T(clock_settime(CLOCK_PROCESS_CPUTIME_ID, &ts));        /* no clock_set: EINVAL */

    pthread_t thread;
    T(pthread_create(&thread, NULL, worker, NULL));
    T(pthread_join(thread, NULL));
    T(other_thread_clock != mine);

    child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    T(clock_getcpuclockid(child, &process));
    T(ordered(process));                                    /* another process: readable */
    T(clock_gettime(MAKE_CLOCK(child, CPUCLOCK_PERTHREAD, 2), &ts)); /* its thread: EINVAL */
    kill(child, SIGKILL);
    T(waitpid(child, NULL, 0) == child);
    return 0;
}
