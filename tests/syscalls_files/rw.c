/* read, write, readv, writev, pread64, pwrite64, lseek and their errors. */
#include "check.h"

int main(void)
{
    char buf[64] = {0};
    umask(022);
    int fd = T(open("f", O_RDWR | O_CREAT | O_TRUNC, 0644));
    T(write(fd, "hello world", 11));
    T(lseek(fd, 0, SEEK_CUR));
    T(lseek(fd, 0, SEEK_SET));
    T(read(fd, buf, 5));
    printf("[%s]\n", buf);
    T(read(fd, buf, 0));
    T(read(fd, NULL, 0));
    T(pread(fd, buf, 5, 6));
    printf("[%.5s]\n", buf);
    T(pwrite(fd, "WORLD", 5, 6));
    T(lseek(fd, 0, SEEK_CUR));
    memset(buf, 0, sizeof buf);
    T(pread(fd, buf, sizeof buf, 0));
    printf("[%s]\n", buf);
    T(pread(fd, buf, 5, -1));
    T(pwrite(fd, buf, 5, -1));
    T(pread(fd, buf, 5, 1000));
    T(lseek(fd, -1, SEEK_SET));
    T(lseek(fd, 0, 7));
    T(lseek(fd, 100, SEEK_END));
    T(write(fd, "x", 1));
    T(lseek(fd, 0, SEEK_END));
    T(lseek(fd, 0, SEEK_DATA));
    T(lseek(fd, 500, SEEK_DATA));
    T(lseek(fd, 500, SEEK_HOLE));
    T(pread(fd, buf, 4, 50));
    printf("%d %d %d %d\n", buf[0], buf[1], buf[2], buf[3]);

    /* gathers and scatters */
    struct iovec out[3] = {{"ab", 2}, {"", 0}, {"cdefg", 5}};
    T(lseek(fd, 0, SEEK_SET));
    T(writev(fd, out, 3));
    char a[3] = {0}, b[4] = {0};
    struct iovec in[2] = {{a, 2}, {b, 3}};
    T(lseek(fd, 0, SEEK_SET));
    T(readv(fd, in, 2));
    printf("[%s][%s]\n", a, b);
    T(readv(fd, in, 0));
    T(readv(fd, in, -1));
    T(readv(fd, in, 1025));
    T(writev(fd, out, -1));
    T(readv(fd, BAD_POINTER, 2));
    T(lseek(fd, 0, SEEK_END));
    T(readv(fd, in, 2));

    /* bad buffers: EFAULT, and a faulting read consumes nothing */
    T(lseek(fd, 0, SEEK_SET));
    T(read(fd, BAD_POINTER, 5));
    T(lseek(fd, 0, SEEK_CUR));
    T(write(fd, BAD_POINTER, 5));
    T(read(fd, buf, (size_t)-1));
    T(syscall(SYS_write, fd, buf, 0));

    /* access modes and bad descriptors */
    T(read(-1, buf, 1));
    T(read(999, buf, 1));
    T(write(999, buf, 1));
    T(lseek(999, 0, SEEK_SET));
    int ro = T(open("f", O_RDONLY));
    T(write(ro, "x", 1));
    T(pwrite(ro, "x", 1, 0));
    T(writev(ro, out, 1));
    int wo = T(open("f", O_WRONLY));
    T(read(wo, buf, 1));
    T(pread(wo, buf, 1, 0));
    T(readv(wo, in, 1));
    int dir = T(open(".", O_RDONLY | O_DIRECTORY));
    T(read(dir, buf, 10));
    T(read(dir, buf, 0));
    T(pread(dir, buf, 10, 0));
    T(write(dir, "x", 1));
    int path = T(open("f", O_PATH));
    T(read(path, buf, 1));
    T(write(path, "x", 1));
    T(lseek(path, 0, SEEK_SET));

    /* stdout is a pipe: no seeking, no positional I/O */
    T(lseek(1, 0, SEEK_CUR));
    T(pwrite(1, "x", 1, 0));
    T(pread(1, buf, 1, 0));
    T(read(1, buf, 1));

    /* O_APPEND: every write goes to the end, pwrite too */
    int app = T(open("f", O_WRONLY | O_APPEND));
    T(lseek(app, 0, SEEK_SET));
    T(write(app, "Z", 1));
    T(lseek(app, 0, SEEK_CUR));
    T(pwrite(app, "Y", 1, 0));
    T(lseek(fd, 0, SEEK_END));

    /* memory devices */
    int null = T(open("/dev/null", O_RDWR));
    T(write(null, "abc", 3));
    T(read(null, buf, 10));
    T(lseek(null, 100, SEEK_SET));
    int zero = T(open("/dev/zero", O_RDONLY));
    memset(buf, 'x', 8);
    T(read(zero, buf, 8));
    printf("%d %d\n", buf[0], buf[7]);
    T(pread(zero, buf, 4, 1000));
    int full = T(open("/dev/full", O_WRONLY));
    T(write(full, "x", 1));
    int urandom = T(open("/dev/urandom", O_RDONLY));
    T(read(urandom, buf, 16));

    T(close(fd));
    T(close(fd));
    T(read(fd, buf, 1));
    return 0;
}
