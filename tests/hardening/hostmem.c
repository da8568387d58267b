/* Calls that once made the simulator allocate guest-chosen amounts of host memory.
 *
 *   hostmem nullwrite      write(1, NULL, 0x7ffff000): EFAULT, nothing allocated
 *   hostmem sparse         two files ftruncate'd to 1 GiB: holes take no memory
 *   hostmem urandom        read(/dev/urandom) of 2^28 bytes into a 2^28-byte buffer
 *   hostmem pipe           write 64 MiB from an untouched mapping to /dev/null and a
 *                          pipe whose reader counts what arrives
 *   hostmem fill           write 4 MiB to a file, 64 KiB at a time, until an error
 *   hostmem noname         one byte at offset 10^9 of a memfd and of an unlinked file:
 *                          files with no name, once charged to no quota (fuzz seed 2)
 *   hostmem procalloc      fallocate 10^9 bytes of /proc/self/status: EOPNOTSUPP
 *   hostmem sendfile       sendfile of 2 GiB from a 64 GiB file holding one byte to
 *                          /dev/null (fuzz seeds 0 and 6: 2 GiB of the host at once)
 *   hostmem sparseread     beside a sleeping child (so that a timed run records locks):
 *                          reads of 2 GiB from the holes of a 64 GiB file, and from its
 *                          page of data, into NULL (EFAULT; fuzz seeds 5 and 6)
 *   hostmem socket         1 GiB from an untouched mapping to sockets (a stream takes
 *                          what fits, a datagram is too long) and writev'd to /dev/null
 *   hostmem readv          readv of /dev/zero into NULL for 2 GiB (EFAULT), and into 4
 *                          good bytes followed by 1 GiB at a bad address (a short read)
 *   hostmem bigmap         a file ftruncate'd to 8 TiB mapped MAP_SHARED 64 GiB at a
 *                          time, a byte stored at each piece's end, until a map fails
 *                          (the host cost of each 64 MiB guest block is charged); then
 *                          all unmapped, and one piece mapped again (the charge is back) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define GIB (1L << 30)

static const char *res(long r) {
    static char buf[64];
    if (r < 0)
        snprintf(buf, sizeof buf, "-1 %s", strerrorname_np(errno));
    else
        snprintf(buf, sizeof buf, "%ld", r);
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    if (strcmp(argv[1], "nullwrite") == 0) {
        for (int i = 0; i < 3; i++)
            printf("write NULL: %s\n", res(syscall(SYS_write, 1, NULL, 0x7ffff000L)));
        printf("pwrite NULL: %s\n", res(syscall(SYS_pwrite64, 1, NULL, 0x7ffff000L, 0L)));
    } else if (strcmp(argv[1], "sparse") == 0) {
        int a = open("a", O_CREAT | O_RDWR | O_TRUNC, 0644);
        int b = open("b", O_CREAT | O_RDWR | O_TRUNC, 0644);
        printf("ftruncate: %s", res(ftruncate(a, GIB)));
        printf(" %s\n", res(ftruncate(b, GIB)));
        char c = 1;
        long r = pread(a, &c, 1, GIB / 2);
        printf("pread of a hole: %s, byte %d\n", res(r), c);
        printf("pwrite into the hole: %s\n", res(pwrite(b, "x", 1, 4096)));
        r = pread(b, &c, 1, 4096);
        printf("pread back: %s, byte %c\n", res(r), c);
        printf("size: %ld\n", (long)lseek(b, 0, SEEK_END));
        unlink("a");
        unlink("b");
    } else if (strcmp(argv[1], "urandom") == 0) {
        size_t size = 1UL << 28;
        char *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int fd = open("/dev/urandom", O_RDONLY);
        long n = read(fd, buf, size);
        printf("read urandom 2^28: %s\n", res(n));
        int fz = open("/dev/zero", O_RDONLY);
        printf("read zero 2^28: %s\n", res(read(fz, buf, size)));
    } else if (strcmp(argv[1], "pipe") == 0) {
        size_t size = 64UL << 20;
        char *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int null = open("/dev/null", O_WRONLY);
        printf("write /dev/null: %s\n", res(write(null, buf, size)));
        fflush(stdout);
        int fds[2];
        pipe(fds);
        pid_t child = fork();
        if (child == 0) {
            close(fds[1]);
            static char chunk[65536];
            long total = 0, n;
            while ((n = read(fds[0], chunk, sizeof chunk)) > 0)
                total += n;
            printf("reader got: %ld\n", total);
            return 0;
        }
        close(fds[0]);
        long total = 0;
        while (total < (long)size) {
            long n = write(fds[1], buf + total, size - total);
            if (n <= 0)
                break;
            total += n;
        }
        printf("writer wrote: %ld\n", total);
        fflush(stdout);
        close(fds[1]);
        waitpid(child, NULL, 0);
    } else if (strcmp(argv[1], "socket") == 0) {
        size_t size = GIB;
        char *buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        int stream[2], dgram[2];
        socketpair(AF_UNIX, SOCK_STREAM, 0, stream);
        socketpair(AF_UNIX, SOCK_DGRAM, 0, dgram);
        long n = send(stream[0], buf, size, MSG_DONTWAIT);
        printf("stream send: short %s\n", n > 0 && n < (long)size ? "yes" : res(n));
        printf("dgram send: %s\n", res(send(dgram[0], buf, size, MSG_DONTWAIT)));
        struct iovec iov[2] = {{buf, size / 2}, {buf + size / 2, size / 2}};
        int null = open("/dev/null", O_WRONLY);
        printf("writev /dev/null: %s\n", res(writev(null, iov, 2)));
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
        n = sendmsg(stream[0], &msg, MSG_DONTWAIT);
        printf("stream sendmsg: %s\n", n == -1 && errno == EAGAIN ? "EAGAIN (full)" :
               n > 0 ? "short" : res(n));
    } else if (strcmp(argv[1], "readv") == 0) {
        int fz = open("/dev/zero", O_RDONLY);
        struct iovec null_vec[1] = {{NULL, 0x7ffff000L}};
        for (int i = 0; i < 3; i++)
            printf("readv NULL: %s\n", res(readv(fz, null_vec, 1)));
        static char four[4] = "abcd";
        struct iovec partial[3] = {{four, 0}, {four, 4}, {(void *)16, GIB}};
        printf("readv short: %s, byte %d\n", res(readv(fz, partial, 3)), four[3]);
        printf("preadv short: %s\n", res(preadv(fz, partial, 3, 0)));
    } else if (strcmp(argv[1], "fill") == 0) {
        static char chunk[65536];
        int fd = open("fill", O_CREAT | O_WRONLY | O_TRUNC, 0644);
        long total = 0, n = 0;
        while (total < (4L << 20) && (n = write(fd, chunk, sizeof chunk)) > 0)
            total += n;
        printf("fill: wrote %ld, then %s\n", total, n < 0 ? strerrorname_np(errno) : "done");
        unlink("fill");
    } else if (strcmp(argv[1], "noname") == 0) {
        int fds[2] = {memfd_create("noname", 0), open("noname", O_CREAT | O_RDWR, 0644)};
        unlink("noname");
        for (int i = 0; i < 2; i++)
            printf("noname %d: pwrite at 1e9 %s\n", i, res(pwrite(fds[i], "x", 1, 1000000000L)));
    } else if (strcmp(argv[1], "sendfile") == 0) {
        int fd = open("sparse", O_CREAT | O_RDWR | O_TRUNC, 0644);
        int null = open("/dev/null", O_WRONLY);
        printf("ftruncate 64 GiB: %s\n", res(ftruncate(fd, 64 * GIB)));
        printf("pwrite at 0: %s\n", res(pwrite(fd, "x", 1, 0)));
        off_t off = 0;
        printf("sendfile 2 GiB: %s\n", res(sendfile(null, fd, &off, 0x7ffff000L)));
        printf("offset: %ld\n", (long)off);
        unlink("sparse");
    } else if (strcmp(argv[1], "sparseread") == 0) {
        pid_t child = fork();
        if (child == 0) {
            pause();
            return 0;
        }
        usleep(1000);  /* a new slice: the one that forked records no locks */
        static char buf[4096];
        int fd = open("sparse", O_CREAT | O_RDWR | O_TRUNC, 0644);
        printf("ftruncate 64 GiB: %s\n", res(ftruncate(fd, 64 * GIB)));
        printf("pwrite at 1 GiB: %s\n", res(pwrite(fd, "x", 1, GIB)));
        printf("pread 2 GiB of holes: %s\n", res(pread(fd, NULL, 0x7ffff000L, 2 * GIB)));
        printf("pread 2 GiB from the data: %s\n", res(pread(fd, NULL, 0x7ffff000L, GIB)));
        long r = pread(fd, buf, sizeof buf, GIB);
        printf("pread of the data: %s, byte %c\n", res(r), buf[0]);
        unlink("sparse");
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    } else if (strcmp(argv[1], "bigmap") == 0) {
        enum { PIECES = 128 };
        static char *maps[PIECES];
        int fd = open("big", O_CREAT | O_RDWR | O_TRUNC, 0644);
        printf("ftruncate 8 TiB: %s\n", res(ftruncate(fd, PIECES * 64 * GIB)));
        int n = 0;
        for (; n < PIECES; n++) {
            void *p = mmap(NULL, 64 * GIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, n * 64 * GIB);
            if (p == MAP_FAILED) {
                printf("map %d: %s\n", n, res(-1));
                break;
            }
            maps[n] = p;
            maps[n][64 * GIB - 1] = 1;
        }
        printf("mapped: %d GiB\n", n * 64);
        for (int i = 0; i < n; i++)
            munmap(maps[i], 64 * GIB);
        void *p = mmap(NULL, 64 * GIB, PROT_READ, MAP_SHARED, fd, 0);
        printf("map again: %s\n", p == MAP_FAILED ? res(-1) : "ok");
        unlink("big");
    } else if (strcmp(argv[1], "procalloc") == 0) {
        int fd = open("/proc/self/status", O_RDWR);
        printf("procalloc: %s\n", res(fallocate(fd, 0, 999, 999999999L)));
    }
    return 0;
}
