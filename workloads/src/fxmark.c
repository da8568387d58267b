/* fxmark: the FxMark file-system microbenchmarks, one binary, each worker a process.
 *
 * usage: fxmark BENCH [WORKERS [ITERATIONS [ROOT]]]    defaults 1 worker, 200, /tmp/fxmark
 *
 * Written from the definitions of Min et al., "Understanding Manycore Scalability
 * of File Systems" (USENIX ATC 2016, table 2, and the sources in sslab-gatech/fxmark
 * src/): the name says the kind of operation (M: metadata, D: data; R: read, W:
 * write), the operation, and how much the workers share: L low (each its own
 * directory or file), M medium (a shared directory or file, private names or
 * blocks in it), H high (the same file or block).
 *
 *   MRPL  stat a private file at ROOT/w/0/0/0/0          (path walk, nothing shared)
 *   MRPM  stat a pseudo-random file of a shared tree ROOT/t/a/b/c/d/e
 *   MRPH  stat the same file ROOT/t/0/0/0/0/0 (its dentry's reference count)
 *   MRDL  enumerate a private directory of DIR_FILES files (open, getdents, close)
 *   MRDM  enumerate one shared directory
 *   MWCL  create an empty file in a private directory
 *   MWCM  create an empty file in a shared directory
 *   MWUL  unlink an empty file of a private directory (created beforehand)
 *   MWUM  unlink an empty file of a shared directory (created beforehand)
 *   MWRL  rename a private file within its private directory
 *   MWRM  move a private file from a private directory into a shared one
 *   DRBL  read the 4 KiB block of a private file
 *   DRBM  read a private block of a shared file
 *   DRBH  read the same block of a shared file
 *   DWOL  overwrite the block of a private file
 *   DWOM  overwrite a private block of a shared file
 *   DWAL  append a block to a private file
 *   DWTL  truncate a private file by one block
 *
 * The parent prepares everything (the pre-work, not measured), opens the
 * simulator's operation counter /dev/coffer/ops if it exists, forks WORKERS
 * workers and waits for them. The workers start together, as FxMark's do: each
 * waits for end-of-file on a pipe whose write end the parent closes once all are
 * forked (else the last would start a fork's time after the first). Each worker
 * does ITERATIONS operations and marks
 * each on the counter ("w<worker>\n"); natively there is no counter and nothing is
 * marked. The tree under ROOT is left in place. The summary line depends only on
 * the arguments, so a simulated run can be compared with a native one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKLOAD_NAME "fxmark"
#include "workers.h"

#define DEFAULT_ROOT "/tmp/fxmark"
#define DEFAULT_WORKERS 1L
#define DEFAULT_ITERATIONS 200L
#define MAX_WORKERS 1024L
#define BLOCK 4096 /* FxMark's I/O unit: one page */
#define TREE_DEPTH 5 /* MRPM/MRPH: directories a/b/c/d then the file e (FxMark: 5) */
#define TREE_FANOUT 3 /* entries per level (FxMark: 8; 3 keeps the pre-work small) */
#define DIR_FILES 16 /* files in each MRDL/MRDM directory */
#define DIR_MODE 0755
#define FILE_MODE 0644
#define PSEUDO_MULTIPLIER 1103515245u /* the ISO C rand() example's LCG */
#define PSEUDO_INCREMENT 12345u

static const char *root;
static long workers, iterations;

/* mkdir -p */
static void make_dirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *slash = buf + 1;; slash++) {
        if (*slash != '/' && *slash != '\0')
            continue;
        char saved = *slash;
        *slash = '\0';
        if (mkdir(buf, DIR_MODE) != 0 && errno != EEXIST)
            die("mkdir", buf);
        *slash = saved;
        if (saved == '\0')
            return;
    }
}

static void create_file(const char *path, long blocks)
{
    static char block[BLOCK];
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, FILE_MODE);
    if (fd < 0)
        die("create", path);
    for (long i = 0; i < blocks; i++)
        if (write(fd, block, BLOCK) != BLOCK)
            die("write", path);
    close(fd);
}

/* One operation of worker w done: its label names the worker, so that the steady
 * state (every worker running) can be told from the start and the end. */
/* -- paths ------------------------------------------------------------------------ */

static void private_dir(char *path, long w) { sprintf(path, "%s/%ld", root, w); }
static void shared_dir(char *path) { sprintf(path, "%s/shared", root); }
static void shared_file(char *path) { sprintf(path, "%s/shared.dat", root); }

static void private_file(char *path, long w)
{
    sprintf(path, "%s/%ld/data", root, w);
}

