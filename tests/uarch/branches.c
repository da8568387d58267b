/* branches: N conditional branches on a pseudo-random bit (mode "random": the next
 * direction is a coin toss no predictor can learn) or on a constant bit (mode "regular":
 * always the same way), for tests/test_branch_predictor.py. The empty asm statements
 * keep the two arms apart, so the compiler cannot turn the branch into a CMOV.
 *
 *   branches random|regular N     prints the two sums */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int random = strcmp(argv[1], "random") == 0;
    long n = strtol(argv[2], NULL, 10);
    uint64_t x = 0x9E3779B97F4A7C15u, taken = 0, fallen = 0;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (random ? (x >> 40) & 1 : 1) {
            __asm__ volatile("" ::: "memory");
            taken += x & 0xff;
        } else {
            __asm__ volatile("" ::: "memory");
            fallen += x & 0xff;
        }
    }
    printf("%llu %llu\n", (unsigned long long)taken, (unsigned long long)fallen);
    return 0;
}
