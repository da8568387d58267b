/* stat, lstat, fstat, newfstatat, statx, readlink, readlinkat. */
#include "check.h"

static struct stat st;

static void show_stat(const char *what)
{
    printf("%s: mode %o nlink %lu size %ld uid-is-me %d\n", what, st.st_mode,
           (unsigned long)st.st_nlink, (long)st.st_size, st.st_uid == getuid());
}

int main(void)
{
    char buf[64] = {0};
    umask(022);
    int fd = T(open("f", O_CREAT | O_RDWR, 0640));
    static char big[10000];
    T(write(fd, big, sizeof big));
    T(stat("f", &st));
    show_stat("stat f");
    struct stat fst;
    T(fstat(fd, &fst));
    printf("fstat same inode %d dev %d\n", fst.st_ino == st.st_ino, fst.st_dev == st.st_dev);
    T(syscall(SYS_stat, "f", &st));
    show_stat("SYS_stat f");
    T(syscall(SYS_stat, "f", NULL));
    T(syscall(SYS_stat, NULL, &st));
    T(syscall(SYS_fstat, fd, BAD_POINTER));
    T(stat("nofile", &st));
    T(stat("f/", &st));
    T(stat("", &st));
    T(fstat(999, &st));
    T(fstat(-1, &st));

    T(symlink("f", "lf"));
    T(lstat("lf", &st));
    show_stat("lstat lf");
    T(syscall(SYS_lstat, "lf", &st));
    show_stat("SYS_lstat lf");
    T(stat("lf", &st));
    show_stat("stat lf");

    T(mkdir("d", 0755));
    T(mkdir("d/e", 0700));
    T(stat("d", &st));
    show_stat("stat d");
    int dfd = T(open("d", O_RDONLY | O_DIRECTORY));
    T(fstatat(dfd, "e", &st, 0));
    show_stat("fstatat d e");
    T(fstatat(dfd, "", &st, AT_EMPTY_PATH));
    show_stat("empty path d");
    T(fstatat(fd, "", &st, AT_EMPTY_PATH));
    show_stat("empty path f");
    T(fstatat(fd, "", &st, 0));
    T(fstatat(fd, "x", &st, 0));
    T(fstatat(999, "x", &st, 0));
    T(fstatat(999, "/dev/null", &st, 0));
    T(syscall(SYS_newfstatat, AT_FDCWD, "f", &st, 1));
    T(fstatat(AT_FDCWD, "lf", &st, AT_SYMLINK_NOFOLLOW));
    show_stat("fstatat nofollow lf");
    T(fstat(1, &st));
    printf("stdout is a fifo %d\n", S_ISFIFO(st.st_mode));
    T(stat("/dev/null", &st));
    printf("/dev/null chr %d rdev %u:%u mode %o\n", S_ISCHR(st.st_mode), major(st.st_rdev),
           minor(st.st_rdev), st.st_mode & 07777);
    int p = T(open("lf", O_PATH | O_NOFOLLOW));
    T(fstat(p, &st));
    show_stat("fstat O_PATH symlink");

    /* statx */
    struct statx sx;
    T(stat("f", &st));
    T(statx(AT_FDCWD, "f", 0, STATX_BASIC_STATS, &sx));
    printf("statx mask basic %d mode %o size %llu nlink %u blksize-ok %d\n",
           (sx.stx_mask & STATX_BASIC_STATS) == STATX_BASIC_STATS, sx.stx_mode,
           (unsigned long long)sx.stx_size, sx.stx_nlink, sx.stx_blksize == st.st_blksize);
    printf("statx agrees: ino %d blocks %d dev %d mtime %d %d ctime %d atime %d uid %d\n",
           sx.stx_ino == st.st_ino, sx.stx_blocks == (unsigned long long)st.st_blocks,
           makedev(sx.stx_dev_major, sx.stx_dev_minor) == st.st_dev,
           sx.stx_mtime.tv_sec == st.st_mtim.tv_sec,
           sx.stx_mtime.tv_nsec == (unsigned)st.st_mtim.tv_nsec,
           sx.stx_ctime.tv_sec == st.st_ctim.tv_sec, sx.stx_atime.tv_sec == st.st_atim.tv_sec,
           sx.stx_uid == st.st_uid);
    T(statx(AT_FDCWD, "lf", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx));
    printf("statx lf mode %o size %llu\n", sx.stx_mode, (unsigned long long)sx.stx_size);
    T(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
    printf("statx fd size %llu\n", (unsigned long long)sx.stx_size);
    T(statx(AT_FDCWD, "/dev/zero", 0, STATX_BASIC_STATS, &sx));
    printf("statx zero rdev %u:%u\n", sx.stx_rdev_major, sx.stx_rdev_minor);
    T(statx(AT_FDCWD, "f", AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC, STATX_BASIC_STATS, &sx));
    T(statx(AT_FDCWD, "f", 0, 0x80000000u, &sx));
    T(statx(AT_FDCWD, "f", 1, STATX_BASIC_STATS, &sx));
    T(statx(AT_FDCWD, "nofile", 0, STATX_BASIC_STATS, &sx));
    T(statx(AT_FDCWD, "f", 0, STATX_BASIC_STATS, BAD_POINTER));

    /* readlink */
    T(readlink("lf", buf, sizeof buf));
    printf("[%s]\n", buf);
    T(symlink("abcdefgh", "lg"));
    memset(buf, 0, sizeof buf);
    T(readlink("lg", buf, 3));
    printf("[%s]\n", buf);
    T(readlink("lg", buf, 0));
    T(syscall(SYS_readlink, "lg", buf, -1));
    T(readlink("f", buf, sizeof buf));
    T(readlink("nofile", buf, sizeof buf));
    T(readlink("", buf, sizeof buf));
    T(readlink("lg", BAD_POINTER, sizeof buf));
    T(symlink("../f", "d/up"));
    memset(buf, 0, sizeof buf);
    T(readlinkat(dfd, "up", buf, sizeof buf));
    printf("[%s]\n", buf);
    memset(buf, 0, sizeof buf);
    T(readlinkat(p, "", buf, sizeof buf));
    printf("[%s]\n", buf);
    T(readlinkat(fd, "", buf, sizeof buf));
    T(readlinkat(AT_FDCWD, "", buf, sizeof buf));
    T(readlinkat(999, "up", buf, sizeof buf));
    T(stat("d/up", &st));
    show_stat("stat d/up");
    return 0;
}
