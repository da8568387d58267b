/* faultkind.c: what a page fault costs on this host, by kind, per page touched (best of
 * ROUNDS), with the minor faults each page took (getrusage):
 *
 *   zero      first write to a fresh anonymous page (do_anonymous_page: a zeroed page;
 *             LEBench's "page fault", which sim/costmodel.py's page_fault prices)
 *   cow       a forked child's first write to a page its parent had written
 *             (do_wp_page: a new page and a 4 KiB copy)
 *   cow-read  the same child's first read of such a page (fork copied its entry: none)
 *   reuse     the parent's write to its pages once the child has exited
 *             (do_wp_page finds the page its own: wp_page_reuse, no copy)
 *   file      first read of a page of a private file mapping whose pages are cached
 *             (do_read_fault; fault-around maps up to 16 pages a fault)
 *
 * Prints "KIND MICROSECONDS_A_PAGE FAULTS_A_PAGE". measure.sh runs it; docs/timing.md
 * quotes it beside the one price the model charges every first touch. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096L
#define PAGES 4096L /* 16 MiB a round */
#define ROUNDS 20

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static long minflt(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static char *anon(void)
{
    char *p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        perror("mmap"), exit(1);
    return p;
}

/* one pass over the pages, writing (or reading) a byte of each: seconds and faults */
static void pass(volatile char *p, int writing, double *seconds, long *faults)
{
    long f0 = minflt();
    double t0 = now();
    long sum = 0;
    for (long k = 0; k < PAGES; k++) {
        if (writing)
            p[k * PAGE] = 1;
        else
            sum += p[k * PAGE];
    }
    *seconds = now() - t0;
    *faults = minflt() - f0 + (sum < 0);
}

static void report(const char *kind, double best, long faults)
{
    printf("%s %.3f %.3f\n", kind, best / PAGES * 1e6, (double)faults / PAGES);
}

/* the child's pass over its parent's written pages, sent back through a pipe */
static void child_pass(char *p, int writing, double *seconds, long *faults)
{
    int fds[2];
    if (pipe(fds) != 0)
        perror("pipe"), exit(1);
    pid_t pid = fork();
    if (pid == 0) {
        double s;
        long f;
        pass(p, writing, &s, &f);
        if (write(fds[1], &s, sizeof s) != sizeof s || write(fds[1], &f, sizeof f) != sizeof f)
            _exit(1);
        _exit(0);
    }
    if (read(fds[0], seconds, sizeof *seconds) != sizeof *seconds ||
        read(fds[0], faults, sizeof *faults) != sizeof *faults)
        perror("read"), exit(1);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    close(fds[1]);
}

int main(int argc, char **argv)
{
    const char *file = argc > 1 ? argv[1] : "faultkind.data";
    double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9}, s;
    long faults[5] = {0}, f;
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, PAGES * PAGE) != 0)
        perror(file), exit(1);
    char *fill = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fill == MAP_FAILED)
        perror("mmap"), exit(1);
    memset(fill, 7, PAGES * PAGE); /* the file's pages in the page cache */
    munmap(fill, PAGES * PAGE);
    for (int r = 0; r < ROUNDS; r++) {
        char *p = anon();
        pass(p, 1, &s, &f);
        if (s < best[0]) best[0] = s, faults[0] = f;
        child_pass(p, 1, &s, &f);
        if (s < best[1]) best[1] = s, faults[1] = f;
        child_pass(p, 0, &s, &f);
        if (s < best[2]) best[2] = s, faults[2] = f;
        pass(p, 1, &s, &f);
        if (s < best[3]) best[3] = s, faults[3] = f;
        munmap(p, PAGES * PAGE);
        char *q = mmap(NULL, PAGES * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
        if (q == MAP_FAILED)
            perror("mmap"), exit(1);
        pass(q, 0, &s, &f);
        if (s < best[4]) best[4] = s, faults[4] = f;
        munmap(q, PAGES * PAGE);
    }
    report("zero", best[0], faults[0]);
    report("cow", best[1], faults[1]);
    report("cow-read", best[2], faults[2]);
    report("reuse", best[3], faults[3]);
    report("file", best[4], faults[4]);
    close(fd);
    unlink(file);
    return 0;
}
