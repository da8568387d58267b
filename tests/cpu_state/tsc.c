/* The time-stamp counter a program reads: rdtsc and rdtscp around a loop, beside the
 * monotonic clock. In a coffer both are simulated time, so a run prints the same
 * numbers every time and the TSC advances at the modelled frequency. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t rdtscp(unsigned *aux) {
    uint32_t lo, hi, c;
    __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(c));
    *aux = c;
    return ((uint64_t)hi << 32) | lo;
}

int main(void) {
    struct timespec a, b;
    unsigned aux;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t t0 = rdtsc();
    for (volatile long i = 0; i < 1000000; i++) {
    }
    uint64_t t1 = rdtscp(&aux);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    printf("tsc %llu ns %lld aux %u\n", (unsigned long long)(t1 - t0), ns, aux);
    return 0;
}
