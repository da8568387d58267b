/* open, openat, creat, close, access, faccessat2, chdir, fchdir, getcwd, umask. */
#include "check.h"

static void show_mode(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        printf("mode %s %o\n", path, st.st_mode);
    else
        printf("mode %s: %s\n", path, strerrorname_np(errno));
}

static void show_cwd(void)
{
    char buf[256];
    long n = syscall(SYS_getcwd, buf, sizeof buf);
    if (n < 0)
        printf("getcwd: %s\n", strerrorname_np(errno));
    else
        printf("getcwd ends in /%s, length ok %d\n", strrchr(buf, '/') + 1,
               n == (long)strlen(buf) + 1);
}

int main(void)
{
    char buf[64];
    T(umask(022));
    T(open("nofile", O_RDONLY));
    int a = T(open("a", O_WRONLY | O_CREAT | O_EXCL, 0600));
    T(open("a", O_WRONLY | O_CREAT | O_EXCL, 0600));
    T(open("a/", O_RDONLY));
    T(open("a/", O_RDONLY | O_CREAT, 0644));
    T(open("a", O_RDONLY | O_DIRECTORY));
    T(open(".", O_WRONLY));
    T(open(".", O_RDWR));
    T(open(".", O_RDONLY | O_CREAT, 0644));
    T(open(".", O_RDONLY | O_DIRECTORY | O_CREAT, 0644));
    T(open("missing/x", O_RDONLY | O_CREAT, 0644));
    T(open("", O_RDONLY));
    T(syscall(SYS_open, NULL, O_RDONLY));
    T(syscall(SYS_open, BAD_POINTER, O_RDONLY));
    show_mode("a");
    T(write(a, "data", 4));
    int t = T(open("a", O_RDWR | O_TRUNC));
    T(lseek(t, 0, SEEK_END));
    T(syscall(SYS_open, "a", O_RDONLY));
    T(syscall(SYS_creat, "c", 0777));
    show_mode("c");
    T(umask(077));
    T(creat("u", 0666));
    show_mode("u");
    T(umask(022));
    T(open("x666", O_CREAT | O_WRONLY, 07777));
    show_mode("x666");

    /* flags kept in the open file */
    int ce = T(open("a", O_RDONLY | O_CLOEXEC));
    T(fcntl(ce, F_GETFD));
    printf("GETFL %#lx\n", (long)fcntl(ce, F_GETFL));
    int rw = T(open("a", O_RDWR | O_APPEND | O_NONBLOCK | O_NOCTTY));
    printf("GETFL %#lx\n", (long)fcntl(rw, F_GETFL));
    int d = T(open(".", O_RDONLY | O_DIRECTORY));
    printf("GETFL %#lx\n", (long)fcntl(d, F_GETFL));
    int p = T(open("a", O_PATH | O_RDWR | O_APPEND));
    printf("GETFL %#lx\n", (long)fcntl(p, F_GETFL));

    /* openat relative to a directory */
    T(mkdir("sub", 0755));
    int sub = T(open("sub", O_RDONLY | O_DIRECTORY));
    T(openat(sub, "x", O_CREAT | O_WRONLY, 0644));
    T(access("sub/x", F_OK));
    T(openat(sub, "../a", O_RDONLY));
    T(openat(a, "x", O_RDONLY));
    T(openat(999, "x", O_RDONLY));
    T(openat(-5, "x", O_RDONLY));
    T(openat(999, "/dev/null", O_RDONLY));
    T(openat(999, "", O_RDONLY));
    T(openat(1, "x", O_RDONLY));
    T(openat(AT_FDCWD, "sub/x", O_RDONLY));
    int subpath = T(open("sub", O_PATH));
    T(openat(subpath, "x", O_RDONLY));

    /* symlinks */
    T(symlink("loop", "loop"));
    T(open("loop", O_RDONLY));
    T(open("loop", O_RDONLY | O_NOFOLLOW));
    T(symlink("a", "la"));
    T(open("la", O_RDONLY));
    T(open("la", O_RDONLY | O_NOFOLLOW));
    int lp = T(open("la", O_PATH | O_NOFOLLOW));
    struct stat st;
    T(fstat(lp, &st));
    printf("symlink %d\n", S_ISLNK(st.st_mode));
    T(symlink("newtarget", "dangling"));
    T(open("dangling", O_CREAT | O_EXCL | O_WRONLY, 0644));
    T(open("dangling", O_CREAT | O_WRONLY, 0644));
    T(access("newtarget", F_OK));
    T(open("/dev/tty", O_RDWR));
    T(open("/dev/null/", O_RDONLY));

    /* access and faccessat2 (as the owner; only X_OK is refused here) */
    T(access("a", F_OK));
    T(access("a", R_OK | W_OK));
    T(access("a", X_OK));
    T(access("sub", X_OK));
    T(access("nofile", F_OK));
    T(access("a", 8));
    T(access("", F_OK));
    T(syscall(SYS_faccessat, sub, "x", R_OK));
    T(symlink("nowhere", "dd"));
    T(access("dd", F_OK));
    T(syscall(SYS_faccessat2, AT_FDCWD, "dd", F_OK, AT_SYMLINK_NOFOLLOW));
    T(syscall(SYS_faccessat2, AT_FDCWD, "a", F_OK, 1));
    T(syscall(SYS_faccessat2, a, "", R_OK, AT_EMPTY_PATH));

    /* the working directory */
    T(chdir("sub"));
    show_cwd();
    T(open("x", O_RDONLY) >= 0);
    T(syscall(SYS_getcwd, buf, 1));
    T(syscall(SYS_getcwd, BAD_POINTER, 100));
    T(chdir("../a"));
    T(chdir("nofile"));
    T(chdir(""));
    T(chdir(".."));
    T(fchdir(sub));
    show_cwd();
    T(fchdir(subpath));
    T(fchdir(a));
    T(fchdir(999));
    T(fchdir(1));
    T(chdir(".."));
    T(mkdir("gone", 0755));
    T(chdir("gone"));
    T(rmdir("../gone"));
    show_cwd();
    T(open("new", O_CREAT | O_WRONLY, 0644));
    T(chdir(".."));

    T(close(a));
    T(close(a));
    T(close(-1));
    T(close(999));
    return 0;
}
