/* passes: compute between the things that stop an engine run that passes slice ends
 * (tests/test_machine_shortcuts.py): RDTSC, system calls, first touches of pages, and
 * a second task (a forked child computing while its parent waits). Prints what it read
 * from its clocks, so a clock that moved differently changes the output. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#define ROUNDS 4
#define SPIN 150000L      /* a few slices of 100,000 instructions each */
#define PAGES 64
#define PAGE 4096
#define TOUCH_SPIN 100L /* between two first touches: many in one slice */

static uint64_t spin(uint64_t x, long n)
{
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

int main(void)
{
    uint64_t x = 88172645463325252ULL;
    char *pages = malloc(PAGES * PAGE);
    for (int round = 0; round < ROUNDS; round++) {
        x = spin(x, SPIN);
        uint64_t tsc = __rdtsc();
        x = spin(x, SPIN);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = spin(x, SPIN);
        for (int p = round * PAGES / ROUNDS; p < (round + 1) * PAGES / ROUNDS; p++) {
            pages[p * PAGE] = (char)x;  /* first touches, close together */
            x = spin(x, TOUCH_SPIN);
        }
        printf("%d %llu %ld.%09ld %d\n", round, (unsigned long long)tsc, (long)ts.tv_sec,
               ts.tv_nsec, getppid() > 0);
    }
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        x = spin(x, 3 * SPIN);
        printf("child %llu %llu\n", (unsigned long long)__rdtsc(), (unsigned long long)x);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("parent %llu %ld.%09ld %llu\n", (unsigned long long)__rdtsc(), (long)end.tv_sec,
           end.tv_nsec, (unsigned long long)x);
    return 0;
}
