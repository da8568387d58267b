/* The FPU state is per thread: a new thread starts with its creator's (clone copies
 * it), and two threads that each set their own rounding mode and x87 precision keep
 * them while they take turns. Printed the same natively and in a coffer
 * (tests/test_cpu_state.py). */
#include <fenv.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

static unsigned short fcw(void) { unsigned short cw; __asm__ volatile("fnstcw %0" : "=m"(cw)); return cw; }
static void set_fcw(unsigned short cw) { __asm__ volatile("fldcw %0" : : "m"(cw)); }

static int inherited_round;
static unsigned short inherited_fcw;
static int kept[2];

static void *first(void *unused) {
    (void)unused;
    inherited_round = fegetround();
    inherited_fcw = fcw();
    return NULL;
}

static void *turns(void *arg) {
    int me = (int)(long)arg;
    int mode = me ? FE_UPWARD : FE_TOWARDZERO;
    unsigned short cw = me ? 0x27f : 0x07f;  /* double, single precision */
    fesetround(mode);
    cw = (fcw() & ~0x300) | (cw & 0x300);
    set_fcw(cw);
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        sched_yield();
        ok &= fegetround() == mode && fcw() == cw;
    }
    kept[me] = ok;
    return NULL;
}

int main(void) {
    pthread_t t, u[2];
    fesetround(FE_DOWNWARD);
    pthread_create(&t, NULL, first, NULL);
    pthread_join(t, NULL);
    fesetround(FE_TONEAREST);
    printf("new thread: round=%d fcw=%#x (creator: round=%d)\n", inherited_round, inherited_fcw,
           FE_DOWNWARD);
    for (long i = 0; i < 2; i++)
        pthread_create(&u[i], NULL, turns, (void *)i);
    for (int i = 0; i < 2; i++)
        pthread_join(u[i], NULL);
    printf("kept their own state: %d %d; main: round=%d fcw=%#x\n", kept[0], kept[1],
           fegetround(), fcw());
    return 0;
}
