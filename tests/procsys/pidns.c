/* PID namespaces, natively as root and in a coffer: unshare(CLONE_NEWPID) puts the
 * caller's next child in a new namespace as its pid 1 (getpid 1, getppid 0, gettid
 * 1, getpgrp 0: its group is outside); numbers inside are the namespace's (fork's
 * return, wait4, waitid, SIGCHLD's si_pid, kill and pidfd_open lookups, ESRCH for a
 * number not there); the init ignores a signal it has no handler for from inside;
 * an orphan goes to the init; a thread of the init gets the next number (and a
 * process that unshared cannot make threads: EINVAL); the init's exit kills what
 * is left in the namespace and a later fork into it is ENOMEM; SO_PEERCRED,
 * SCM_CREDENTIALS and NSpid. Then clone(CLONE_NEWPID), and nobody, who
 * needs a user namespace of its own first (EPERM without). No global pid is
 * printed: only what both runs share. */
#include "check.h"
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define NOBODY 65534

static volatile sig_atomic_t chld_pid = -1;

static void on_chld(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    chld_pid = info->si_pid;
}

static void ids(const char *who)
{
    printf("%s: getpid %d getppid %d gettid %ld getpgrp %d\n", who, getpid(), getppid(),
           syscall(SYS_gettid), getpgrp());
    fflush(stdout);
}

/* waitpid(pid): its result is shown if it is a number inside a namespace (``inside``),
 * else only whether it is ``pid``. */
static int reap(const char *what, pid_t pid, int inside)
{
    int status = 0;
    pid_t got = waitpid(pid, &status, 0);
    if (inside)
        printf("%s: waitpid = %d, ", what, got);
    else
        printf("%s: waitpid = the pid fork returned %s, ", what, got == pid ? "yes" : "no");
    if (got < 0)
        printf("%s\n", strerrorname_np(errno));
    else if (WIFEXITED(status))
        printf("exit %d\n", WEXITSTATUS(status));
    else
        printf("signal %d\n", WTERMSIG(status));
    fflush(stdout);
    return got;
}

/* /proc/self/status's NSpid: how many numbers (one per level, from /proc's
 * namespace down) and the last, the task's own namespace's. */
static void nspid(const char *who)
{
    char buf[4096] = "";
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    char *line = n > 0 ? strstr(buf, "\nNSpid:") : NULL;
    if (line == NULL) {
        printf("%s: no NSpid\n", who);
        return;
    }
    int fields = 0;
    long last = -1;
    for (char *p = line + 7; *p && *p != '\n';) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        fields++;
        last = v;
        p = end;
    }
    printf("%s: NSpid has %d numbers, the last %ld\n", who, fields, last);
}

/* SO_PEERCRED of a socketpair the init made, and SCM_CREDENTIALS the child sends
 * (SO_PASSCRED): pids as the namespace numbers them. */
static void creds_over_sockets(int sv[2], int in_child)
{
    struct ucred cred = {0};
    socklen_t len = sizeof cred;
    if (in_child) {
        getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &cred, &len);
        printf("child: SO_PEERCRED pid %d\n", cred.pid);
        fflush(stdout);
        write(sv[1], "x", 1);
        read(sv[1], &cred, 1);  /* alive until the init has read (natively 0 after) */
        return;
    }
    char data, control[CMSG_SPACE(sizeof cred)];
    struct iovec iov = {&data, 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof control};
    recvmsg(sv[0], &msg, 0);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c != NULL && c->cmsg_type == SCM_CREDENTIALS)
        memcpy(&cred, CMSG_DATA(c), sizeof cred);
    printf("init: SCM_CREDENTIALS pid %d\n", cred.pid);
    write(sv[0], "y", 1);
}

static void *thread_main(void *arg)
{
    (void)arg;
    printf("thread: gettid %ld getpid %d\n", syscall(SYS_gettid), getpid());
    fflush(stdout);
    return NULL;
}

/* The namespace's init: children, orphans, signals, then it exits with one child
 * still asleep (holding the write end of ``pipe_w``). */
