/* compute: a CPU-bound integer loop with no system calls in its body.
 *
 * Runs a xorshift64 generator for N iterations (argv[1], default 5000000) and
 * folds every value into a checksum with a multiply and a shift, so each
 * iteration depends on the previous one and the compiler can neither vectorise
 * nor shorten the loop. Prints the checksum, which is the same on every
 * machine and libc.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_ITERATIONS 5000000L
#define SEED UINT64_C(0x9E3779B97F4A7C15)

static long parse_count(int argc, char **argv, long fallback)
{
    if (argc < 2)
        return fallback;
    char *end;
    errno = 0;
    long value = strtol(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || end == argv[1] || value < 0) {
        fprintf(stderr, "usage: %s [iterations]\n", argv[0]);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv)
{
    long iterations = parse_count(argc, argv, DEFAULT_ITERATIONS);
    uint64_t x = SEED;
    uint64_t checksum = 0;

    for (long i = 0; i < iterations; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        checksum += x * ((uint64_t)i | 1);
        checksum ^= checksum >> 29;
    }
    printf("compute: %ld iterations, checksum %016" PRIx64 "\n", iterations, checksum);
    return 0;
}
