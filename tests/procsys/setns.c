/* /proc/PID/ns and setns(2), natively as root and in a coffer. The guest first
 * unshares the network, mount, IPC and UTS namespaces (so nothing reaches the host's).
 * It lists /proc/self/ns and checks what its links show (the name, nsfs's st_dev,
 * the same inode for pid and pid_for_children); a child that unshares some
 * namespaces shows other inode numbers for those only, read from both sides. It then
 * joins a child's network and UTS namespaces by their /proc files (a new socket
 * reaches the child's listener, one made before stays where it was; the host name is
 * the child's), its IPC namespace by a pidfd, its mount namespace (its tmpfs, the cwd
 * moves to the root) and, in a grandchild, its nested PID namespace (the next child
 * is pid 2 there) and its user namespace. What Linux refuses: the wrong nstype, a
 * file that names no namespace, nobody without CAP_SYS_ADMIN, a user namespace
 * that does not own the target, the caller's own user namespace. */
#include "check.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#define PORT 7001
static const char *NAMES[] = {"net", "uts", "ipc", "pid", "pid_for_children", "user", "mnt",
                              "cgroup", "time", "time_for_children"};
#define KINDS (sizeof NAMES / sizeof *NAMES)

static void say(const char *what, long result)
{
    printf("%s: %s\n", what, result < 0 ? strerrorname_np(errno) : "ok");
}

static ino_t ns_ino(pid_t pid, const char *name)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, name);
    return stat(path, &st) ? 0 : st.st_ino;
}

static int ns_open(pid_t pid, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, name);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Which of the namespaces of a and b differ, as a word per kind. */
static void compare(const char *what, pid_t a, pid_t b)
{
    printf("%s:", what);
    for (size_t i = 0; i < KINDS; i++)
        printf(" %s=%s", NAMES[i], ns_ino(a, NAMES[i]) == ns_ino(b, NAMES[i]) ? "same" : "other");
    printf("\n");
}

static void list_self(void)
{
    DIR *dir = opendir("/proc/self/ns");
    struct dirent *entry;
    printf("ns:");
    while ((entry = readdir(dir)))
        printf(" %s", entry->d_name);
    printf("\n");
    closedir(dir);
    struct stat dst;
    stat("/proc/self/ns", &dst);
    printf("dir mode %o\n", dst.st_mode & 07777);
    for (size_t i = 0; i < KINDS; i++) {
        char path[64], target[64] = "";
        struct stat st, lst;
        snprintf(path, sizeof path, "/proc/self/ns/%s", NAMES[i]);
        readlink(path, target, sizeof target - 1);
        stat(path, &st);
        lstat(path, &lst);
        unsigned long number = 0;
        char kind[32] = "";
        sscanf(target, "%31[^:]:[%lu]", kind, &number);
        printf("%s -> %s:[same as st_ino %d] st_dev %d:%d mode %o link mode %o\n", NAMES[i],
               kind, number == st.st_ino, major(st.st_dev), minor(st.st_dev), st.st_mode,
               lst.st_mode);
    }
    int fd = ns_open(getpid(), "net");
    char byte;
    say("read a namespace file", read(fd, &byte, 1));
    close(fd);
}

static long lo_up(void)
{
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    strcpy(ifr.ifr_name, "lo");
    ioctl(fd, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags |= IFF_UP;
    long rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    close(fd);
    return rc;
}

static long tcp_connect(int fd)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(fd, (struct sockaddr *)&sin, sizeof sin);
}

/* A child in namespaces of its own, ready when it writes to ``ready``; it stays
 * until killed. */
static pid_t other_child(int ready)
{
    pid_t pid = fork();
    if (pid)
        return pid;
    if (unshare(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNS))
        _exit(1);
    sethostname("joined", 6);
    lo_up();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) || listen(fd, 4))
        _exit(2);
    mkdir("setns-mnt", 0755);
    if (mount("none", "setns-mnt", "tmpfs", 0, "size=64k"))
        _exit(3);
    close(open("setns-mnt/only-in-child", O_CREAT | O_WRONLY, 0644));
    write(ready, "x", 1);
    for (;;)
        pause();
}

/* A child that unshares CLONE_NEWPID and forks the new namespace's pid 1; it
 * writes that pid, as its own namespace numbers it, to ``ready``. Both stay until
 * killed. */
