/* storm: a noisy neighbour hammering one shared kernel path in a loop.
 *
 * usage: storm [KIND [N [FILE]]]   KIND one of create fork reap net pagecache reread
 *                                  mount memory (default create); N default 1000; FILE
 *                                  the file pagecache and reread read (defaults below)
 *
 *   create     open(O_CREAT)/close/stat/unlink of a per-pid file in /tmp/shared/dir1/dir2
 *              (the tree the metadata workload uses): path walks, dentry creation and
 *              removal, the inode hash
 *   fork       fork a child that exits at once, wait4 for it: the task list
 *   reap       the fork storm's victim: wait4(-1, WNOHANG) with no children (ECHILD), a
 *              supervisor polling for exited children: the task list's lock and little
 *              else (fork's own work, tens of us, would hide a lock held for 0.5 us)
 *   net        sendto a 64-byte UDP datagram to its own socket on 127.0.0.1, recvfrom it
 *              back: the network stack's socket and protocol paths
 *   pagecache  a streaming reader (a backup, a scan): pread FILE (default
 *              /data/stream.bin) 16 pages at a time, front to back and around again,
 *              and sum a byte of every 64 read: every page once per pass, so a page
 *              cache smaller than the file keeps none of it and each read misses,
 *              evicting the least recently used pages (on a shared kernel, other
 *              containers' too)
 *   reread     the page-cache victim: read FILE (default /data/hot.bin) whole once, then
 *              pread it 4 pages at a time, cycling over it, and sum one byte per 64:
 *              after the first pass every read hits the page cache unless something
 *              evicted the pages
 *   mount      mount a tmpfs on /tmp/storm.mnt and umount2 it: the mount table (an
 *              unprivileged container is refused: each attempt then fails at once)
 *   memory     mmap 16 anonymous pages, touch each, munmap them: the page allocator
 *              (anonymous memory, not the page cache)
 *
 * Each iteration is marked on /dev/coffer/ops (the simulator's operation counter) when
 * that device could be opened at start, so a storm can also be the measured victim
 * (reread's first whole read comes before its first iteration, so it is in the
 * first operation's latency only). Deterministic: the same N iterations every run.
 * A failed iteration is counted, not fatal (a refused mount is still an attempt on
 * the path), and the first failure is printed when it happens, so it shows even
 * when the storm is stopped from outside. The summary depends only on KIND, N and
 * the kernel's answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_ITERATIONS 1000L
#define SHARED_DIR "/tmp/shared/dir1/dir2" /* metadata.c's tree (DIR_DEPTH 2) */
#define DIR_MODE 0755
#define FILE_MODE 0644
#define NAME_SLOTS 16 /* file names cycle through this many per process */
#define DATAGRAM_BYTES 64
#define LOOPBACK 0x7f000001 /* 127.0.0.1 */
#define MAP_PAGES 16
#define PAGE_BYTES 4096
#define MOUNT_POINT "/tmp/storm.mnt"
#define STREAM_FILE "/data/stream.bin"
#define STREAM_PAGES 16 /* pages per pread of the pagecache storm */
#define HOT_FILE "/data/hot.bin"
#define HOT_PAGES 4 /* pages per pread of reread */
#define LINE_BYTES 64 /* pagecache and reread sum one byte per cache line */

#define OPS_DEVICE "/dev/coffer/ops"
#define OPS_MARK "op\n"

static long failures;
static int ops = -1; /* natively there is no such device: nothing is marked */

static void mark(void)
{
    if (ops >= 0 && write(ops, OPS_MARK, sizeof OPS_MARK - 1) < 0)
        ops = -1;
}

/* Count a failed iteration; say what failed the first time. */
static void failed(const char *kind, const char *what)
{
    if (failures++ == 0) {
        printf("storm %s: %s failed: %s\n", kind, what, strerror(errno));
        fflush(stdout);
    }
}

static void make_dirs(const char *path)
{
    char buf[sizeof SHARED_DIR];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *slash = buf + 1;; slash++) {
        if (*slash != '/' && *slash != '\0')
            continue;
        char saved = *slash;
        *slash = '\0';
        mkdir(buf, DIR_MODE); /* EEXIST is fine: others share the tree */
        *slash = saved;
        if (saved == '\0')
            return;
    }
}

static void storm_create(long n)
{
    char path[sizeof SHARED_DIR + 32];
    long pid = (long)getpid();
    struct stat st;
    make_dirs(SHARED_DIR);
    for (long i = 0; i < n; i++, mark()) {
        snprintf(path, sizeof path, "%s/s.%ld.%ld", SHARED_DIR, pid, i % NAME_SLOTS);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, FILE_MODE);
        if (fd < 0) {
            failed("create", "open");
            continue;
        }
        close(fd);
        if (stat(path, &st) != 0)
            failed("create", "stat");
        if (unlink(path) != 0)
            failed("create", "unlink");
    }
}

static void storm_fork(long n)
{
    for (long i = 0; i < n; i++, mark()) {
        pid_t child = fork();
        if (child == 0)
            _exit(0);
        if (child < 0) {
            failed("fork", "fork");
            continue;
        }
        int status;
        if (waitpid(child, &status, 0) != child)
            failed("fork", "waitpid");
    }
}

