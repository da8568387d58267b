/* lmbench: operating-system micro-benchmarks that time themselves.
 *
 * Each operation is repeated in a loop timed with clock_gettime(CLOCK_MONOTONIC),
 * as lmbench and LEBench do on real hardware, so the same binary reports real
 * nanoseconds when run natively and simulated nanoseconds in a coffer. The
 * simulator's cost model is calibrated by comparing the two with the published
 * figures (see cofferos.workloads.calibration).
 *
 *   lmbench [OP [ITERATIONS]]     OP defaults to "all"; ITERATIONS to the op's own
 *
 *   null       syscall(SYS_getppid): the cheapest system call, never cached by libc
 *   read       read 1 byte from /dev/zero (lmbench lat_syscall read)
 *   mmap       mmap of one 4 KiB anonymous page, nothing touched (munmap not timed)
 *   pagefault  first write to each page of a fresh anonymous mapping (per page)
 *   pipe       100-byte message to a forked child and back through two pipes
 *              (ipc-bench's message size): one round trip
 *   ctx        a 1-byte token passed between two processes through two pipes,
 *              both pinned to one CPU (lmbench lat_ctx -s 0 2): round trip / 2
 *   fork       fork, child _exit(0), parent waitpid
 *   poll       poll of 3 writable pipe ends, POLLOUT, timeout 0
 *   all        every op above, in that order
 *
 * Each op first runs an untimed warm-up of a tenth of its iterations, then prints
 * one line "<op> <iterations> <nanoseconds per operation>", the last figure
 * rounded to an integer. Only that figure depends on anything but the arguments.
 * Exit status 2 for bad arguments, 1 if an operation fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ITERATIONS 1000000L
#define WARMUP_DIVISOR 10 /* warm-up runs iterations / 10 untimed */
#define PAGE_BYTES 4096L
#define PIPE_MESSAGE_BYTES 100
#define POLL_FDS 3
#define NS_PER_S 1000000000LL

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        die("clock_gettime");
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void report(const char *op, long iterations, int64_t elapsed_ns)
{
    int64_t per_op = (elapsed_ns + iterations / 2) / iterations;
    printf("%s %ld %lld\n", op, iterations, (long long)per_op);
    fflush(stdout); /* before the next op forks */
}

static long warmup(long iterations) { return iterations / WARMUP_DIVISOR; }

/* Read or write exactly `bytes`, or die: pipes may split a transfer. */
static void transfer(int fd, char *buf, size_t bytes, int writing)
{
    size_t done = 0;
    while (done < bytes) {
        ssize_t n = writing ? write(fd, buf + done, bytes - done)
                            : read(fd, buf + done, bytes - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die(writing ? "write" : "read");
        done += (size_t)n;
    }
}

static void reap(pid_t pid)
{
    int wstatus;
    if (waitpid(pid, &wstatus, 0) != pid || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
        fprintf(stderr, "lmbench: child %d did not exit cleanly\n", (int)pid);
        exit(1);
    }
}

/* --- one function per op: run `warm` untimed iterations, return the time of `n` more --- */

static int64_t bench_null(long warm, long n)
{
    for (long i = 0; i < warm; i++)
        syscall(SYS_getppid);
    int64_t start = now_ns();
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    return now_ns() - start;
}

static int64_t bench_read(long warm, long n)
{
    int fd = open("/dev/zero", O_RDONLY);
    if (fd < 0)
        die("open /dev/zero");
    char byte;
    for (long i = 0; i < warm; i++)
        if (read(fd, &byte, 1) != 1)
            die("read /dev/zero");
    int64_t start = now_ns();
    for (long i = 0; i < n; i++)
        if (read(fd, &byte, 1) != 1)
            die("read /dev/zero");
    int64_t elapsed = now_ns() - start;
    close(fd);
    return elapsed;
}

static void map_unmap_page(void)
{
    void *page = mmap(NULL, PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        die("mmap");
    if (munmap(page, PAGE_BYTES) != 0)
        die("munmap");
}

#define MMAP_BATCH 64

/* LEBench's "small mmap" times mmap alone: map a batch of pages (timed), then
 * unmap the batch (not timed), so munmap does not count and the number of live
 * mappings stays small. */
static int64_t bench_mmap(long warm, long n)
{
    for (long i = 0; i < warm; i++)
        map_unmap_page();
    void *pages[MMAP_BATCH];
    int64_t total = 0;
    for (long done = 0; done < n; done += MMAP_BATCH) {
        long batch = n - done < MMAP_BATCH ? n - done : MMAP_BATCH;
        int64_t start = now_ns();
        for (long i = 0; i < batch; i++) {
            pages[i] = mmap(NULL, PAGE_BYTES, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (pages[i] == MAP_FAILED)
                die("mmap");
        }
        total += now_ns() - start;
        for (long i = 0; i < batch; i++)
            if (munmap(pages[i], PAGE_BYTES) != 0)
                die("munmap");
    }
    return total;
}

static int64_t bench_pagefault(long warm, long n)
{
    size_t bytes = (size_t)(warm + n) * PAGE_BYTES;
    volatile char *region = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        die("mmap");
    /* One fault per 4 KiB page even where transparent huge pages are "always";
     * a kernel without THP may refuse the advice, which changes nothing. */
    madvise((void *)region, bytes, MADV_NOHUGEPAGE);
    for (long i = 0; i < warm; i++)
        region[i * PAGE_BYTES] = 1;
    volatile char *fresh = region + warm * PAGE_BYTES;
    int64_t start = now_ns();
    for (long i = 0; i < n; i++)
        fresh[i * PAGE_BYTES] = 1;
    int64_t elapsed = now_ns() - start;
    if (munmap((void *)region, bytes) != 0)
        die("munmap");
    return elapsed;
}

/* A child that echoes `rounds` messages of `bytes` from `in` back to `out`, then exits. */
static pid_t echoer(int to_child[2], int to_parent[2], size_t bytes, long rounds)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        char buf[PIPE_MESSAGE_BYTES];
        close(to_child[1]);
        close(to_parent[0]);
        for (long i = 0; i < rounds; i++) {
            transfer(to_child[0], buf, bytes, 0);
            transfer(to_parent[1], buf, bytes, 1);
        }
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    return pid;
}

/* Round trips of `bytes`-byte messages through a forked echoer; time of the last `n`. */
static int64_t round_trips(size_t bytes, long warm, long n)
{
    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0)
        die("pipe");
    pid_t child = echoer(to_child, to_parent, bytes, warm + n);
    char buf[PIPE_MESSAGE_BYTES];
    memset(buf, 'x', sizeof buf);
    for (long i = 0; i < warm; i++) {
        transfer(to_child[1], buf, bytes, 1);
        transfer(to_parent[0], buf, bytes, 0);
    }
    int64_t start = now_ns();
    for (long i = 0; i < n; i++) {
        transfer(to_child[1], buf, bytes, 1);
        transfer(to_parent[0], buf, bytes, 0);
    }
    int64_t elapsed = now_ns() - start;
    close(to_child[1]);
    close(to_parent[0]);
    reap(child);
    return elapsed;
}

static int64_t bench_pipe(long warm, long n)
{
    return round_trips(PIPE_MESSAGE_BYTES, warm, n);
}

/* Two processes on one CPU: every token hand-off is a context switch. Where the
 * affinity calls are refused the processes run unpinned, as lmbench's default. */
static int64_t bench_ctx(long warm, long n)
{
    cpu_set_t saved, one;
    int pinned = sched_getaffinity(0, sizeof saved, &saved) == 0;
    if (pinned) {
        int cpu = 0;
        while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved))
            cpu++;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        pinned = cpu < CPU_SETSIZE && sched_setaffinity(0, sizeof one, &one) == 0;
    }
    int64_t elapsed = round_trips(1, warm, n); /* the child inherits the pinning */
    if (pinned)
        sched_setaffinity(0, sizeof saved, &saved);
    return elapsed / 2; /* two switches per round trip */
}

