/* getdents64: records, resumption, small buffers, rewinding, errors. */
#include "check.h"

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List a directory through getdents64 with a buffer of `size` bytes, in name order
 * (native filesystems return hash order). */
static void list(int fd, size_t size, int names)
{
    char buf[4096], *lines[64];
    int n = 0, calls = 0;
    long got;
    while ((got = syscall(SYS_getdents64, fd, buf, size)) > 0) {
        calls++;
        for (long off = 0; off < got;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            char *line = malloc(300);
            snprintf(line, 300, "  %s type %d reclen %d", d->d_name, d->d_type, d->d_reclen);
            lines[n++] = line;
            off += d->d_reclen;
        }
    }
    if (got < 0)
        printf("  getdents64: %s\n", strerrorname_np(errno));
    qsort(lines, n, sizeof *lines, compare);
    for (int i = 0; i < n; i++) {
        if (names)
            puts(lines[i]);
        free(lines[i]);
    }
    printf("  %d entries in %d calls\n", n, calls);
}

int main(void)
{
    char buf[4096];
    T(mkdir("d", 0755));
    close(open("d/a", O_CREAT | O_WRONLY, 0644));
    T(mkdir("d/sub", 0755));
    T(symlink("a", "d/lnk"));
    int fd = T(open("d", O_RDONLY | O_DIRECTORY));
    list(fd, sizeof buf, 1);
    T(syscall(SYS_getdents64, fd, buf, sizeof buf));
    T(lseek(fd, 0, SEEK_SET));
    list(fd, 24, 1); /* every record here is 24 bytes: one per call */

    /* resume after the first record (which one it is depends on the filesystem) */
    T(lseek(fd, 0, SEEK_SET));
    T(syscall(SYS_getdents64, fd, buf, 24));
    struct linux_dirent64 *first = (struct linux_dirent64 *)buf;
    T(lseek(fd, first->d_off, SEEK_SET) == first->d_off);
    list(fd, sizeof buf, 0);
    T(lseek(fd, 0, SEEK_SET));
    list(fd, sizeof buf, 0);

    /* a record longer than the buffer */
    close(open("d/a-much-longer-name-of-thirty-nine-bytes", O_CREAT | O_WRONLY, 0644));
    T(lseek(fd, 0, SEEK_SET));
    list(fd, 64, 1);
    T(lseek(fd, 0, SEEK_SET));
    long got;
    while ((got = syscall(SYS_getdents64, fd, buf, 63)) > 0)
        ;
    T(got);
    T(lseek(fd, 0, SEEK_SET));
    T(syscall(SYS_getdents64, fd, buf, 10));
    T(syscall(SYS_getdents64, fd, buf, 0));
    T(syscall(SYS_getdents64, fd, BAD_POINTER, sizeof buf));

    /* libc's readdir over the same directory */
    DIR *dir = opendir("d");
    char *names[16];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        names[n++] = strdup(e->d_name);
    closedir(dir);
    qsort(names, n, sizeof *names, compare);
    for (int i = 0; i < n; i++)
        printf("  readdir %s\n", names[i]);

    /* errors */
    int file = T(open("d/a", O_RDONLY));
    T(syscall(SYS_getdents64, file, buf, sizeof buf));
    T(syscall(SYS_getdents64, 999, buf, sizeof buf));
    T(syscall(SYS_getdents64, 1, buf, sizeof buf));
    int path = T(open("d", O_PATH));
    T(syscall(SYS_getdents64, path, buf, sizeof buf));
    T(mkdir("gone", 0755));
    int gone = T(open("gone", O_RDONLY | O_DIRECTORY));
    T(rmdir("gone"));
    T(syscall(SYS_getdents64, gone, buf, sizeof buf));
    int empty = T(open("d/sub", O_RDONLY | O_DIRECTORY));
    list(empty, sizeof buf, 1);
    return 0;
}
