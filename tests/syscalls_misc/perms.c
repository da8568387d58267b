/* File permissions and capabilities: what a process that is not root may do to the
 * files of others. Runs as root (natively the tests run as root too): root builds a
 * small tree with chosen owners and modes, then each child takes other ids and tries
 * its luck, one at a time. Prints every result or errno name; cleans up after itself. */
#include "check.h"
#include <grp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#define NOBODY 65534
#define USER 1000
#define STAFF 100

/* open, print "ok" or the errno, close: descriptor numbers are not the point */
static void try_open(const char *path, int flags)
{
    int fd = open(path, flags, 0666);
    if (fd < 0)
        printf("open %s %#o = -1 %s\n", path, flags, strerrorname_np(errno));
    else
        printf("open %s %#o = ok\n", path, flags);
    fflush(stdout);
    if (fd >= 0)
        close(fd);
}

static void stat_of(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        printf("stat %s = -1 %s\n", path, strerrorname_np(errno));
    else
        printf("stat %s: mode %o uid %d gid %d\n", path, st.st_mode & 07777, st.st_uid,
               st.st_gid);
    fflush(stdout);
}

static void make(const char *path, int mode, uid_t uid, gid_t gid)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "data\n", 5) != 5 || fchown(fd, uid, gid) || fchmod(fd, mode)) {
        perror(path);
        exit(1);
    }
    close(fd);
}

static void makedir(const char *path, int mode, uid_t uid, gid_t gid)
{
    if (mkdir(path, 0700) || chown(path, uid, gid) || chmod(path, mode)) {
        perror(path);
        exit(1);
    }
}

static void caps(const char *when)
{
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &head, data) < 0) {
        printf("capget = -1 %s\n", strerrorname_np(errno));
    } else {
        unsigned eff = data[0].effective, prm = data[0].permitted;
        printf("%s: effective %s%s%s permitted %s\n", when, eff == 0 ? "none" : "",
               eff & (1u << CAP_DAC_OVERRIDE) ? "dac_override " : "",
               eff & (1u << CAP_SETUID) ? "setuid" : "",
               prm == 0 ? "none" : (prm & (1u << CAP_SETUID)) ? "has setuid" : "some");
    }
    fflush(stdout);
}

static void become(uid_t uid, gid_t gid, int ngroups, const gid_t *groups)
{
    if (setgroups(ngroups, groups) || setgid(gid) || setuid(uid)) {
        perror("become");
        exit(1);
    }
}

static void run(const char *name, void (*child)(void))
{
    printf("-- %s\n", name);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        child();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("-- %s exit status %d\n", name, WEXITSTATUS(status));
    fflush(stdout);
}

static int unix_socket(const char *path, int do_bind)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int rc = do_bind ? bind(fd, (struct sockaddr *)&addr, sizeof addr)
                     : connect(fd, (struct sockaddr *)&addr, sizeof addr);
    printf("%s %s = %s\n", do_bind ? "bind" : "connect", path,
           rc < 0 ? strerrorname_np(errno) : "ok");
    fflush(stdout);
    if (do_bind && rc == 0)
        listen(fd, 4);
    return fd;
}