static int64_t bench_fork(long warm, long n)
{
    int64_t start = 0;
    for (long i = 0; i < warm + n; i++) {
        if (i == warm)
            start = now_ns();
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0)
            _exit(0);
        reap(pid);
    }
    return now_ns() - start;
}

static void poll_ready(struct pollfd *fds)
{
    if (poll(fds, POLL_FDS, 0) != POLL_FDS)
        die("poll did not find every pipe writable");
}

static int64_t bench_poll(long warm, long n)
{
    int ends[POLL_FDS][2];
    struct pollfd fds[POLL_FDS];
    for (int i = 0; i < POLL_FDS; i++) {
        if (pipe(ends[i]) != 0)
            die("pipe");
        fds[i] = (struct pollfd){.fd = ends[i][1], .events = POLLOUT};
    }
    for (long i = 0; i < warm; i++)
        poll_ready(fds);
    int64_t start = now_ns();
    for (long i = 0; i < n; i++)
        poll_ready(fds);
    int64_t elapsed = now_ns() - start;
    for (int i = 0; i < POLL_FDS; i++) {
        close(ends[i][0]);
        close(ends[i][1]);
    }
    return elapsed;
}

struct op {
    const char *name;
    int64_t (*run)(long warm, long n);
    long default_iterations; /* well under a second natively */
};

static const struct op OPS[] = {
    {"null", bench_null, 20000},   {"read", bench_read, 20000},
    {"mmap", bench_mmap, 10000},   {"pagefault", bench_pagefault, 10000},
    {"pipe", bench_pipe, 5000},    {"ctx", bench_ctx, 5000},
    {"fork", bench_fork, 500},     {"poll", bench_poll, 20000},
};
#define OP_COUNT (sizeof OPS / sizeof OPS[0])

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [all", argv0);
    for (size_t i = 0; i < OP_COUNT; i++)
        fprintf(stderr, "|%s", OPS[i].name);
    fprintf(stderr, "] [iterations 1..%ld]\n", MAX_ITERATIONS);
    exit(2);
}

static void run_op(const struct op *op, long iterations)
{
    long n = iterations > 0 ? iterations : op->default_iterations;
    report(op->name, n, op->run(warmup(n), n));
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    long iterations = 0; /* 0: each op's default */
    if (argc > 3)
        usage(argv[0]);
    if (argc > 2) {
        char *end;
        errno = 0;
        iterations = strtol(argv[2], &end, 10);
        if (errno != 0 || *end != '\0' || end == argv[2] || iterations < 1 ||
            iterations > MAX_ITERATIONS)
            usage(argv[0]);
    }
    int all = strcmp(which, "all") == 0;
    int ran = 0;
    for (size_t i = 0; i < OP_COUNT; i++)
        if (all || strcmp(which, OPS[i].name) == 0) {
            run_op(&OPS[i], iterations);
            ran = 1;
        }
    if (!ran)
        usage(argv[0]);
    return 0;
}
