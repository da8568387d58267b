/* unshare(2) and the UTS names. Without arguments: what a coffer answers as Linux
 * does (run natively as root too): the flag checks, a private UTS namespace whose
 * names a child sees and the parent does not, sethostname's errors, nobody's EPERM.
 * With "coffer": what only a coffer answers (user namespaces disabled, the namespaces
 * it does not have), and mount and IPC namespaces made while another task lives. */
#include "check.h"
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#pragma GCC diagnostic ignored "-Wstringop-overread"
#pragma GCC diagnostic ignored "-Wstringop-overflow"

static void names(const char *who)
{
    struct utsname u;
    char buf[128] = "";
    uname(&u);
    int fd = open("/proc/sys/kernel/hostname", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n - 1 : 0] = '\0';
    printf("%s: nodename %s domainname %s, /proc says %s\n", who, u.nodename, u.domainname, buf);
}

static char initial[65];

static void unchanged(const char *who)
{
    struct utsname u;
    uname(&u);
    printf("%s: nodename unchanged %d\n", who, !strcmp(u.nodename, initial));
}

static int child(void (*body)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        body();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return status;
}

static void grandchild(void) { names("grandchild"); }

static void own_uts(void)
{
    T(unshare(CLONE_NEWUTS));
    T(sethostname("inner", 5));
    T(setdomainname("example", 7));
    names("child");
    child(grandchild);
}

static void as_nobody(void)
{
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
        exit(1);
    T(unshare(CLONE_NEWUTS));
    T(unshare(CLONE_NEWNS));
    T(sethostname("x", 1));
    T(unshare(CLONE_FILES | CLONE_FS | CLONE_SYSVSEM));
}

static void coffer_only(void)
{
    char buf[16] = "";
    int fd = open("/proc/sys/user/max_user_namespaces", O_RDONLY);
    T(read(fd, buf, sizeof buf - 1));
    printf("max_user_namespaces %s", buf);
    T(unshare(CLONE_NEWUSER));
    T(unshare(CLONE_NEWPID));
    T(unshare(CLONE_NEWNET));
    T(unshare(CLONE_NEWCGROUP));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    T(unshare(CLONE_NEWNS));
    T(unshare(CLONE_NEWIPC));
    T(unshare(CLONE_NEWUTS));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    T(unshare(CLONE_NEWNS | CLONE_NEWIPC));
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        coffer_only();
        return 0;
    }
    struct utsname u;
    uname(&u);
    strcpy(initial, u.nodename);
    T(unshare(0));
    T(unshare(0x1));
    T(unshare(CLONE_THREAD | CLONE_SIGHAND | CLONE_VM));
    T(unshare(CLONE_FILES | CLONE_FS | CLONE_SYSVSEM));
    T(sethostname("x", 65));
    T(sethostname("x", -1));
    T(sethostname(BAD_POINTER, 4));
    printf("child status %d\n", child(own_uts));
    unchanged("parent");
    printf("nobody status %d\n", child(as_nobody));
    fflush(stdout);
    long pid = syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        T(sethostname("cloned", 6));
        names("clone child");
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    unchanged("clone parent");
    T(unshare(CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWIPC));
    T(sethostname("mine", 4));
    names("after");
    return 0;
}