static void as_nobody(void)
{
    become(NOBODY, NOBODY, 0, NULL);
    T(getuid());
    try_open("root644", O_RDONLY);
    try_open("root644", O_WRONLY);
    try_open("root644", O_RDWR);
    try_open("root644", O_RDONLY | O_TRUNC);
    try_open("root644", O_WRONLY | O_APPEND);
    try_open("root600", O_RDONLY);
    try_open("root640", O_RDONLY);
    try_open("user600", O_RDONLY);
    try_open("rootdir", O_RDONLY | O_DIRECTORY);
    try_open("private", O_RDONLY | O_DIRECTORY);
    try_open("private", O_PATH);
    T(access("root644", R_OK));
    T(access("root644", W_OK));
    T(access("root644", X_OK));
    T(access("root644", F_OK));
    T(access("rootdir", W_OK));
    T(access("rootdir", X_OK));
    try_open("rootdir/new", O_CREAT | O_WRONLY);
    try_open("rootdir/file", O_RDONLY);
    try_open("rootdir/file", O_CREAT | O_RDONLY);
    try_open("rootdir/file", O_CREAT | O_EXCL | O_RDONLY);
    T(mkdir("rootdir/d", 0755));
    T(mkdir("rootdir/file", 0755));
    T(symlink("x", "rootdir/link"));
    T(mknod("rootdir/fifo", S_IFIFO | 0644, 0));
    T(unlink("rootdir/file"));
    T(unlink("rootdir/missing"));
    T(rmdir("rootdir/sub"));
    T(rename("rootdir/file", "rootdir/moved"));
    T(rename("rootdir/file", "sticky/moved"));
    T(unlink("root644"));
    T(link("root644", "sticky/hard"));
    T(link("public666", "sticky/hard"));
    T(unlink("sticky/hard"));
    T(chmod("root644", 0666));
    T(chown("root644", NOBODY, -1));
    T(chown("root644", -1, NOBODY));
    T(lchown("root644", -1, -1));
    struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
    T(utimensat(AT_FDCWD, "root644", times, 0));
    T(utimensat(AT_FDCWD, "root644", NULL, 0));
    T(utimensat(AT_FDCWD, "public666", NULL, 0));
    T(utimensat(AT_FDCWD, "public666", times, 0));
    T(truncate("root644", 0));
    T(truncate("public666", 2));
    /* search permission on every component */
    stat_of("private/f");
    try_open("private/f", O_RDONLY);
    try_open("private/f", O_PATH);
    T(access("private/f", F_OK));
    T(access("private", R_OK));
    T(chdir("private"));
    T(mkdir("private/d", 0755));
    T(unlink("private/f"));
    T(readlink("private/link", (char[16]){0}, 16));
    T(access("private/../root644", F_OK));
    T(access("searchonly/f", R_OK));
    stat_of("searchonly/f");
    try_open("searchonly", O_RDONLY | O_DIRECTORY);
    /* the sticky bit */
    T(unlink("sticky/theirs"));
    T(rename("sticky/theirs", "sticky/gone"));
    T(rename("sticky/mine", "sticky/theirs"));
    T(unlink("sticky/rootf"));
    T(unlink("sticky/mine"));
    try_open("sticky/new", O_CREAT | O_WRONLY);
    stat_of("sticky/new");
    T(mkdir("sticky/newdir", 0777));
    stat_of("sticky/newdir");
    T(chmod("sticky/new", 0604));
    stat_of("sticky/new");
    T(rename("sticky/new", "sticky/renamed"));
    T(unlink("sticky/renamed"));
    T(rmdir("sticky/newdir"));
    /* a directory that changes parent needs write permission on itself (its "..") */
    T(mkdir("sticky/ro", 0555));
    T(rename("sticky/ro", "open/ro"));
    T(rename("sticky/ro", "sticky/ro2"));
    T(chmod("sticky/ro2", 0755));
    T(rename("sticky/ro2", "open/ro"));
    T(rmdir("open/ro"));
    T(rmdir("rootdir"));
    T(rmdir("open"));
    /* execute permission */
    char *argv[] = {"prog", NULL};
    T(execve("root644", argv, NULL));
    T(execve("private/f", argv, NULL));
    T(execve("rootdir", argv, NULL));
    /* /proc: one's own files are one's own, the parent's private ones are not */
    try_open("/proc/self/status", O_RDONLY);
    try_open("/proc/self/environ", O_RDONLY);
    try_open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
    char parent_environ[64];
    snprintf(parent_environ, sizeof parent_environ, "/proc/%d/environ", (int)getppid());
    int fd = open(parent_environ, O_RDONLY);
    printf("open parent's environ = %s\n", fd < 0 ? strerrorname_np(errno) : "ok");
    /* AF_UNIX socket files: write permission to connect */
    close(unix_socket("sock755", 0));
    close(unix_socket("sock777", 0));
    close(unix_socket("rootdir/sock", 1));
    close(unix_socket("sticky/sock", 1));
    stat_of("sticky/sock");
    T(unlink("sticky/sock"));
    /* signals: only to processes of one's own uid, but SIGCONT within the session */
    T(kill(getppid(), 0));
    T(kill(getppid(), SIGCONT));
    T(kill(getpid(), 0));
    T(syscall(SYS_tgkill, getppid(), getppid(), 0));
    /* privileges: gone for good */
    caps("nobody");
    T(setuid(0));
    T(seteuid(0));
    T(setgid(0));
    T(setgroups(0, NULL));
    T(mknod("sticky/null", S_IFCHR | 0666, makedev(1, 3)));
    T(setfsuid(0));
    T(setfsuid(-1));
}