/* MRPM/MRPH: ROOT/t/d0/d1/d2/d3/d4, each digit below TREE_FANOUT. */
static void tree_path(char *path, const unsigned *digits)
{
    int len = sprintf(path, "%s/t", root);
    for (int level = 0; level < TREE_DEPTH; level++)
        len += sprintf(path + len, "/%u", digits[level] % TREE_FANOUT);
}

static void make_tree(void)
{
    unsigned digits[TREE_DEPTH] = {0};
    char path[PATH_MAX];
    for (;;) {
        tree_path(path, digits);
        *strrchr(path, '/') = '\0';
        make_dirs(path);
        tree_path(path, digits);
        create_file(path, 0);
        int level = TREE_DEPTH - 1;
        while (level >= 0 && ++digits[level] == TREE_FANOUT)
            digits[level--] = 0;
        if (level < 0)
            return;
    }
}

/* -- pre-work (the parent, unmeasured) --------------------------------------------- */

static void prepare(const char *bench)
{
    char path[PATH_MAX];
    make_dirs(root);
    if (!strcmp(bench, "MRPM") || !strcmp(bench, "MRPH")) {
        make_tree();
        return;
    }
    if (!strcmp(bench, "MRDM")) {
        shared_dir(path);
        make_dirs(path);
        for (int i = 0; i < DIR_FILES; i++) {
            sprintf(path, "%s/shared/f%d", root, i);
            create_file(path, 0);
        }
        return;
    }
    if (!strncmp(bench, "MW", 2) && bench[3] == 'M') {
        shared_dir(path);
        make_dirs(path);
    }
    if (!strcmp(bench, "DRBM") || !strcmp(bench, "DRBH") || !strcmp(bench, "DWOM")) {
        shared_file(path);
        create_file(path, workers);
        return;
    }
    for (long w = 0; w < workers; w++) {
        private_dir(path, w);
        if (!strcmp(bench, "MRPL"))
            strcat(path, "/0/0/0");
        make_dirs(path);
        if (!strcmp(bench, "MRPL")) {
            sprintf(path, "%s/%ld/0/0/0/0", root, w);
            create_file(path, 0);
        } else if (!strcmp(bench, "MRDL")) {
            for (int i = 0; i < DIR_FILES; i++) {
                sprintf(path, "%s/%ld/f%d", root, w, i);
                create_file(path, 0);
            }
        } else if (!strcmp(bench, "MWUL") || !strcmp(bench, "MWRM")) {
            for (long i = 0; i < iterations; i++) {
                sprintf(path, "%s/%ld/f%ld", root, w, i);
                create_file(path, 0);
            }
        } else if (!strcmp(bench, "MWUM")) {
            for (long i = 0; i < iterations; i++) {
                sprintf(path, "%s/shared/%ld.%ld", root, w, i);
                create_file(path, 0);
            }
        } else if (!strcmp(bench, "MWRL")) {
            sprintf(path, "%s/%ld/a", root, w);
            create_file(path, 0);
        } else if (bench[0] == 'D') {
            private_file(path, w);
            create_file(path, !strcmp(bench, "DWTL") ? iterations : !strcmp(bench, "DWAL") ? 0 : 1);
        }
    }
}

/* -- one worker's operations -------------------------------------------------------- */

static void enumerate(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        die("opendir", dir);
    long entries = 0;
    errno = 0;
    while (readdir(d))
        entries++;
    if (errno != 0 || entries != DIR_FILES + 2)
        die("readdir", dir);
    closedir(d);
}

