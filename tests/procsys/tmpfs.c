/* tmpfs mount flags, options and remounts, in a private mount namespace: natively
 * (as root) the mounts never leave this process's namespace; in a coffer the guest is
 * its only process, so unshare(CLONE_NEWNS) is allowed there too. The mount lines are
 * printed with the working directory's path replaced by ".", and mountinfo without
 * its ids and device number. Cleans up after itself. */
#include "check.h"
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#pragma GCC diagnostic ignored "-Wstringop-overflow"

static char point[512];
static char block[65536];

static void show_mount(void)
{
    static const char *files[] = {"/proc/self/mounts", "/proc/self/mountinfo"};
    for (int f = 0; f < 2; f++) {
        FILE *in = fopen(files[f], "r");
        char line[1024];
        while (in && fgets(line, sizeof line, in)) {
            char *at = strstr(line, point);
            size_t n = strlen(point);
            if (!at || at[n] != ' ')
                continue;
            if (f == 1) {
                char *rest = at + n; /* mountinfo: what follows the mount point */
                printf("mountinfo .%s", rest);
            } else {
                printf("mounts %.*s.%s", (int)(at - line), line, at + n);
            }
        }
        if (in)
            fclose(in);
    }
}

static void show_statvfs(void)
{
    struct statvfs sv;
    if (statvfs("m", &sv))
        printf("statvfs = -1 %s\n", strerrorname_np(errno));
    else
        printf("statvfs blocks %lu free %lu flags %#lx\n", sv.f_blocks, sv.f_bfree, sv.f_flag);
}

static void copy_self(const char *path)
{
    int in = open("/proc/self/exe", O_RDONLY), out = open(path, O_CREAT | O_WRONLY, 0755);
    char buf[65536];
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n)
            break;
    close(in);
    close(out);
}

static void try_exec(const char *path)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {(char *)path, "hello", NULL};
        execve(path, argv, NULL);
        printf("execve(%s) = -1 %s\n", path, strerrorname_np(errno));
        fflush(stdout);
        _exit(1);
    }
    int status;
    waitpid(pid, &status, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        printf("exec'd %s, euid %d\n", argv[1], geteuid());
        return 0;
    }
    if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
        printf("no private mount namespace: %s\n", strerrorname_np(errno));
        return 2; /* never mount anything in the host's namespace */
    }
    if (!getcwd(point, sizeof point - 3))
        return 3;
    strcat(point, "/m");
    T(mkdir("m", 0700));
    /* a read-only tmpfs with options */
    T(mount("none", "m", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k,mode=750,uid=5,gid=6"));
    show_mount();
    show_statvfs();
    struct stat st;
    T(stat("m", &st));
    printf("root %o %d:%d\n", st.st_mode & 07777, st.st_uid, st.st_gid);
    T(open("m/f", O_CREAT | O_WRONLY, 0644));
    T(mkdir("m/d", 0755));
    T(access("m", W_OK));
    T(access("m", R_OK));
    T(chmod("m", 0755));
    T(chown("m", 0, 0));
    T(utimensat(AT_FDCWD, "m", NULL, 0));
    T(setxattr("m", "user.a", "v", 1, 0));
    T(mknod("m/null", S_IFCHR | 0666, makedev(1, 3)));
    /* remount read-write: writes work; ENOSPC past size= */
    T(mount(NULL, "m", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL));
    show_mount();
    int fd = T(open("m/f", O_CREAT | O_WRONLY, 0644));
    T(write(fd, block, sizeof block));
    T(write(fd, block, 1));
    T(mount(NULL, "m", NULL, MS_REMOUNT, "size=32k"));
    T(mount(NULL, "m", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, "size=128k"));
    T(write(fd, block, 1));
    show_statvfs();
    /* read-only while a file is open for writing: EBUSY */
    T(mount(NULL, "m", NULL, MS_REMOUNT | MS_RDONLY, NULL));
    T(mount(NULL, "m", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
    T(close(fd));
    T(mkdir("m/d", 0755));
    T(symlink("f", "m/link"));
    /* the mount read-only, the filesystem not */
    T(mount(NULL, "m", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL));
    show_mount();
    show_statvfs();
    T(open("m/f", O_WRONLY));
    T(open("m/f", O_RDONLY | O_TRUNC));
    T(unlink("m/f"));
    T(rename("m/f", "m/g"));
    T(link("m/f", "m/g"));
    T(rmdir("m/d"));
    T(truncate("m/f", 0));
    T(removexattr("m/f", "user.a"));
    T(close(T(open("m/f", O_RDONLY))));
    /* the filesystem read-only too, then both back to read-write */
    T(mount(NULL, "m", NULL, MS_REMOUNT | MS_RDONLY, NULL));
    show_mount();
    T(mount(NULL, "m", NULL, MS_REMOUNT | MS_NOEXEC | MS_NODEV, "size=8m"));
    show_mount();
    show_statvfs();
    /* noexec: execve EACCES, mmap PROT_EXEC EPERM */
    copy_self("m/prog");
    try_exec("m/prog");
    fd = T(open("m/prog", O_RDONLY));
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    printf("mmap PROT_EXEC: %s\n", p == MAP_FAILED ? strerrorname_np(errno) : "mapped");
    p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("mmap PROT_READ: %s\n", p == MAP_FAILED ? strerrorname_np(errno) : "mapped");
    if (p != MAP_FAILED)
        munmap(p, 4096); /* a mapping keeps its filesystem busy */
    T(close(fd));
    /* nodev: a device node cannot be opened */
    T(mknod("m/null", S_IFCHR | 0666, makedev(1, 3)));
    T(open("m/null", O_RDONLY));
    /* nosuid: a set-user-ID program runs with its caller's ids */
    T(unlink("m/null"));
    T(mount(NULL, "m", NULL, MS_REMOUNT | MS_NOSUID, NULL));
    T(chown("m/prog", 5, 5));
    T(chmod("m/prog", 04755));
    try_exec("m/prog");
    T(mount(NULL, "m", NULL, MS_REMOUNT, NULL));
    show_mount();
    try_exec("m/prog");
    /* bad options */
    T(mount(NULL, "m", NULL, MS_REMOUNT, "bogus=1"));
    T(mount("none", "m", "tmpfs", 0, "size=12q"));
    T(mount("none", "m", "tmpfs", 0, "mode=abc"));
    T(mount(NULL, ".", NULL, MS_REMOUNT, NULL));
    T(mount(NULL, "m", NULL, MS_PRIVATE, NULL));
    T(mount(NULL, "m", NULL, MS_PRIVATE | MS_SHARED, NULL));
    T(umount2("m", 0));
    T(rmdir("m"));
    return 0;
}
