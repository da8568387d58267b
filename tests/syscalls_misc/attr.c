/* chmod and chown families, utimensat/utimes/futimesat/utime, truncate, ftruncate,
 * fallocate, fadvise64, fsync and friends: results and errno names, no host values. */
#include "check.h"
#include <sys/time.h>
#include <utime.h>

static void show_mode(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        printf("mode(%s) = %o uid %d gid %d\n", path, st.st_mode, (int)st.st_uid, (int)st.st_gid);
    else
        printf("mode(%s) = -1 %s\n", path, strerrorname_np(errno));
}

static void show_times(const char *path)
{
    struct stat st;
    stat(path, &st);
    printf("times(%s): atime %ld.%09ld mtime %ld.%09ld\n", path, (long)st.st_atim.tv_sec,
           st.st_atim.tv_nsec, (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static long size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int main(void)
{
    int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
    mkdir("d", 0755);
    symlink("f", "ln");

    /* chmod family */
    T(chmod("f", 04755));
    show_mode("f");
    T(fchmod(fd, 0600));
    show_mode("f");
    T(fchmodat(AT_FDCWD, "ln", 0640, 0));
    show_mode("f");
    T(chmod("missing", 0644));
    T(chmod("", 0644));
    T(fchmod(-1, 0644));
    T(fchmodat(AT_FDCWD, "f", 0644, 0x4000));
    int opath = open("f", O_PATH);
    T(fchmod(opath, 0644));
    T(syscall(SYS_fchmodat, AT_FDCWD, "f", 0100644));
    show_mode("f");
    T(chmod("d", 01777));
    show_mode("d");

    /* chown family (the test runs as root) */
    T(chown("f", 1000, 1001));
    show_mode("f");
    T(chmod("f", 06755));
    T(chown("f", -1, -1));
    show_mode("f");
    T(chmod("f", 02745));
    T(fchown(fd, 0, 0));
    show_mode("f");
    T(lchown("ln", 7, 8));
    show_mode("ln");
    show_mode("f");
    T(fchownat(AT_FDCWD, "ln", 9, 9, 0));
    show_mode("f");
    T(fchownat(AT_FDCWD, "ln", 0, 0, AT_SYMLINK_NOFOLLOW));
    show_mode("ln");
    T(fchownat(fd, "", 5, 5, AT_EMPTY_PATH));
    show_mode("f");
    T(fchownat(AT_FDCWD, "f", 0, 0, 0x8));
    T(chown("missing", 0, 0));
    T(fchown(99, 0, 0));
    T(chown("f", 0, 0));

    /* utimensat and friends */
    struct timespec ts[2] = {{1000000000, 123456789}, {1100000000, 5}};
    T(utimensat(AT_FDCWD, "f", ts, 0));
    show_times("f");
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_sec = 1200000000;
    ts[1].tv_nsec = 0;
    T(utimensat(AT_FDCWD, "f", ts, 0));
    show_times("f");
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_nsec = UTIME_OMIT;
    T(utimensat(AT_FDCWD, "missing", ts, 0));
    ts[0].tv_nsec = 1000000000;
    ts[1].tv_nsec = 0;
    T(utimensat(AT_FDCWD, "f", ts, 0));
    T(utimensat(AT_FDCWD, "missing", ts, 0));
    T(utimensat(AT_FDCWD, "f", NULL, 0x8));
    T(utimensat(AT_FDCWD, "f", BAD_POINTER, 0));
    struct timespec fdts[2] = {{1300000000, 0}, {1400000000, 0}};
    T(futimens(fd, fdts));
    show_times("f");
    T(syscall(SYS_utimensat, fd, NULL, fdts, AT_SYMLINK_NOFOLLOW));
    T(syscall(SYS_utimensat, AT_FDCWD, NULL, fdts, 0));
    T(futimens(77, fdts));
    struct timespec lts[2] = {{1500000000, 0}, {1500000001, 0}};
    T(utimensat(AT_FDCWD, "ln", lts, AT_SYMLINK_NOFOLLOW));
    struct stat lst;
    lstat("ln", &lst);
    printf("link mtime %ld\n", (long)lst.st_mtim.tv_sec);
    show_times("f");
    struct stat before, after;
    stat("f", &before);
    T(utimensat(AT_FDCWD, "f", NULL, 0));
    stat("f", &after);
    printf("now moved mtime forward: %d\n", after.st_mtim.tv_sec > before.st_mtim.tv_sec);
    struct timeval tv[2] = {{1600000000, 250000}, {1600000001, 999999}};
    T(utimes("f", tv));
    show_times("f");
    tv[0].tv_usec = 1000000;
    T(utimes("f", tv));
    T(syscall(SYS_futimesat, AT_FDCWD, "f", NULL));
    struct utimbuf ub = {1700000000, 1700000002};
    T(utime("f", &ub));
    show_times("f");
    T(utime("missing", &ub));

    /* truncate, ftruncate, fallocate */
    T(write(fd, "hello world", 11));
    T(truncate("f", 5));
    printf("size %ld\n", size_of("f"));
    T(truncate("f", -1));
    T(truncate("d", 0));
    T(truncate("missing", 0));
    T(ftruncate(fd, 20));
    printf("size %ld\n", size_of("f"));
    T(ftruncate(fd, -5));
    int rdonly = open("f", O_RDONLY);
    T(ftruncate(rdonly, 0));
    int dirfd = open("d", O_RDONLY | O_DIRECTORY);
    T(ftruncate(dirfd, 0));
    T(ftruncate(opath, 0));
    T(ftruncate(1234, 0));
    T(fallocate(fd, 0, 0, 100));
    printf("size %ld\n", size_of("f"));
    T(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4000));
    printf("size %ld\n", size_of("f"));
    T(pwrite(fd, "abcdefgh", 8, 0));
    T(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2, 3));
    char buf[16] = {0};
    T(pread(fd, buf, 8, 0));
    printf("after punch: %c%c[%d%d%d]%c%c%c\n", buf[0], buf[1], buf[2], buf[3], buf[4],
           buf[5], buf[6], buf[7]);
    T(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 1));
    T(fallocate(fd, 0, -1, 10));
    T(fallocate(fd, 0, 0, 0));
    T(fallocate(rdonly, 0, 0, 10));
    T(fallocate(dirfd, 0, 0, 10));
    int pipefd[2];
    pipe(pipefd);
    T(fallocate(pipefd[1], 0, 0, 10));
    int null = open("/dev/null", O_WRONLY);
    T(fallocate(null, 0, 0, 10));

    /* fadvise (glibc returns the error number) */
    printf("fadvise = %d\n", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL));
    printf("fadvise bad advice = %s\n", strerrorname_np(posix_fadvise(fd, 0, 0, 99)));
    printf("fadvise negative len = %s\n", strerrorname_np(posix_fadvise(fd, 0, -1, 0)));
    printf("fadvise pipe = %s\n", strerrorname_np(posix_fadvise(pipefd[0], 0, 0, 0)));
    printf("fadvise bad fd = %s\n", strerrorname_np(posix_fadvise(55, 0, 0, 0)));

    /* sync family */
    T(fsync(fd));
    T(fdatasync(fd));
    T(fsync(dirfd));
    T(fsync(pipefd[0]));
    T(fsync(null));
    T(fsync(88));
    T(fsync(opath));
    T(syncfs(fd));
    T(syncfs(88));
    T(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
    T(sync_file_range(fd, 0, 0, 0x10));
    T(sync_file_range(fd, -1, 0, 0));
    T(sync_file_range(pipefd[0], 0, 0, 0));
    sync();
    puts("sync done");

    unlink("ln");
    unlink("f");
    rmdir("d");
    return 0;
}
