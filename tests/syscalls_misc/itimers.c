/* ITIMER_VIRTUAL and ITIMER_PROF: they count the process's CPU time (user, and
 * user + system), not the time it sleeps; SIGVTALRM and SIGPROF come when it runs
 * out, periodically with an interval; getitimer and the old value of setitimer
 * report what is left; a forked child starts without them. The checks are
 * relations, as CPU time differs between runs. */
#include "check.h"
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t vtalrm, prof;

static void on_signal(int sig)
{
    if (sig == SIGVTALRM)
        vtalrm++;
    else
        prof++;
}

static long ms(struct timeval tv) { return tv.tv_sec * 1000 + tv.tv_usec / 1000; }

/* User plus system time: Linux splits the two by sampling, so a busy loop's user
 * time alone may fall short of what the itimer (which counts ticks) saw. */
static long cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ms(ru.ru_utime) + ms(ru.ru_stime);
}

static volatile unsigned long spin;

/* Spin until `*flag` reaches `until`, or about 2 s of CPU time (a timer that never
 * fires fails the comparison instead of hanging it). */
static void spin_until(volatile sig_atomic_t *flag, int until)
{
    long start = cpu_ms();
    for (unsigned long i = 1; *flag < until; i++) {
        spin++;
        if (!(i & 0xFFFFF) && cpu_ms() - start > 2000) {
            printf("gave up spinning\n");
            return;
        }
    }
}

static int set(int which, long value_ms, long interval_ms, struct itimerval *old)
{
    struct itimerval it = {
        .it_value = {value_ms / 1000, value_ms % 1000 * 1000},
        .it_interval = {interval_ms / 1000, interval_ms % 1000 * 1000},
    };
    return setitimer(which, &it, old);
}

int main(void)
{
    signal(SIGVTALRM, on_signal);
    signal(SIGPROF, on_signal);
    struct itimerval now, old;

    T(getitimer(ITIMER_VIRTUAL, &now));
    printf("virtual disarmed: %d\n", !now.it_value.tv_sec && !now.it_value.tv_usec);
    T(getitimer(3, &now));
    T(set(3, 10, 0, NULL));
    struct itimerval bad = {.it_value = {0, 1000000}};
    T(setitimer(ITIMER_VIRTUAL, &bad, NULL));
    T(setitimer(ITIMER_PROF, BAD_POINTER, NULL));

    /* Armed for 30 ms of user time: what is left, and the old value on change. */
    T(set(ITIMER_VIRTUAL, 30, 0, NULL));
    getitimer(ITIMER_VIRTUAL, &now);
    printf("left in (0, 50] ms: %d\n", ms(now.it_value) > 0 && ms(now.it_value) <= 50);
    T(set(ITIMER_VIRTUAL, 1000, 0, &old));
    printf("old left in (0, 50] ms: %d, old interval %ld\n",
           ms(old.it_value) > 0 && ms(old.it_value) <= 50, ms(old.it_interval));

    /* Sleeping uses no CPU time: no signal. */
    T(set(ITIMER_VIRTUAL, 20, 0, NULL));
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    printf("SIGVTALRM while sleeping: %d\n", vtalrm);

    /* Spinning does. */
    long start = cpu_ms();
    spin_until(&vtalrm, 1);
    printf("SIGVTALRM after spinning: %d, CPU time >= 10 ms: %d\n", vtalrm,
           cpu_ms() - start >= 10);
    getitimer(ITIMER_VIRTUAL, &now);
    printf("virtual disarmed after firing: %d\n", !now.it_value.tv_sec && !now.it_value.tv_usec);

    /* Periodic SIGPROF, every 5 ms of CPU time, five times. */
    T(set(ITIMER_PROF, 5, 5, NULL));
    spin_until(&prof, 5);
    T(set(ITIMER_PROF, 0, 0, &old));
    printf("SIGPROF five times; old interval %ld ms\n", ms(old.it_interval));
    getitimer(ITIMER_PROF, &now);
    printf("prof disarmed: %d\n", !now.it_value.tv_sec && !now.it_value.tv_usec);

    /* A child does not inherit them. */
    T(set(ITIMER_PROF, 5000, 0, NULL));
    pid_t child = fork();
    if (child == 0) {
        getitimer(ITIMER_PROF, &now);
        printf("child's prof disarmed: %d\n", !now.it_value.tv_sec && !now.it_value.tv_usec);
        fflush(stdout);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    getitimer(ITIMER_PROF, &now);
    printf("parent's prof still armed: %d\n", now.it_value.tv_sec >= 4);
    T(setitimer(ITIMER_PROF, NULL, NULL)); /* no value: disarm */
    getitimer(ITIMER_PROF, &now);
    printf("prof disarmed by NULL: %d\n", !now.it_value.tv_sec && !now.it_value.tv_usec);
    return 0;
}