static void as_user_in_staff(void)
{
    gid_t staff[] = {STAFF};
    become(USER, 200, 1, staff);
    try_open("root640", O_RDONLY);
    try_open("root640", O_WRONLY);
    try_open("user600", O_RDWR);
    T(access("root640", R_OK));
    T(access("root640", W_OK));
    T(chmod("user600", 02640));
    stat_of("user600");
    T(chown("user600", USER, STAFF));
    stat_of("user600");
    T(chown("user600", -1, 300));
    T(chown("user600", 0, -1));
    T(chown("user600", USER, -1));
    T(chmod("user600", 02640));
    stat_of("user600");
    T(chmod("user600", 0640));
    struct timespec times[2] = {{1000000000, 0}, {1200000000, 0}};
    T(utimensat(AT_FDCWD, "user600", times, 0));
    /* a setgid directory hands its group down */
    umask(022);
    try_open("sgid/f", O_CREAT | O_WRONLY);
    stat_of("sgid/f");
    T(mkdir("sgid/d", 0777));
    stat_of("sgid/d");
    T(mkdir("sgid/d/e", 0700));
    stat_of("sgid/d/e");
    umask(077);
    try_open("sgid/g", O_CREAT | O_WRONLY);
    stat_of("sgid/g");
    umask(0);
    try_open("sgid/h", O_CREAT | O_WRONLY);
    stat_of("sgid/h");
    T(mkdir("plain", 0777)); /* in the 0775 directory of group staff */
    stat_of("plain");
    int fd = open("sgid/x", O_CREAT | O_WRONLY, 02755);
    close(fd);
    stat_of("sgid/x");
    T(chmod("sgid/x", 02755));
    stat_of("sgid/x");
    T(unlink("sgid/f"));
    T(unlink("sticky/mine"));
    T(unlink("sticky/theirs"));
    T(rename("plain", "sgid/plain"));
    stat_of("sgid/plain");
    T(rmdir("sgid/plain"));
}

static void real_and_effective(void)
{
    /* real ids 1000, effective nobody: access() asks as the real user */
    if (setgroups(0, NULL) || setregid(USER, NOBODY) || setreuid(USER, NOBODY)) {
        perror("setre*id");
        exit(1);
    }
    T(geteuid());
    T(access("user600", R_OK));
    T(access("user600", W_OK));
    T(faccessat(AT_FDCWD, "user600", R_OK, AT_EACCESS));
    T(syscall(SYS_faccessat2, AT_FDCWD, "user600", R_OK, AT_EACCESS));
    T(syscall(SYS_faccessat2, AT_FDCWD, "user600", R_OK, 0));
    T(syscall(SYS_faccessat2, AT_FDCWD, "root644", W_OK, AT_EACCESS));
    try_open("user600", O_RDONLY);
    T(setuid(USER)); /* allowed: the real uid */
    T(geteuid());
    try_open("user600", O_RDONLY);
}

static void root_effective_only(void)
{
    /* effective root, real uid 1000: open may, access() may not */
    if (setresuid(USER, 0, 0)) {
        perror("setresuid");
        exit(1);
    }
    try_open("root600", O_RDWR);
    T(access("root600", R_OK));
    T(faccessat(AT_FDCWD, "root600", R_OK, AT_EACCESS));
    T(access("user600", R_OK));
    T(access("private/f", F_OK));
    T(faccessat(AT_FDCWD, "private/f", F_OK, AT_EACCESS));
}

