/* metadata: a file-system metadata loop in the style of MOSBENCH's metadata benchmarks.
 *
 * usage: metadata [DIR [N]]        DIR default /tmp/shared, N default 2000
 *
 * Works in DIR/dir1/.../dirDIR_DEPTH, created with mkdir -p semantics (EEXIST is
 * fine: several processes, or several coffers on one machine, may share it). For
 * N iterations it creates the file f.<pid>.<i % 16> there, writes 64 patterned
 * bytes, closes it, opens it again read-only, reads it back and checks it, closes
 * it, stat(2)s it by its full path and unlinks it. The pid in the name keeps
 * concurrent copies out of each other's files while they share the directories,
 * whose dentries and locks are what such a benchmark contends on.
 *
 * Why DIR_DEPTH: every call names the file by its absolute path, so each one walks
 * every component: with the defaults /tmp/shared/dir1/dir2/f.<pid>.<n>, five
 * dentries per lookup (four directories and the file), as in the deep-path
 * lookups that MOSBENCH found contending in a shared kernel's dentry cache. A
 * constant, so that the cost of a run depends only on DIR and N.
 *
 * After each iteration it writes "op\n" to /dev/coffer/ops, the simulator's
 * operation counter, if that device could be opened at start; natively there is
 * no such device and nothing is marked, so the same binary runs on Linux.
 *
 * The summary it prints depends only on N (no pids, no times), so a simulated
 * run can be compared with a native one. The directories are left in place,
 * empty: removing them could pull them from under another copy still running.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define DEFAULT_DIR "/tmp/shared"
#define DEFAULT_ITERATIONS 2000L
#define DIR_DEPTH 2 /* subdirectories below DIR: see the header comment */
#define NAME_SLOTS 16 /* file names cycle through this many per process */
#define NAME_ROOM 32 /* bytes after the directory for "/f.<pid>.<slot>" */
#define FILE_BYTES 64
#define READ_BUFFER (2 * FILE_BYTES) /* room to notice a file that grew */
#define DIR_MODE 0755
#define FILE_MODE 0644
#define OPS_DEVICE "/dev/coffer/ops"
#define OPS_MARK "op\n"

static long parse_iterations(int argc, char **argv)
{
    if (argc < 3)
        return DEFAULT_ITERATIONS;
    char *end;
    errno = 0;
    long value = strtol(argv[2], &end, 10);
    if (errno != 0 || *end != '\0' || end == argv[2] || value < 1) {
        fprintf(stderr, "usage: %s [dir [iterations >= 1]]\n", argv[0]);
        exit(2);
    }
    return value;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "metadata: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

/* mkdir -p: create every missing directory of `path`; ones that exist are fine. */
static void make_dirs(char *path)
{
    for (char *slash = path + 1;; slash++) {
        if (*slash != '/' && *slash != '\0')
            continue;
        char saved = *slash;
        *slash = '\0';
        if (mkdir(path, DIR_MODE) != 0 && errno != EEXIST)
            die("mkdir", path);
        *slash = saved;
        if (saved == '\0')
            return;
    }
}

/* The byte at `offset` of the file written in iteration `i`. */
static unsigned char pattern_byte(long i, int offset)
{
    return (unsigned char)((i * 31 + offset * 7) & 0xff);
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : DEFAULT_DIR;
    long iterations = parse_iterations(argc, argv);

    char dir[PATH_MAX];
    int len = snprintf(dir, sizeof dir, "%s", base);
    for (int level = 1; level <= DIR_DEPTH && len > 0 && len < (int)sizeof dir; level++)
        len += snprintf(dir + len, sizeof dir - len, "/dir%d", level);
    if (len <= 0 || len >= (int)sizeof dir - NAME_ROOM) {
        fprintf(stderr, "metadata: directory name too long\n");
        return 2;
    }
    make_dirs(dir);

    int ops = open(OPS_DEVICE, O_WRONLY | O_CLOEXEC); /* -1 natively: no marks */
    long pid = (long)getpid();
    long bytes_read = 0;
    unsigned char out[FILE_BYTES], in[READ_BUFFER];
    char path[PATH_MAX + NAME_ROOM];

    for (long i = 0; i < iterations; i++) {
        snprintf(path, sizeof path, "%s/f.%ld.%ld", dir, pid, i % NAME_SLOTS);
        for (int j = 0; j < FILE_BYTES; j++)
            out[j] = pattern_byte(i, j);

        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, FILE_MODE);
        if (fd < 0)
            die("create", path);
        if (write(fd, out, FILE_BYTES) != FILE_BYTES)
            die("write", path);
        if (close(fd) != 0)
            die("close", path);

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die("open", path);
        ssize_t got, total = 0;
        while ((got = read(fd, in + total, sizeof in - total)) > 0)
            total += got;
        if (got < 0)
            die("read", path);
        close(fd);
        if (total != FILE_BYTES || memcmp(in, out, FILE_BYTES) != 0) {
            fprintf(stderr, "metadata: iteration %ld read back %zd bytes, not the %d written\n",
                    i, total, FILE_BYTES);
            return 1;
        }
        bytes_read += total;

        struct stat st;
        if (stat(path, &st) != 0)
            die("stat", path);
        if (!S_ISREG(st.st_mode) || st.st_size != FILE_BYTES) {
            fprintf(stderr, "metadata: iteration %ld: stat says size %lld\n", i,
                    (long long)st.st_size);
            return 1;
        }
        if (unlink(path) != 0)
            die("unlink", path);

        if (ops >= 0 && write(ops, OPS_MARK, sizeof OPS_MARK - 1) != sizeof OPS_MARK - 1)
            die("write", OPS_DEVICE);
    }

    printf("metadata: %ld iterations of create/write/open/read/stat/unlink, "
           "%ld bytes read back intact\n", iterations, bytes_read);
    return 0;
}
