/* forksize.c: this host's fork + _exit + waitpid latency, best of ROUNDS, for a process
 * with VMAS extra one-page mappings and PAGES extra written anonymous pages; prints
 * "VMAS PAGES MICROSECONDS MAPPINGS ANON_PAGES", the last two its own shape then (from
 * /proc/self). A third argument, "unmapped", unmaps the PAGES before the forks (what
 * tests/test_fork_cost.py checks a fork no longer copies). measure.sh runs the grid and fits the cost of a mapping and of a page;
 * sim/costmodel.py's fork_mapping_work and fork_page_work quote it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096L
#define ROUNDS 400

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long vmas = argc > 1 ? atol(argv[1]) : 0, pages = argc > 2 ? atol(argv[2]) : 0;
    /* VMAS one-page mappings that cannot merge (alternating protections), each touched
     * if readable and writable; then PAGES touched pages in one more mapping */
    for (long k = 0; k < vmas; k++) {
        int prot = k % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
        char *p = mmap(NULL, PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return perror("mmap"), 1;
        if (prot & PROT_WRITE)
            p[0] = 1;
    }
    if (pages) {
        char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return perror("mmap"), 1;
        for (long k = 0; k < pages; k++)
            p[k * PAGE] = 1;
        if (argc > 3 && strcmp(argv[3], "unmapped") == 0 && munmap(p, pages * PAGE) != 0)
            return perror("munmap"), 1;
    }
    long mappings = 0, anon_kb = 0;
    char line[256];
    FILE *maps = fopen("/proc/self/maps", "r"), *roll = fopen("/proc/self/smaps_rollup", "r");
    while (maps && fgets(line, sizeof line, maps))
        mappings++;
    while (roll && fgets(line, sizeof line, roll))
        sscanf(line, "Anonymous: %ld kB", &anon_kb);
    if (maps)
        fclose(maps);
    if (roll)
        fclose(roll);
    double best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now();
        pid_t c = fork();
        if (c == 0)
            _exit(0);
        waitpid(c, NULL, 0);
        double t = now() - t0;
        if (t < best)
            best = t;
    }
    printf("%ld %ld %.2f %ld %ld\n", vmas, pages, best * 1e6, mappings, anon_kb / 4);
    return 0;
}
