/* The whole FPU state across a signal and a fork, as Linux keeps it: an x87 value and
 * an XMM register kept live across the system call that delivers the signal (or
 * forks) come back intact; the handler starts with a clean FPU (round to nearest,
 * empty x87 stack) whatever the interrupted code had set; what the handler changes
 * is undone by rt_sigreturn, but an edit of uc_mcontext.fpregs is what the
 * interrupted code gets back. Printed the same natively and in a coffer, under
 * glibc and musl (tests/test_cpu_state.py). */
#define _GNU_SOURCE
#include <fenv.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static unsigned short fcw(void) { unsigned short cw; __asm__ volatile("fnstcw %0" : "=m"(cw)); return cw; }
static unsigned mxcsr(void) { unsigned mx; __asm__ volatile("stmxcsr %0" : "=m"(mx)); return mx & ~0x3fu; }
static unsigned short fsw_top(void) { unsigned short sw; __asm__ volatile("fnstsw %0" : "=m"(sw)); return (sw >> 11) & 7; }

static volatile int edit_fpregs;

static void handler(int sig, siginfo_t *info, void *context) {
    (void)sig; (void)info;
    ucontext_t *uc = context;
    /* The handler's own FPU: the init state, not the interrupted code's. */
    printf("handler: fcw=%#x mxcsr=%#x round=%d top=%d\n", fcw(), mxcsr(), fegetround(), fsw_top());
    /* What the kernel saved: the interrupted code's rounding mode and its x87 top value. */
    fpregset_t fp = uc->uc_mcontext.fpregs;
    printf("saved: cwd=%#x mxcsr=%#x st0.exp=%#x st0.sig3=%#x xmm7[0]=%#x\n", fp->cwd,
           fp->mxcsr & ~0x3fu, fp->_st[0].exponent, fp->_st[0].significand[3],
           fp->_xmm[7].element[0]);
    fesetround(FE_TOWARDZERO);  /* undone by rt_sigreturn */
    volatile long double clobber = 7.0L;
    clobber = clobber * 3.0L;
    __asm__ volatile("pxor %%xmm7, %%xmm7" ::: "xmm7");
    if (edit_fpregs) {  /* the interrupted code gets these back instead */
        fp->_st[0].exponent = 0x4000;  /* 3.0 / 2 * 2 = 3.0L: significand 0xc000... */
        fp->_st[0].significand[3] = 0xc000;
        fp->_st[0].significand[2] = fp->_st[0].significand[1] = fp->_st[0].significand[0] = 0;
        fp->_xmm[7].element[0] = 0x12345678;
    }
}

/* Keep 1/3 (long double) in ST(0) and a pattern in XMM7 across a raw system call. */
static long across(long nr, long a0, long a1, long double *st0, unsigned *xmm7) {
    long double third = 1.0L / 3.0L;
    unsigned pattern[4] = {0xcafef00d, 1, 2, 3}, back[4];
    long ret;
    __asm__ volatile(
        "fldt %[in]\n\t"
        "movdqu %[pat], %%xmm7\n\t"
        "syscall\n\t"
        "fstpt %[out]\n\t"
        "movdqu %%xmm7, %[back]\n\t"
        : "=a"(ret), [out] "=m"(*st0), [back] "=m"(back)
        : "a"(nr), "D"(a0), "S"(a1), [in] "m"(third), [pat] "m"(pattern)
        : "rcx", "r11", "xmm7", "memory");
    *xmm7 = back[0];
    return ret;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    long double st0;
    unsigned xmm7;

    fesetround(FE_UPWARD);
    across(SYS_kill, getpid(), SIGUSR1, &st0, &xmm7);
    int round = fegetround();
    fesetround(FE_TONEAREST);
    printf("after signal: st0=%.21Lg xmm7=%#x round=%d fcw=%#x top=%d\n", st0, xmm7, round,
           fcw(), fsw_top());

    edit_fpregs = 1;
    across(SYS_kill, getpid(), SIGUSR1, &st0, &xmm7);
    printf("after edited frame: st0=%.21Lg xmm7=%#x\n", st0, xmm7);

    fflush(stdout);
    fesetround(FE_DOWNWARD);
    long pid = across(SYS_fork, 0, 0, &st0, &xmm7);
    round = fegetround();
    fesetround(FE_TONEAREST);
    if (pid == 0) {
        printf("child: st0=%.21Lg xmm7=%#x round=%d\n", st0, xmm7, round);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("parent: st0=%.21Lg xmm7=%#x round=%d status=%d\n", st0, xmm7, round, status);
    return 0;
}
