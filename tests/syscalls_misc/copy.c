/* sendfile, copy_file_range and memfd_create: data, offsets and errors. */
#include "check.h"
#include <sys/mman.h>
#include <sys/sendfile.h>

static void show_file(const char *path)
{
    char buf[128] = {0};
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("%s (%zd): [%s]\n", path, n, buf);
}

int main(void)
{
    int src = open("src", O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(src, "0123456789abcdefghij", 20);
    int dst = open("dst", O_CREAT | O_RDWR | O_TRUNC, 0644);

    /* sendfile: from the file offset, or from *offset leaving the offset alone */
    T(lseek(src, 5, SEEK_SET));
    T(sendfile(dst, src, NULL, 4));
    T(lseek(src, 0, SEEK_CUR));
    off_t off = 12;
    T(sendfile(dst, src, &off, 100));
    printf("off now %ld\n", (long)off);
    T(lseek(src, 0, SEEK_CUR));
    show_file("dst");
    off = 100;
    T(sendfile(dst, src, &off, 10));
    T(sendfile(dst, src, NULL, 0));
    off = -1;
    T(sendfile(dst, src, &off, 1));
    T(sendfile(dst, 99, NULL, 1));
    T(sendfile(99, src, NULL, 1));
    int wronly = open("src", O_WRONLY);
    T(sendfile(dst, wronly, NULL, 1));
    int rdonly = open("dst", O_RDONLY);
    T(sendfile(rdonly, src, NULL, 1));
    int app = open("dst", O_WRONLY | O_APPEND);
    T(sendfile(app, src, NULL, 1));
    T(sendfile(dst, src, BAD_POINTER, 1));
    int p[2];
    pipe(p);
    off = 0;
    T(sendfile(p[1], src, &off, 6));
    char buf[32] = {0};
    T(read(p[0], buf, sizeof buf));
    printf("pipe got [%s]\n", buf);
    T(sendfile(1, src, &off, 3));
    printf("\n");

    /* copy_file_range */
    int out = open("out", O_CREAT | O_RDWR | O_TRUNC, 0644);
    loff_t in_off = 10, out_off = 2;
    T(copy_file_range(src, &in_off, out, &out_off, 5, 0));
    printf("offsets %ld %ld\n", (long)in_off, (long)out_off);
    T(lseek(src, 0, SEEK_CUR));
    T(lseek(src, 15, SEEK_SET));
    T(copy_file_range(src, NULL, out, NULL, 100, 0));
    T(lseek(src, 0, SEEK_CUR));
    T(lseek(out, 0, SEEK_CUR));
    show_file("out");
    T(copy_file_range(src, NULL, out, NULL, 5, 1));
    in_off = 50;
    T(copy_file_range(src, &in_off, out, NULL, 5, 0));
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    T(copy_file_range(dir, NULL, out, NULL, 5, 0));
    T(copy_file_range(p[0], NULL, out, NULL, 5, 0));
    T(copy_file_range(wronly, NULL, out, NULL, 5, 0));
    T(copy_file_range(src, NULL, rdonly, NULL, 5, 0));
    in_off = 0;
    out_off = 3;
    T(copy_file_range(src, &in_off, src, &out_off, 5, 0));
    out_off = 10;
    T(copy_file_range(src, &in_off, src, &out_off, 5, 0));
    show_file("src");
    T(copy_file_range(77, NULL, out, NULL, 5, 0));

    /* memfd_create */
    int m = T(memfd_create("scratch", MFD_CLOEXEC));
    T(fcntl(m, F_GETFD));
    T(fcntl(m, F_GETFL) & O_ACCMODE);
    T(write(m, "in memory", 9));
    struct stat st;
    fstat(m, &st);
    printf("memfd: reg %d size %ld perms %o nlink %ld\n", S_ISREG(st.st_mode), (long)st.st_size,
           st.st_mode & 0777, (long)st.st_nlink);
    T(pread(m, buf, 9, 0));
    printf("memfd read [%.9s]\n", buf);
    T(ftruncate(m, 4096));
    char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    printf("mapped [%.9s]\n", map == MAP_FAILED ? "failed" : map);
    int m2 = T(memfd_create("plain", 0));
    T(fcntl(m2, F_GETFD));
    T(memfd_create("x", 0x100));
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    T(memfd_create(longname, 0));
    T(memfd_create(BAD_POINTER, 0));
    T(memfd_create("both", 0x10 | 0x8)); /* MFD_EXEC | MFD_NOEXEC_SEAL */
    unlink("src");
    unlink("dst");
    unlink("out");
    return 0;
}