static void init_process(int pipe_w)
{
    ids("init");
    nspid("init");
    int sv[2], on = 1;
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    struct sigaction sa = {.sa_sigaction = on_chld, .sa_flags = SA_SIGINFO};
    sigaction(SIGCHLD, &sa, NULL);
    T(kill(999, 0));
    T(syscall(SYS_pidfd_open, 999, 0));
    long r = T(syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0));
    if (r == 0)
        _exit(0);
    pid_t child = fork();
    if (child == 0) {
        ids("child");
        creds_over_sockets(sv, 1);
        T(kill(getppid(), SIGTERM));  /* init has no handler: ignored */
        T(kill(1, 0));
        _exit(7);
    }
    printf("fork = %d\n", child);
    creds_over_sockets(sv, 0);
    reap("child", child, 1);
    printf("SIGCHLD si_pid %d\n", chld_pid);
    fflush(stdout);
    siginfo_t info = {0};
    pid_t middle = fork();
    if (middle == 0) {
        if (fork() == 0) {
            while (getppid() != 1)
                usleep(1000);
            _exit(getpid() * 10 + getppid());  /* (no output: it would race init's) */
        }
        _exit(0);
    }
    reap("middle", middle, 1);
    T(waitid(P_ALL, 0, &info, WEXITED));
    printf("waitid si_pid %d si_status %d\n", info.si_pid, info.si_status);
    pid_t sleeper = fork();
    if (sleeper == 0) {
        pause();
        _exit(0);
    }
    pthread_t thread;
    pthread_create(&thread, NULL, thread_main, NULL);
    pthread_join(thread, NULL);
    T(syscall(SYS_tgkill, 1, 1, 0));
    T(syscall(SYS_tgkill, 1, 6, 0));  /* the thread has ended: ESRCH */
    close(pipe_w);
    printf("init exits leaving %d\n", sleeper);
    fflush(stdout);
    _exit(0);
}

static void unshare_then_fork(void)
{
    pid_t before = getpid();
    T(unshare(CLONE_NEWPID));
    T(unshare(CLONE_NEWPID));
    printf("getpid unchanged %s\n", getpid() == before ? "yes" : "no");
    pthread_t thread;
    int error = pthread_create(&thread, NULL, thread_main, NULL);
    printf("a thread after unshare(CLONE_NEWPID): %s\n", error ? strerrorname_np(error) : "ok");
    if (!error)
        pthread_join(thread, NULL);
    int fds[2];
    pipe(fds);
    fflush(stdout);
    pid_t init = fork();
    if (init == 0) {
        close(fds[0]);
        init_process(fds[1]);
    }
    close(fds[1]);
    reap("init", init, 0);
    char c;
    printf("outside: the sleeper's pipe end closed: %s\n", read(fds[0], &c, 1) == 0 ? "yes" : "no");
    pid_t again = fork();
    if (again == 0)
        _exit(0);
    printf("fork into the namespace after its init: %s\n", again < 0 ? strerrorname_np(errno) : "ok");
    if (again > 0)
        waitpid(again, NULL, 0);
    fflush(stdout);
}

static void clone_newpid(void)
{
    fflush(stdout);
    long pid = syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        ids("clone(CLONE_NEWPID) child");
        _exit(5);
    }
    if (pid < 0)
        printf("clone(CLONE_NEWPID): %s\n", strerrorname_np(errno));
    reap("clone child", pid, 0);
}

static void as_nobody(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setgroups(0, NULL);
        setgid(NOBODY);
        setuid(NOBODY);
        T(unshare(CLONE_NEWPID));
        T(unshare(CLONE_NEWUSER | CLONE_NEWPID));
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {
            ids("nobody's init");
            _exit(0);
        }
        reap("nobody's init", child, 0);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

int main(void)
{
    pid_t pid = fork();  /* each part in a process of its own: unshare is once per process */
    if (pid == 0) {
        unshare_then_fork();
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    clone_newpid();
    as_nobody();
    return 0;
}
