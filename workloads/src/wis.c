/* wis: will-it-scale-style loops, one binary: each worker a process (threads for mmap1).
 *
 * usage: wis TEST [WORKERS [ITERATIONS [ROOT]]]     defaults 1 worker, 200, /tmp/wis
 *
 * Written from the descriptions of the tests in will-it-scale (Anton Blanchard,
 * github.com/antonblanchard/will-it-scale, tests/): each worker loops on one
 * operation and counts it.
 *
 *   getppid1          getppid
 *   open1             open and close a file of its own (ROOT/open1.<worker>)
 *   open3             open and close the same file (ROOT/open3)
 *   unlink2           create, close and unlink a file in a directory of its own
 *                     (ROOT/unlink2.<worker>/willitscale; will-it-scale's unlink2.c,
 *                     "Separate file open/close in different directories", makes the
 *                     directory with mkdtemp before its loop)
 *   mmap1             map and unmap 128 MiB of anonymous memory (threads: one mm)
 *   page_fault2       write one byte to each page of a private mapping of a file of
 *                     its own (ROOT/page_fault2.<worker>, created, sized and unlinked
 *                     first), the operation being one page fault; the mapping is
 *                     unmapped and mapped again every PF2_PAGES pages (will-it-scale's
 *                     is 128 MiB; PF2_PAGES keeps a simulated run short)
 *   context_switch1   one round trip of a byte over two pipes with a partner process
 *                     of its own (process mode: each worker forks its partner)
 *
 * As @fxmark: the parent prepares ROOT, forks (or starts) the workers, releases them
 * together (processes through a pipe, threads at a barrier) and waits; each worker marks every operation on
 * /dev/coffer/ops with its label "w<worker>" if that device exists. The summary
 * line depends only on the arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKLOAD_NAME "wis"
#include "workers.h"

#define DEFAULT_ROOT "/tmp/wis"
#define DEFAULT_WORKERS 1L
#define DEFAULT_ITERATIONS 200L
#define MAX_WORKERS 1024L
#define MMAP_BYTES (128L << 20) /* will-it-scale mmap1's MEMSIZE */
#define PF2_PAGES 64L /* page_fault2: pages per mapping (will-it-scale: 128 MiB of them) */
#define DIR_MODE 0755
#define FILE_MODE 0600

static const char *test, *root;
static long workers, iterations;
static int start_pipe[2];

static int threaded; /* mmap1: the workers are threads of one process */
static pthread_barrier_t start_barrier;

static void wait_for_start(void)
{
    char byte;
    if (threaded) { /* threads meet at a barrier (a futex), processes at a pipe's EOF */
        pthread_barrier_wait(&start_barrier);
        return;
    }
    if (read(start_pipe[0], &byte, 1) != 0) /* end of file: every worker is ready */
        die("read", "start pipe");
}

static void open_close(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, FILE_MODE);
    if (fd < 0)
        die("open", path);
    close(fd);
}

/* page_fault2: ITERATIONS first-touch faults on private mappings of a file of its own. */
static void fault_pages(long w)
{
    char path[PATH_MAX];
    long page = sysconf(_SC_PAGESIZE), bytes = PF2_PAGES * page;
    snprintf(path, sizeof path, "%s/page_fault2.%ld", root, w);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE);
    if (fd < 0)
        die("open", path);
    if (ftruncate(fd, bytes) != 0)
        die("ftruncate", path);
    if (unlink(path) != 0)
        die("unlink", path);
    wait_for_start();
    for (long done = 0; done < iterations;) {
        char *c = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (c == MAP_FAILED)
            die("mmap", path);
        for (long off = 0; off < bytes && done < iterations; off += page, done++) {
            c[off] = 0;
            mark(w);
        }
        if (munmap(c, bytes) != 0)
            die("munmap", path);
    }
    close(fd);
}

/* context_switch1: the worker writes a byte to its partner and reads it back. */
static void ping_pong(long w)
{
    int to[2], from[2];
    char byte = 0;
    if (pipe(to) != 0 || pipe(from) != 0)
        die("pipe", test);
    pid_t partner = fork();
    if (partner < 0)
        die("fork", test);
    if (partner == 0) {
        close(start_pipe[0]);
        for (long i = 0; i < iterations; i++)
            if (read(to[0], &byte, 1) != 1 || write(from[1], &byte, 1) != 1)
                die("partner", test);
        _exit(0);
    }
    for (long i = 0; i < iterations; i++) {
        if (write(to[1], &byte, 1) != 1 || read(from[0], &byte, 1) != 1)
            die("ping", test);
        mark(w);
    }
    if (waitpid(partner, NULL, 0) != partner)
        die("waitpid", test);
}

