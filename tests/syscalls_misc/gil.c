/* CPython's GIL (Python/ceval_gil.h) between two threads, as test_signal's
 * StressTest drives it: the main thread needs the lock for a long stretch of work;
 * a second thread drops and retakes it around a system call, again and again, and
 * signals the condition variable each time it drops it. A waiter whose timed wait
 * (the switch interval, 5 ms) runs out asks the holder to drop the lock; the holder
 * then waits until the other has taken it (FORCE_SWITCHING).
 *
 * On Linux the woken main thread runs at once (another CPU, or wake-up preemption
 * on one), so it takes the lock in the worker's window; a scheduler that lets the
 * waker run on for its whole slice starves it. Prints the same natively and in a
 * coffer; the test bounds the coffer's instructions. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define SWITCH_INTERVAL_NS 5000000L /* sys.getswitchinterval() */
#define WORK_UNITS 400              /* the main thread's stretches of work */
#define UNIT_LOOPS 20000            /* a few hundred microseconds each */

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond, switch_cond;
static int locked, drop_request, stop;
static unsigned long switch_number;
static pthread_t holder;

static void take_gil(void) {
    pthread_mutex_lock(&mutex);
    while (locked) {
        unsigned long saved = switch_number;
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += SWITCH_INTERVAL_NS;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        int timed_out = pthread_cond_timedwait(&cond, &mutex, &deadline) == ETIMEDOUT;
        if (timed_out && locked && switch_number == saved)
            drop_request = 1;
    }
    locked = 1;
    holder = pthread_self();
    switch_number++;
    drop_request = 0;
    pthread_cond_signal(&switch_cond);
    pthread_mutex_unlock(&mutex);
}

static void drop_gil(int force_switch) {
    pthread_mutex_lock(&mutex);
    locked = 0;
    pthread_cond_signal(&cond);
    if (force_switch) {
        unsigned long saved = switch_number;
        while (switch_number == saved && !stop)
            pthread_cond_wait(&switch_cond, &mutex);
    }
    pthread_mutex_unlock(&mutex);
}

static void *worker(void *arg) {
    (void)arg;
    take_gil();
    for (;;) {
        pthread_mutex_lock(&mutex);
        int done = stop;
        pthread_mutex_unlock(&mutex);
        if (done)
            break;
        drop_gil(0); /* Py_BEGIN_ALLOW_THREADS around raise() */
        getppid();
        take_gil();
    }
    drop_gil(0);
    return NULL;
}

int main(void) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &attr);
    pthread_cond_init(&switch_cond, NULL);
    take_gil();
    pthread_t thread;
    pthread_create(&thread, NULL, worker, NULL);
    volatile unsigned long sink = 0;
    for (int unit = 0; unit < WORK_UNITS; unit++) {
        for (int i = 0; i < UNIT_LOOPS; i++)
            sink += i;
        if (drop_request) { /* the eval breaker */
            drop_gil(1);
            take_gil();
        }
    }
    pthread_mutex_lock(&mutex);
    stop = 1;
    pthread_cond_broadcast(&switch_cond);
    pthread_mutex_unlock(&mutex);
    drop_gil(0);
    pthread_join(thread, NULL);
    printf("main did %d units of work\n", WORK_UNITS);
    return 0;
}
