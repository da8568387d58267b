/* Cgroup namespaces, natively as root and in a coffer: /proc/self/cgroup's cgroup v2
 * line is "0::/" (the namespace's root) before and after unshare(CLONE_NEWCGROUP)
 * and in a child of clone(CLONE_NEWCGROUP); /proc/PID/ns/cgroup tells the namespaces
 * apart; nobody needs a user namespace of its own; setns joins one again. (The host's
 * cgroup v1 lines, which a coffer has none of, are left out.) */
#include "check.h"
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void say(const char *what, long result)
{
    printf("%s: %s\n", what, result < 0 ? strerrorname_np(errno) : "ok");
}

static void show_cgroup(const char *who)
{
    char line[256];
    FILE *file = fopen("/proc/self/cgroup", "r");
    while (fgets(line, sizeof line, file))
        if (strncmp(line, "0::", 3) == 0)
            printf("%s: %s", who, line);
    fclose(file);
}

static ino_t ns_ino(pid_t pid)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/ns/cgroup", (int)pid);
    return stat(path, &st) ? 0 : st.st_ino;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    ino_t first = ns_ino(getpid());
    int old = open("/proc/self/ns/cgroup", O_RDONLY);
    show_cgroup("before");
    T(unshare(CLONE_NEWCGROUP));
    show_cgroup("after unshare");
    printf("another cgroup namespace %d\n", ns_ino(getpid()) != first);
    ino_t mine = ns_ino(getpid());
    pid_t pid = fork();
    if (pid == 0) {
        show_cgroup("child");
        printf("child: the parent's namespace %d\n", ns_ino(getpid()) == mine);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    pid = syscall(SYS_clone, CLONE_NEWCGROUP | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        show_cgroup("clone child");
        printf("clone child: a namespace of its own %d\n", ns_ino(getpid()) != mine);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
            _exit(1);
        say("nobody: unshare CLONE_NEWCGROUP", unshare(CLONE_NEWCGROUP));
        say("nobody: unshare CLONE_NEWUSER|CLONE_NEWCGROUP",
            unshare(CLONE_NEWUSER | CLONE_NEWCGROUP));
        show_cgroup("nobody");
        say("nobody: setns back", setns(old, CLONE_NEWCGROUP));
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("nobody status %d\n", status);
    say("setns back", setns(old, CLONE_NEWCGROUP));
    printf("back in the first %d\n", ns_ino(getpid()) == first);
    show_cgroup("back");
    return 0;
}
