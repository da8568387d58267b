/* futex_waitv: the argument checks in Linux's order, EAGAIN for a word that
 * already changed, ETIMEDOUT at an absolute deadline on either clock, and a
 * wake-up on one of several words (up to 128) returning that word's index. */
#include "check.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define NR_FUTEX_WAITV 449
#define MAX_WAITERS 128

struct waitv { uint64_t val, uaddr; uint32_t flags, reserved; };
#define U32_PRIVATE (0x02 | 128)

static uint32_t words[MAX_WAITERS];
static struct waitv vec[MAX_WAITERS];

static long waitv(struct waitv *w, unsigned n, unsigned flags, struct timespec *ts, int clk)
{
    return syscall(NR_FUTEX_WAITV, w, n, flags, ts, clk);
}

static void fill(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        vec[i] = (struct waitv){.val = words[i], .uaddr = (uintptr_t)&words[i],
                                .flags = U32_PRIVATE};
}

static struct timespec in_ms(int clk, long ms)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

static int target;

/* Wake word `target` until a waiter is found there (giving up after about 5 s, so
 * that a waiter that never sleeps fails the comparison instead of hanging it). */
static void *waker(void *unused)
{
    for (int tries = 0; tries < 5000; tries++) {
        if (syscall(SYS_futex, &words[target], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) >= 1)
            break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return NULL;
}

static void woken_at(int index, unsigned n)
{
    fill(n);
    target = index;
    pthread_t thread;
    pthread_create(&thread, NULL, waker, NULL);
    printf("waitv over %u words, woken at %d: returns %ld\n", n, index,
           waitv(vec, n, 0, NULL, 0));
    pthread_join(thread, NULL);
    fflush(stdout);
}

int main(void)
{
    for (int i = 0; i < MAX_WAITERS; i++)
        words[i] = i * 3;
    struct timespec past = {0, 0}, bad = {0, 2000000000L};

    fill(3);
    T(waitv(vec, 3, 1, NULL, 0));
    T(waitv(vec, 0, 0, NULL, 0));
    T(waitv(vec, MAX_WAITERS + 1, 0, NULL, 0));
    T(waitv(NULL, 3, 0, NULL, 0));
    T(waitv(vec, 3, 0, &past, 5));
    T(waitv(vec, 3, 0, BAD_POINTER, CLOCK_MONOTONIC));
    T(waitv(vec, 3, 0, &bad, CLOCK_MONOTONIC));
    T(waitv(BAD_POINTER, 3, 0, NULL, 0));
    vec[1].flags = 128; /* FUTEX2_SIZE_U8: not implemented */
    T(waitv(vec, 3, 0, NULL, 0));
    vec[1].flags = U32_PRIVATE | 0x1000;
    T(waitv(vec, 3, 0, NULL, 0));
    fill(3);
    vec[2].reserved = 1;
    T(waitv(vec, 3, 0, NULL, 0));
    fill(3);
    vec[0].val = 1ULL << 32;
    T(waitv(vec, 3, 0, NULL, 0));
    fill(3);
    vec[2].uaddr += 2;
    T(waitv(vec, 3, 0, NULL, 0));
    fill(3);
    vec[2].uaddr = 8;
    T(waitv(vec, 3, 0, NULL, 0));
    vec[2].uaddr = 1ULL << 48;
    T(waitv(vec, 3, 0, NULL, 0));
    fill(3);
    vec[1].val = 7; /* the word holds 3 */
    T(waitv(vec, 3, 0, NULL, 0));
    vec[2].uaddr = 8; /* the value check comes after every address's */
    T(waitv(vec, 3, 0, NULL, 0));

    fill(3);
    T(waitv(vec, 3, 0, &past, CLOCK_MONOTONIC));
    T(waitv(vec, 3, 0, &past, CLOCK_REALTIME));
    struct timespec soon = in_ms(CLOCK_MONOTONIC, 20);
    T(waitv(vec, 3, 0, &soon, CLOCK_MONOTONIC));
    soon = in_ms(CLOCK_REALTIME, 20);
    T(waitv(vec, 3, 0, &soon, CLOCK_REALTIME));

    woken_at(0, 1);
    woken_at(1, 3);
    woken_at(2, 3);
    woken_at(127, MAX_WAITERS);
    return 0;
}