static pid_t nested_pid_child(int ready)
{
    pid_t pid = fork();
    if (pid)
        return pid;
    if (unshare(CLONE_NEWPID))
        _exit(1);
    pid_t init = fork();
    if (init == 0)
        for (;;)
            pause();
    write(ready, &init, sizeof init);
    for (;;)
        pause();
}

static void as_nobody(pid_t target)
{
    int net = ns_open(target, "net");
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
        _exit(1);
    say("nobody: setns net", setns(net, CLONE_NEWNET));
    T(unshare(CLONE_NEWUSER));
    say("nobody in its user namespace: setns net", setns(net, CLONE_NEWNET));
    int own = ns_open(getpid(), "user");
    say("nobody: setns its own user namespace", setns(own, CLONE_NEWUSER));
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    T(unshare(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNS));
    T(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL));
    list_self();
    int pipefd[2];
    T(pipe(pipefd));
    char byte;
    pid_t child = other_child(pipefd[1]);
    read(pipefd[0], &byte, 1);
    compare("child against parent", child, getpid());
    char home[256] = "", path[300];
    getcwd(home, sizeof home);
    snprintf(path, sizeof path, "%s/setns-mnt/only-in-child", home);
    say("the child's tmpfs file before setns mnt", access(path, F_OK));

    int before = socket(AF_INET, SOCK_STREAM, 0);
    int net = ns_open(child, "net"), uts = ns_open(child, "uts");
    say("setns uts as CLONE_NEWNET", setns(uts, CLONE_NEWNET));
    say("setns a pipe", setns(pipefd[0], 0));
    say("setns net", setns(net, CLONE_NEWNET));
    say("setns uts", setns(uts, 0));
    struct utsname names;
    uname(&names);
    printf("nodename %s\n", names.nodename);
    int after = socket(AF_INET, SOCK_STREAM, 0);
    say("connect with a socket made after", tcp_connect(after));
    say("connect with a socket made before", tcp_connect(before));
    int pidfd = syscall(SYS_pidfd_open, child, 0);
    say("setns pidfd ipc", setns(pidfd, CLONE_NEWIPC));
    say("setns pidfd with no flags", setns(pidfd, 0));
    say("setns mnt", setns(ns_open(child, "mnt"), CLONE_NEWNS));
    char cwd[256] = "";
    printf("cwd after setns mnt: %s\n", getcwd(cwd, sizeof cwd));
    say("the child's tmpfs file after", access(path, F_OK));
    compare("parent against child", getpid(), child);

    pid_t pid = fork();
    if (pid == 0) {
        int inner[2];
        pid_t init;
        pipe(inner);
        pid_t holder = nested_pid_child(inner[1]);
        read(inner[0], &init, sizeof init);
        say("grandchild: setns pid", setns(ns_open(init, "pid"), CLONE_NEWPID));
        printf("grandchild: pid same %d, pid_for_children same %d\n",
               ns_ino(getpid(), "pid") == ns_ino(init, "pid"),
               ns_ino(getpid(), "pid_for_children") == ns_ino(init, "pid"));
        pid_t next = fork();
        if (next == 0) {
            printf("grandchild's child: pid %d\n", (int)getpid());
            _exit(0);
        }
        waitpid(next, NULL, 0);
        kill(init, SIGKILL);
        kill(holder, SIGKILL);
        waitpid(holder, NULL, 0);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("grandchild status %d\n", status);

    pid = fork();
    if (pid == 0) {
        as_nobody(child);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    printf("nobody status %d\n", status);

    snprintf(path, sizeof path, "%s/setns-mnt", home);
    say("umount the child's tmpfs", umount(path));
    say("rmdir its mount point", rmdir(path));
    pid_t owner = fork();
    if (owner == 0) { /* a user namespace to join */
        unshare(CLONE_NEWUSER);
        write(pipefd[1], "x", 1);
        for (;;)
            pause();
    }
    read(pipefd[0], &byte, 1);
    say("setns user", setns(ns_open(owner, "user"), CLONE_NEWUSER));
    printf("uid %d euid %d, user same as the other's %d\n", (int)getuid(), (int)geteuid(),
           ns_ino(getpid(), "user") == ns_ino(owner, "user"));
    say("setns net back, from the joined user namespace", setns(net, CLONE_NEWNET));
    kill(owner, SIGKILL);
    waitpid(owner, NULL, 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return 0;
}