static void dropping_capabilities(void)
{
    caps("root");
    T(setfsuid(NOBODY));
    try_open("root600", O_RDONLY);
    try_open("root644", O_RDONLY);
    T(chmod("root644", 0644));
    caps("fsuid nobody");
    T(setfsuid(0));
    try_open("root600", O_RDONLY);
    caps("fsuid root");
    T(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
    T(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    T(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
    T(prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0));
    T(setresuid(NOBODY, NOBODY, NOBODY));
    caps("kept");
    try_open("root600", O_RDONLY);
    T(setuid(0));
    /* raise what is still permitted */
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    syscall(SYS_capget, &head, data);
    data[0].effective = 1u << CAP_DAC_OVERRIDE;
    data[1].effective = 0;
    T(syscall(SYS_capset, &head, data));
    caps("raised");
    try_open("root600", O_RDONLY);
    try_open("private/f", O_RDONLY);
    T(chmod("root600", 0600));
    data[0].permitted = 1u << CAP_DAC_OVERRIDE;
    data[1].permitted = 0;
    T(syscall(SYS_capset, &head, data));
    caps("narrowed");
    data[0].permitted = data[0].effective = 1u << CAP_SETUID;
    T(syscall(SYS_capset, &head, data));
    data[0].permitted = data[0].effective = 0;
    T(syscall(SYS_capset, &head, data));
    caps("empty");
    try_open("root600", O_RDONLY);
    head.version = 0x12345678;
    T(syscall(SYS_capget, &head, NULL));
    printf("preferred version %#x\n", head.version);
    T(syscall(SYS_capget, &head, data));
    head.version = _LINUX_CAPABILITY_VERSION_3;
    head.pid = 999999;
    T(syscall(SYS_capget, &head, data));
    head.pid = 0;
    T(syscall(SYS_capget, &head, BAD_POINTER));
}

static void setuid_drops_all(void)
{
    T(setuid(NOBODY));
    caps("after setuid");
    T(setuid(0));
    T(setreuid(-1, 0));
    T(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
}

static void rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        struct dirent *entry;
        char child[512];
        while ((entry = readdir(dir)) != NULL) {
            if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, ".."))
                continue;
            snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
            rmtree(child);
        }
        closedir(dir);
        rmdir(path);
    } else {
        unlink(path);
    }
}

int main(void)
{
    umask(022);
    makedir("w", 0755, 0, 0);
    if (chdir("w")) {
        perror("w");
        return 1;
    }
    make("root644", 0644, 0, 0);
    make("root600", 0600, 0, 0);
    make("root640", 0640, 0, STAFF);
    make("user600", 0600, USER, USER);
    make("public666", 0666, 0, 0);
    makedir("rootdir", 0755, 0, 0);
    make("rootdir/file", 0644, NOBODY, NOBODY);
    makedir("rootdir/sub", 0777, NOBODY, NOBODY);
    makedir("private", 0700, 0, 0);
    make("private/f", 0755, 0, 0);
    T(symlink("f", "private/link"));
    makedir("searchonly", 0711, 0, 0);
    make("searchonly/f", 0644, 0, 0);
    makedir("sticky", 01777, 0, 0);
    make("sticky/mine", 0644, NOBODY, NOBODY);
    make("sticky/theirs", 0644, USER, USER);
    make("sticky/rootf", 0666, 0, 0);
    makedir("sgid", 02775, 0, STAFF);
    makedir("open", 0777, 0, 0);
    T(chmod(".", 0775));
    T(chown(".", 0, STAFF));
    int listener = unix_socket("sock755", 1);
    umask(0);
    int open_listener = unix_socket("sock777", 1);
    umask(022);
    stat_of("sock755");
    stat_of("sock777");

    /* root: the bits do not stop it, except that execute needs an x bit somewhere */
    try_open("user600", O_RDWR);
    T(access("user600", R_OK | W_OK));
    T(access("root644", X_OK));
    T(access("private", X_OK));
    T(access("private/f", X_OK));
    char *argv[] = {"prog", NULL};
    T(execve("root644", argv, NULL));

    run("nobody", as_nobody);
    run("user in staff", as_user_in_staff);
    run("real and effective", real_and_effective);
    run("root effective only", root_effective_only);
    run("dropping capabilities", dropping_capabilities);
    run("setuid drops all", setuid_drops_all);
    stat_of("user600");
    stat_of("sticky/theirs");
    close(listener);
    close(open_listener);

    if (chdir(".."))
        return 1;
    rmtree("w");
    return 0;
}