static void work(long w)
{
    char path[PATH_MAX];
    if (!strcmp(test, "context_switch1")) {
        wait_for_start();
        ping_pong(w);
        return;
    }
    if (!strcmp(test, "page_fault2")) {
        fault_pages(w);
        return;
    }
    if (!strcmp(test, "unlink2")) { /* its own directory, made before the start */
        snprintf(path, sizeof path, "%s/unlink2.%ld", root, w);
        if (mkdir(path, DIR_MODE) != 0 && errno != EEXIST)
            die("mkdir", path);
    }
    wait_for_start();
    for (long i = 0; i < iterations; i++) {
        if (!strcmp(test, "getppid1")) {
            getppid();
        } else if (!strcmp(test, "open1")) {
            snprintf(path, sizeof path, "%s/open1.%ld", root, w);
            open_close(path, O_RDWR);
        } else if (!strcmp(test, "open3")) {
            snprintf(path, sizeof path, "%s/open3", root);
            open_close(path, O_RDWR);
        } else if (!strcmp(test, "unlink2")) {
            snprintf(path, sizeof path, "%s/unlink2.%ld/willitscale", root, w);
            open_close(path, O_RDWR | O_CREAT);
            if (unlink(path) != 0)
                die("unlink", path);
        } else { /* mmap1 */
            void *p = mmap(NULL, MMAP_BYTES, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED)
                die("mmap", test);
            if (munmap(p, MMAP_BYTES) != 0)
                die("munmap", test);
        }
        mark(w);
    }
}

static void *thread_main(void *arg)
{
    work((long)arg);
    return NULL;
}

static const char *const TESTS[] = {
    "getppid1", "open1", "open3", "unlink2", "mmap1", "page_fault2", "context_switch1",
};

int main(int argc, char **argv)
{
    test = argc > 1 ? argv[1] : "";
    int known = 0;
    for (size_t i = 0; i < sizeof TESTS / sizeof *TESTS; i++)
        known |= !strcmp(test, TESTS[i]);
    if (!known) {
        fprintf(stderr, "usage: wis TEST [WORKERS [ITERATIONS [ROOT]]]; TEST one of");
        for (size_t i = 0; i < sizeof TESTS / sizeof *TESTS; i++)
            fprintf(stderr, " %s", TESTS[i]);
        fprintf(stderr, "\n");
        return 2;
    }
    workers = argc > 2 ? parse_count(argv[2], MAX_WORKERS, "WORKERS") : DEFAULT_WORKERS;
    iterations = argc > 3 ? parse_count(argv[3], LONG_MAX, "ITERATIONS") : DEFAULT_ITERATIONS;
    root = argc > 4 ? argv[4] : DEFAULT_ROOT;

    if (mkdir(root, DIR_MODE) != 0 && errno != EEXIST)
        die("mkdir", root);
    char path[PATH_MAX];
    for (long w = 0; w < workers && !strcmp(test, "open1"); w++) {
        snprintf(path, sizeof path, "%s/open1.%ld", root, w);
        open_close(path, O_RDWR | O_CREAT);
    }
    if (!strcmp(test, "open3")) {
        snprintf(path, sizeof path, "%s/open3", root);
        open_close(path, O_RDWR | O_CREAT);
    }
    ops_fd = open(OPS_DEVICE, O_WRONLY | O_CLOEXEC); /* -1 natively: no marks */
    if (pipe(start_pipe) != 0)
        die("pipe", test);
    threaded = !strcmp(test, "mmap1");
    pthread_t *threads = threaded ? calloc(workers, sizeof *threads) : NULL;
    if (threaded && pthread_barrier_init(&start_barrier, NULL, workers + 1) != 0)
        die("pthread_barrier_init", test);
    for (long w = 0; w < workers; w++) {
        if (threaded) {
            if (pthread_create(&threads[w], NULL, thread_main, (void *)w) != 0)
                die("pthread_create", test);
            continue;
        }
        pid_t pid = fork();
        if (pid < 0)
            die("fork", test);
        if (pid == 0) {
            close(start_pipe[1]);
            work(w);
            _exit(0);
        }
    }
    if (!threaded)
        close(start_pipe[0]);
    struct timespec settle = {0, SETTLE_NS};
    nanosleep(&settle, NULL);
    close(start_pipe[1]);
    if (threaded)
        pthread_barrier_wait(&start_barrier);
    int failed = 0, status;
    if (threaded) {
        for (long w = 0; w < workers; w++)
            pthread_join(threads[w], NULL);
        free(threads);
    }
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (failed) {
        fprintf(stderr, "wis %s: a worker failed\n", test);
        return 1;
    }
    printf("wis %s: %ld workers x %ld operations\n", test, workers, iterations);
    return 0;
}
