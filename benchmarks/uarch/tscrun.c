/* tscrun: time one run of a program with the time-stamp counter, and measure how
 * many core cycles one TSC tick is, for the mca cycle model's validation
 * (benchmarks/uarch_validate.py).
 *
 *   tscrun PROGRAM [ARGS...]
 *       prints "ticks=T core_per_tick=R cpu_ns=C ticks_per_ns=F imul_per_tick=M" on
 *       stderr
 *
 * T: TSC ticks from just before fork to just after the child is reaped (wall time:
 * on a shared machine it includes time the child waited for a core).
 * C: the child's user plus system CPU time in nanoseconds (wait4's rusage), which
 * does not; C x F x R is the core cycles the child ran for.
 * F: TSC ticks per nanosecond of CLOCK_MONOTONIC over the run.
 * R: core cycles per TSC tick, from a chain of dependent register-register adds (one
 * core cycle each on every x86-64 core since the Pentium Pro; not add-immediate, which
 * Golden Cove and later fold at rename, several a cycle) timed with the TSC just
 * before the run, best of REPEATS: the TSC ticks at a fixed rate while the core
 * clock follows turbo and power states, so cycles = ticks x R.
 * M: the same from a chain of dependent 64-bit multiplies (3 cycles each on every
 * Intel core since Nehalem and every Zen), which no core folds or eliminates: the
 * check that R counts cycles (M = R on a core where the method holds). */
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#define CHAIN_ROUNDS 125000L /* x 8 adds: 1 M cycles, well inside a scheduler time slice */
#define INSNS_PER_ROUND 8
#define REPEATS 200

#define IMUL_CYCLES 3

/* INSNS_PER_ROUND dependent instructions (an AT&T mnemonic) of one register on another. */
#define CHAIN(insn) insn " %1, %0\n\t" insn " %1, %0\n\t" insn " %1, %0\n\t" \
                    insn " %1, %0\n\t" insn " %1, %0\n\t" insn " %1, %0\n\t" \
                    insn " %1, %0\n\t" insn " %1, %0"

/* Core cycles per TSC tick from a chain of adds (1 cycle each) or multiplies. */
static double per_tick(int multiply)
{
    double best = 0;
    for (int r = 0; r < REPEATS; r++) {
        uint64_t x = 1, step = (uint64_t)r + 1;
        uint64_t start = __rdtsc();
        if (multiply)
            for (long i = 0; i < CHAIN_ROUNDS; i++)
                __asm__ volatile(CHAIN("imul") : "+r"(x) : "r"(step));
        else
            for (long i = 0; i < CHAIN_ROUNDS; i++)
                __asm__ volatile(CHAIN("add") : "+r"(x) : "r"(step));
        uint64_t ticks = __rdtsc() - start;
        double cycles = (double)(CHAIN_ROUNDS * INSNS_PER_ROUND) * (multiply ? IMUL_CYCLES : 1);
        double ratio = cycles / (double)ticks;
        if (ratio > best) /* preemption only lengthens a run: the largest is the truest */
            best = ratio;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: tscrun PROGRAM [ARGS...]\n");
        return 2;
    }
    double ratio = per_tick(0), imul_ratio = per_tick(1);
    struct timespec wall_start, wall_end;
    clock_gettime(CLOCK_MONOTONIC, &wall_start);
    uint64_t start = __rdtsc();
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    struct rusage usage;
    wait4(pid, &status, 0, &usage);
    uint64_t ticks = __rdtsc() - start;
    clock_gettime(CLOCK_MONOTONIC, &wall_end);
    double wall_ns = (double)(wall_end.tv_sec - wall_start.tv_sec) * 1e9 +
                     (double)(wall_end.tv_nsec - wall_start.tv_nsec);
    long long cpu_ns = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000000LL +
                       (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000LL;
    fprintf(stderr, "ticks=%llu core_per_tick=%.4f cpu_ns=%lld ticks_per_ns=%.4f "
            "imul_per_tick=%.4f\n", (unsigned long long)ticks, ratio, cpu_ns,
            (double)ticks / wall_ns, imul_ratio);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