static void work(const char *bench, long w)
{
    char path[PATH_MAX], other[PATH_MAX];
    static char block[BLOCK];
    struct stat st;
    unsigned digits[TREE_DEPTH] = {0};
    unsigned seed = (unsigned)w;
    int fd = -1;

    if (bench[0] == 'D') {
        int shared = bench[3] == 'M' || bench[3] == 'H';
        if (shared)
            shared_file(path);
        else
            private_file(path, w);
        int flags = bench[1] == 'R' ? O_RDONLY : O_WRONLY;
        if (!strcmp(bench, "DWAL"))
            flags |= O_APPEND;
        if ((fd = open(path, flags | O_CLOEXEC)) < 0)
            die("open", path);
    }
    off_t offset = (!strcmp(bench, "DRBM") || !strcmp(bench, "DWOM")) ? (off_t)w * BLOCK : 0;

    for (long i = 0; i < iterations; i++) {
        if (!strcmp(bench, "MRPL")) {
            sprintf(path, "%s/%ld/0/0/0/0", root, w);
            if (stat(path, &st) != 0)
                die("stat", path);
        } else if (!strcmp(bench, "MRPM") || !strcmp(bench, "MRPH")) {
            if (bench[3] == 'M')
                for (int level = 0; level < TREE_DEPTH; level++)
                    digits[level] = seed = seed * PSEUDO_MULTIPLIER + PSEUDO_INCREMENT;
            tree_path(path, digits);
            if (stat(path, &st) != 0)
                die("stat", path);
        } else if (!strcmp(bench, "MRDL")) {
            private_dir(path, w);
            enumerate(path);
        } else if (!strcmp(bench, "MRDM")) {
            shared_dir(path);
            enumerate(path);
        } else if (!strcmp(bench, "MWCL") || !strcmp(bench, "MWCM")) {
            if (bench[3] == 'L')
                sprintf(path, "%s/%ld/f%ld", root, w, i);
            else
                sprintf(path, "%s/shared/%ld.%ld", root, w, i);
            if ((fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, FILE_MODE)) < 0)
                die("create", path);
            close(fd);
        } else if (!strcmp(bench, "MWUL") || !strcmp(bench, "MWUM")) {
            if (bench[3] == 'L')
                sprintf(path, "%s/%ld/f%ld", root, w, i);
            else
                sprintf(path, "%s/shared/%ld.%ld", root, w, i);
            if (unlink(path) != 0)
                die("unlink", path);
        } else if (!strcmp(bench, "MWRL")) {
            sprintf(path, "%s/%ld/%c", root, w, i % 2 ? 'b' : 'a');
            sprintf(other, "%s/%ld/%c", root, w, i % 2 ? 'a' : 'b');
            if (rename(path, other) != 0)
                die("rename", path);
        } else if (!strcmp(bench, "MWRM")) {
            sprintf(path, "%s/%ld/f%ld", root, w, i);
            sprintf(other, "%s/shared/%ld.%ld", root, w, i);
            if (rename(path, other) != 0)
                die("rename", path);
        } else if (bench[1] == 'R') {
            if (pread(fd, block, BLOCK, offset) != BLOCK)
                die("pread", bench);
        } else if (!strcmp(bench, "DWAL")) {
            if (write(fd, block, BLOCK) != BLOCK)
                die("append", bench);
        } else if (!strcmp(bench, "DWTL")) {
            if (ftruncate(fd, (off_t)(iterations - 1 - i) * BLOCK) != 0)
                die("ftruncate", bench);
        } else {
            if (pwrite(fd, block, BLOCK, offset) != BLOCK)
                die("pwrite", bench);
        }
        mark(w);
    }
    if (fd >= 0)
        close(fd);
}

static const char *const BENCHES[] = {
    "MRPL", "MRPM", "MRPH", "MRDL", "MRDM", "MWCL", "MWCM", "MWUL", "MWUM",
    "MWRL", "MWRM", "DRBL", "DRBM", "DRBH", "DWOL", "DWOM", "DWAL", "DWTL",
};

int main(int argc, char **argv)
{
    const char *bench = argc > 1 ? argv[1] : "";
    int known = 0;
    for (size_t i = 0; i < sizeof BENCHES / sizeof *BENCHES; i++)
        known |= !strcmp(bench, BENCHES[i]);
    if (!known) {
        fprintf(stderr, "usage: fxmark BENCH [WORKERS [ITERATIONS [ROOT]]]; BENCH one of");
        for (size_t i = 0; i < sizeof BENCHES / sizeof *BENCHES; i++)
            fprintf(stderr, " %s", BENCHES[i]);
        fprintf(stderr, "\n");
        return 2;
    }
    workers = argc > 2 ? parse_count(argv[2], MAX_WORKERS, "WORKERS") : DEFAULT_WORKERS;
    iterations = argc > 3 ? parse_count(argv[3], LONG_MAX, "ITERATIONS") : DEFAULT_ITERATIONS;
    root = argc > 4 ? argv[4] : DEFAULT_ROOT;

    prepare(bench);
    ops_fd = open(OPS_DEVICE, O_WRONLY | O_CLOEXEC); /* -1 natively: no marks */
    int start[2];
    if (pipe(start) != 0)
        die("pipe", bench);
    for (long w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork", bench);
        if (pid == 0) {
            char byte;
            close(start[1]);
            if (read(start[0], &byte, 1) != 0) /* end of file: every worker is forked */
                die("read", "start pipe");
            close(start[0]);
            work(bench, w);
            _exit(0);
        }
    }
    close(start[0]);
    /* Let the last-forked worker reach its read too, so that all are woken together
     * rather than the last starting alone before the others' wake-ups. */
    struct timespec settle = {0, SETTLE_NS};
    nanosleep(&settle, NULL);
    close(start[1]);
    int failed = 0, status;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (failed) {
        fprintf(stderr, "fxmark %s: a worker failed\n", bench);
        return 1;
    }
    printf("fxmark %s: %ld workers x %ld operations\n", bench, workers, iterations);
    return 0;
}
