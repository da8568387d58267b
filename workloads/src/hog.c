/* hog: one container exhausting a kernel resource, then holding it for a while.
 *
 * usage: hog KIND [N [HOLD_MS]]     KIND one of fork files memory disk
 *
 *   fork     a fork bomb: fork up to N children (default 1024); each sleeps HOLD_MS
 *            and exits, so the task slots are held, then given back
 *   files    open /dev/null up to N times (default 1048576): descriptors
 *   memory   mmap up to N MiB (default 1048576) of anonymous memory, one MiB at a
 *            time, touching the first page of each
 *   disk     write up to N MiB (default 1048576) to /tmp/hog.fill.K in 64 KiB chunks,
 *            a new file every FILE_MIB; the files are left behind (a full disk
 *            stays full)
 *
 * It stops at the first failure (the kernel's limit: EAGAIN, EMFILE, ENOMEM,
 * ENOSPC, EDQUOT ...) or at N, holds what it got for HOLD_MS (default 200) and
 * exits 0. It always stops by itself: every amount is bounded by N. It prints
 *
 *   hog KIND: COUNT UNIT, stopped by ERRNO      (or "stopped by its bound")
 *
 * With no arguments it prints its usage and exits 2: a native run never bombs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CHILDREN 1024L
#define DEFAULT_AMOUNT (1L << 20) /* descriptors, or MiB: far past any test machine */
#define DEFAULT_HOLD_MS 200L
#define MIB (1L << 20)
#define CHUNK_BYTES (64L << 10)
#define FILE_MIB 64L /* well below the kernel's largest file (1 GiB) */
#define NS_PER_MS 1000000L
#define MS_PER_S 1000L

static const char *errno_name(int err)
{
    switch (err) {
    case EAGAIN: return "EAGAIN";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case EFBIG: return "EFBIG";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    default: return "EOTHER";
    }
}

static void hold(long ms)
{
    struct timespec ts = {.tv_sec = ms / MS_PER_S, .tv_nsec = (ms % MS_PER_S) * NS_PER_MS};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* COUNT units were taken; `err` stopped it (0: the bound N did). */
static int report(const char *kind, long count, const char *unit, int err)
{
    printf("hog %s: %ld %s, stopped by %s\n", kind, count, unit,
           err ? errno_name(err) : "its bound");
    return 0;
}

static int hog_fork(long n, long hold_ms)
{
    long children = 0;
    int err = 0;
    for (; children < n; children++) {
        pid_t pid = fork();
        if (pid == 0) {
            hold(hold_ms);
            _exit(0);
        }
        if (pid < 0) {
            err = errno;
            break;
        }
    }
    report("fork", children, "children", err);
    fflush(stdout);
    while (wait(NULL) > 0)
        ;
    return 0;
}

static int hog_files(long n, long hold_ms)
{
    long fds = 0;
    int err = 0;
    for (; fds < n; fds++) {
        if (open("/dev/null", O_RDONLY) < 0) {
            err = errno;
            break;
        }
    }
    report("files", fds, "descriptors", err);
    fflush(stdout);
    hold(hold_ms);
    return 0;
}

static int hog_memory(long n, long hold_ms)
{
    long mib = 0;
    int err = 0;
    for (; mib < n; mib++) {
        char *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            err = errno;
            break;
        }
        p[0] = 1;
    }
    report("memory", mib, "MiB", err);
    fflush(stdout);
    hold(hold_ms);
    return 0;
}

static int hog_disk(long n, long hold_ms)
{
    static char chunk[CHUNK_BYTES];
    memset(chunk, 'd', sizeof chunk);
    long written = 0, in_file = FILE_MIB * MIB, files = 0; /* bytes */
    int err = 0, fd = -1;
    char path[64];
    while (written < n * MIB && !err) {
        if (in_file >= FILE_MIB * MIB) {
            if (fd >= 0)
                close(fd);
            snprintf(path, sizeof path, "/tmp/hog.fill.%ld", files++);
            fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0) {
                err = errno;
                break;
            }
            in_file = 0;
        }
        ssize_t got = write(fd, chunk, sizeof chunk); /* short: the next one says why */
        if (got < 0)
            err = errno;
        else
            written += got, in_file += got;
    }
    if (fd >= 0)
        close(fd);
    report("disk", written / MIB, "MiB", err);
    fflush(stdout);
    hold(hold_ms);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *kind;
        int (*run)(long, long);
        long amount;
    } hogs[] = {{"fork", hog_fork, DEFAULT_CHILDREN}, {"files", hog_files, DEFAULT_AMOUNT},
                {"memory", hog_memory, DEFAULT_AMOUNT}, {"disk", hog_disk, DEFAULT_AMOUNT}};
    for (size_t h = 0; argc > 1 && h < sizeof hogs / sizeof hogs[0]; h++) {
        if (strcmp(argv[1], hogs[h].kind) != 0)
            continue;
        long n = argc > 2 ? strtol(argv[2], NULL, 10) : hogs[h].amount;
        long hold_ms = argc > 3 ? strtol(argv[3], NULL, 10) : DEFAULT_HOLD_MS;
        if (n < 1 || hold_ms < 0)
            break;
        return hogs[h].run(n, hold_ms);
    }
    fprintf(stderr, "usage: %s fork|files|memory|disk [N [HOLD_MS]]\n", argv[0]);
    return 2;
}
