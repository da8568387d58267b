/* What the mapping guests (past_eof.c, private_map.c) share: probe one byte of a
 * mapping, reading it or storing PROBE_BYTE (define it before including this; 'x'
 * by default), and say how it went: "ok", or the signal, its si_code and the
 * faulting address's distance from the byte. Install on_fault for SIGBUS and
 * SIGSEGV with SA_SIGINFO first. */
#ifndef FAULT_PROBE_H
#define FAULT_PROBE_H

#include <setjmp.h>
#include <signal.h>
#include <stdio.h>

#ifndef PROBE_BYTE
#define PROBE_BYTE 'x'
#endif

static sigjmp_buf env;
static volatile int got_sig, got_code;
static volatile void *got_addr;

static void on_fault(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    got_sig = sig;
    got_code = info->si_code;
    got_addr = info->si_addr;
    siglongjmp(env, 1);
}

static const char *probe(volatile char *p, int write) {
    got_sig = 0;
    if (sigsetjmp(env, 1) == 0) {
        if (write)
            *p = PROBE_BYTE;
        else
            (void)*p;
        return "ok";
    }
    static char text[64];
    snprintf(text, sizeof text, "%s code=%d at+%ld", got_sig == SIGBUS ? "SIGBUS"
             : got_sig == SIGSEGV ? "SIGSEGV" : "?", got_code, (long)((char *)got_addr - (char *)p));
    return text;
}

#endif