static void storm_reap(long n)
{
    for (long i = 0; i < n; i++, mark()) {
        int status;
        if (waitpid(-1, &status, WNOHANG) != -1 || errno != ECHILD)
            failed("reap", "waitpid");
    }
}

static void storm_net(long n)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(LOOPBACK)};
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        failed("net", "socket/bind");
        return;
    }
    char out[DATAGRAM_BYTES], in[DATAGRAM_BYTES];
    memset(out, 'n', sizeof out);
    for (long i = 0; i < n; i++, mark()) {
        if (sendto(fd, out, sizeof out, 0, (struct sockaddr *)&addr, sizeof addr) !=
            (ssize_t)sizeof out) {
            failed("net", "sendto");
            continue;
        }
        if (recvfrom(fd, in, sizeof in, 0, NULL, NULL) != (ssize_t)sizeof in)
            failed("net", "recvfrom");
    }
    close(fd);
}

static void storm_memory(long n)
{
    for (long i = 0; i < n; i++, mark()) {
        char *p = mmap(NULL, MAP_PAGES * PAGE_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            failed("memory", "mmap");
            continue;
        }
        for (int page = 0; page < MAP_PAGES; page++)
            p[page * PAGE_BYTES] = (char)i;
        if (munmap(p, MAP_PAGES * PAGE_BYTES) != 0)
            failed("memory", "munmap");
    }
}

static const char *file_arg; /* FILE from the command line, or NULL: the kind's default */
static char page_buffer[STREAM_PAGES * PAGE_BYTES];

/* Open `path` and say how many whole chunks of `chunk` bytes it holds (0: none). */
static int open_chunks(const char *kind, const char *path, long chunk, long *chunks)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        failed(kind, "open");
        return -1;
    }
    *chunks = (long)st.st_size / chunk;
    if (*chunks == 0) {
        errno = EINVAL;
        failed(kind, "open (file smaller than one read)");
        close(fd);
        return -1;
    }
    return fd;
}

static volatile unsigned long checksum; /* volatile: the sum is the work, kept */

/* Look at what was read: a byte of every cache line of the first `bytes` of the buffer. */
static void sum_lines(long bytes)
{
    for (long at = 0; at < bytes; at += LINE_BYTES)
        checksum += (unsigned char)page_buffer[at];
}

/* n preads of `chunk` bytes of fd, cycling over its `chunks` chunks, one operation each. */
static void read_cycling(const char *kind, int fd, long chunk, long chunks, long n)
{
    for (long i = 0; i < n; i++, mark()) {
        if (pread(fd, page_buffer, chunk, (off_t)(i % chunks) * chunk) != chunk) {
            failed(kind, "pread");
            continue;
        }
        sum_lines(chunk);
    }
}

static void storm_pagecache(long n)
{
    const long chunk = STREAM_PAGES * PAGE_BYTES;
    long chunks;
    int fd = open_chunks("pagecache", file_arg ? file_arg : STREAM_FILE, chunk, &chunks);
    if (fd < 0)
        return;
    read_cycling("pagecache", fd, chunk, chunks, n);
    close(fd);
}

static void storm_reread(long n)
{
    const long chunk = HOT_PAGES * PAGE_BYTES;
    long chunks;
    int fd = open_chunks("reread", file_arg ? file_arg : HOT_FILE, chunk, &chunks);
    if (fd < 0)
        return;
    for (long c = 0; c < chunks; c++) /* the first pass: into the page cache */
        if (pread(fd, page_buffer, chunk, (off_t)c * chunk) != chunk)
            failed("reread", "pread");
    read_cycling("reread", fd, chunk, chunks, n);
    close(fd);
}

static void storm_mount(long n)
{
    mkdir(MOUNT_POINT, DIR_MODE);
    for (long i = 0; i < n; i++, mark()) {
        if (mount("tmpfs", MOUNT_POINT, "tmpfs", 0, NULL) != 0) {
            failed("mount", "mount");
            continue;
        }
        if (umount2(MOUNT_POINT, 0) != 0)
            failed("mount", "umount2");
    }
}

int main(int argc, char **argv)
{
    static const struct {
        const char *kind;
        void (*run)(long);
    } storms[] = {{"create", storm_create},       {"fork", storm_fork},
                  {"reap", storm_reap},           {"net", storm_net},
                  {"pagecache", storm_pagecache}, {"reread", storm_reread},
                  {"mount", storm_mount},         {"memory", storm_memory}};
    long n = DEFAULT_ITERATIONS;
    if (argc > 2) {
        char *end;
        n = strtol(argv[2], &end, 10);
        if (*end != '\0' || n < 1) {
            fprintf(stderr, "usage: %s KIND [iterations >= 1 [file]]\n", argv[0]);
            return 2;
        }
    }
    if (argc > 3)
        file_arg = argv[3];
    const char *kind = argc > 1 ? argv[1] : storms[0].kind;
    for (size_t s = 0; s < sizeof storms / sizeof storms[0]; s++) {
        if (strcmp(kind, storms[s].kind) != 0)
            continue;
        ops = open(OPS_DEVICE, O_WRONLY | O_CLOEXEC);
        storms[s].run(n);
        printf("storm %s: %ld iterations, %ld failed\n", storms[s].kind, n, failures);
        return 0;
    }
    fprintf(stderr, "usage: %s [create|fork|reap|net|pagecache|reread|mount|memory "
                    "[iterations [file]]]\n", argv[0]);
    return 2;
}
