/* faults: page protection as a program sees it, and where each fault lands.
 *
 * A 64 MiB mapping has single pages made read-only, PROT_NONE and unmapped in
 * its middle; each access that must fault is caught by a SA_SIGINFO handler that
 * prints si_addr relative to the page, so a wrong fault address shows. Then the
 * kernel's copies through such pointers (EFAULT), an execute-only page, a JIT's
 * write-then-mprotect-then-run (twice, so a stale translation would show),
 * self-modifying code in an RWX page, a call into a non-executable page, and
 * 5,000 pages of alternating protection, each probed.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAPPING (64L << 20)
#define ALTERNATING 5000 /* pages of alternating protection, unless argv[1] says */

static sigjmp_buf env;
static char *volatile fault_addr;
static volatile long sink;
typedef int (*fn_t)(void);
static const unsigned char RET42[] = {0xb8, 42, 0, 0, 0, 0xc3}; /* mov eax, 42; ret */

static void on_segv(int sig, siginfo_t *info, void *ctx) {
    (void)sig;
    (void)ctx;
    fault_addr = info->si_addr;
    siglongjmp(env, 1);
}

#define TRY(label, base, stmt)                                                        \
    do {                                                                              \
        fault_addr = 0;                                                               \
        if (sigsetjmp(env, 1) == 0) {                                                 \
            stmt;                                                                     \
            printf("%s: no fault\n", label);                                          \
        } else {                                                                      \
            printf("%s: SIGSEGV at %+ld\n", label, (long)(fault_addr - (char *)(base))); \
        }                                                                             \
    } while (0)

static void copy_errno(const char *label, long n) {
    printf("%s: %ld %s\n", label, n, n < 0 ? (errno == EFAULT ? "EFAULT" : strerror(errno)) : "");
}

int main(int argc, char **argv) {
    int alternating = argc > 1 ? atoi(argv[1]) : ALTERNATING;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
    long page = sysconf(_SC_PAGESIZE);
    setvbuf(stdout, 0, _IONBF, 0);

    char *m = mmap(0, MAPPING, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *mid = m + MAPPING / 2;
    mid[0] = 1;
    mid[page] = 2;
    mprotect(mid, page, PROT_READ);
    TRY("read read-only", mid, sink = mid[0x123]);
    TRY("write read-only", mid, mid[0x456] = 3);
    TRY("write the next page", mid, mid[page + 8] = 4);
    mprotect(mid, page, PROT_NONE);
    TRY("read PROT_NONE", mid, sink = mid[0x789]);
    TRY("write PROT_NONE", mid, mid[0xabc] = 5);
    TRY("write the page before", mid, mid[-8] = 6);
    TRY("load across into PROT_NONE", mid, sink = *(volatile long *)(mid - 4));
    mprotect(mid, page, PROT_READ | PROT_WRITE);
    TRY("write after restore", mid, mid[0x10] = 7);
    printf("bytes kept: %d %d %d\n", mid[0], mid[0x10], mid[page]);
    munmap(mid + 2 * page, page);
    TRY("read a hole", mid + 2 * page, sink = mid[2 * page + 0x20]);

    int fds[2];
    pipe(fds);
    mprotect(mid, page, PROT_NONE);
    copy_errno("write from PROT_NONE", write(fds[1], mid, 4));
    copy_errno("write from a hole", write(fds[1], mid + 2 * page, 4));
    copy_errno("write from read-write", write(fds[1], mid + page, 4));
    copy_errno("read into PROT_NONE", read(fds[0], mid, 4));

    unsigned char *code = mmap(0, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(code, RET42, sizeof RET42);
    mprotect(code, page, PROT_EXEC);
    printf("execute-only: %d\n", ((fn_t)code)());
    mprotect(code, page, PROT_READ | PROT_WRITE);
    code[1] = 43;
    mprotect(code, page, PROT_READ | PROT_EXEC);
    printf("rewritten and run: %d\n", ((fn_t)code)());
    TRY("write read-exec code", code, code[1] = 44);
    TRY("call a read-write page", m, sink = ((fn_t)m)());

    unsigned char *rwx = mmap(0, page, PROT_READ | PROT_WRITE | PROT_EXEC,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(rwx, RET42, sizeof RET42);
    int before = ((fn_t)rwx)();
    rwx[1] = 45;
    printf("self-modified: %d then %d\n", before, ((fn_t)rwx)());

    char *alt = mmap(0, alternating * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < alternating; i++) alt[i * page] = (char)i;
    for (int i = 1; i < alternating; i += 2) mprotect(alt + i * page, page, PROT_READ);
    volatile int faults = 0, wrong = 0;
    for (int i = 0; i < alternating; i += 7) {
        fault_addr = 0;
        if (sigsetjmp(env, 1) == 0) alt[i * page + 5] = 1;
        else faults++, wrong += fault_addr != alt + i * page + 5;
    }
    long sum = 0;
    for (int i = 0; i < alternating; i++) sum += alt[i * page + 1] + (unsigned char)alt[i * page];
    printf("alternating: %d faults, %d at a wrong address, sum %ld\n", faults, wrong, sum);
    return 0;
}
