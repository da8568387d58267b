/* forkexec: processes, exec, wait and signals, one step per printed line.
 *
 * Kernel paths: fork (clone with SIGCHLD), execve of /proc/self/exe (the
 * /proc/self/exe symlink must name this program inside the container), pipe2
 * and dup2, read to EOF once every writer has gone, wait4 with exit and
 * signal statuses, kill, tgkill (raise), rt_sigaction with SA_RESTART,
 * rt_sigprocmask and rt_sigpending, a read restarted after a handler ran,
 * SIGCHLD on child exit, SIGPIPE/EPIPE for a pipe without a reader, alarm
 * and pause returning EINTR, getppid.
 *
 *   forkexec                 run every step, print each result, exit 0 if all passed
 *   forkexec child STATUS [PARENT_PID]
 *                            (what the exec'ed child runs) write two lines to
 *                            stdout, the second saying whether getppid() is
 *                            PARENT_PID when given, and exit with STATUS
 *
 * The output depends on nothing but the program: no pids, no timings. The
 * alarm step takes one second of (real or simulated) time.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SELF_EXE "/proc/self/exe"
#define CHILD_MODE "child"
#define CHILD_STATUS 7
#define LATE_DELAY_NS 20000000L /* 20 ms: the parent is blocked in read by then */
#define ALARM_SECONDS 1

static volatile sig_atomic_t usr1_count, chld_count, alrm_count;
static int failures;

static void on_usr1(int sig) { (void)sig; usr1_count++; }
static void on_chld(int sig) { (void)sig; chld_count++; }
static void on_alrm(int sig) { (void)sig; alrm_count++; }

/* Signal names of our own: strsignal's text differs between glibc and musl. */
static const char *sig_name(int sig) {
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGPIPE: return "SIGPIPE";
    case SIGKILL: return "SIGKILL";
    default: return "another signal";
    }
}

static void check(int ok, const char *what) {
    if (!ok) {
        failures++;
        printf("forkexec: FAILED: %s\n", what);
    }
}

static void install(int sig, void (*handler)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) {
        perror("sigaction");
        exit(1);
    }
}

/* fork, flushing stdio first so that no buffered line is written twice. */
static pid_t fork_flushed(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    return pid;
}

static int child_main(int argc, char **argv) {
    int status = argc > 2 ? atoi(argv[2]) : 0;
    printf("line one from the exec'ed child\n");
    if (argc > 3) /* the parent passed its pid: are we still its child after execve? */
        printf("line two, getppid is the parent %s\n",
               getppid() == (pid_t)atol(argv[3]) ? "yes" : "no");
    else
        printf("line two\n");
    return status;
}

/* Step 1: fork, exec ourselves through /proc/self/exe, pipe its stdout back. */
static void step_exec_through_pipe(void) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    pid_t pid = fork_flushed();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        char status[16], parent[24];
        snprintf(status, sizeof status, "%d", CHILD_STATUS);
        snprintf(parent, sizeof parent, "%ld", (long)getppid());
        char *args[] = {"forkexec", CHILD_MODE, status, parent, NULL};
        execv(SELF_EXE, args);
        _exit(127);
    }
    close(fds[1]);
    char buf[512];
    size_t used = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + used, sizeof buf - 1 - used)) > 0)
        used += (size_t)n;
    close(fds[0]);
    buf[used] = '\0';
    int wstatus;
    pid_t reaped = waitpid(pid, &wstatus, 0);
    printf("forkexec: pipe from exec'ed child (%zu bytes):\n%s", used, buf);
    printf("forkexec: waitpid same pid %s, exited %s, status %d\n",
           reaped == pid ? "yes" : "no", WIFEXITED(wstatus) ? "yes" : "no",
           WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    check(reaped == pid && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == CHILD_STATUS, "exec");
}

/* Step 2: a child that waits forever, ended by SIGTERM. */
static void step_child_killed(void) {
    pid_t pid = fork_flushed();
    if (pid == 0) {
        for (;;)
            pause();
    }
    kill(pid, SIGTERM);
    int wstatus;
    waitpid(pid, &wstatus, 0);
    printf("forkexec: child signaled %s, signal %s\n", WIFSIGNALED(wstatus) ? "yes" : "no",
           WIFSIGNALED(wstatus) ? sig_name(WTERMSIG(wstatus)) : "none");
    check(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGTERM, "SIGTERM");
}

/* Step 3: SIGUSR1 to ourselves, with kill() and with raise(). */
static void step_self_signals(void) {
    kill(getpid(), SIGUSR1);
    printf("forkexec: after kill(self, SIGUSR1) handler ran %d time(s)\n", (int)usr1_count);
    raise(SIGUSR1);
    printf("forkexec: after raise(SIGUSR1) handler ran %d time(s)\n", (int)usr1_count);
    check(usr1_count == 2, "kill/raise");
}

/* Step 4: block SIGUSR1, raise it, see it pending, unblock: delivered then. */
static void step_blocked_then_pending(void) {
    sigset_t block, pending, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    raise(SIGUSR1);
    int before = usr1_count;
    sigpending(&pending);
    int is_pending = sigismember(&pending, SIGUSR1);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("forkexec: blocked SIGUSR1: pending %s, handled while blocked %d, after unblock %d\n",
           is_pending ? "yes" : "no", before - 2, (int)usr1_count - 2);
    check(is_pending && before == 2 && usr1_count == 3, "sigprocmask");
}

/* Step 5: a handler with SA_RESTART interrupts a blocking read, which resumes. */
static void step_restarted_read(void) {
    int fds[2];
    pipe(fds);
    pid_t pid = fork_flushed();
    if (pid == 0) {
        close(fds[0]);
        kill(getppid(), SIGUSR1);
        struct timespec delay = {0, LATE_DELAY_NS};
        nanosleep(&delay, NULL);
        write(fds[1], "late", 4);
        _exit(0);
    }
    close(fds[1]);
    char buf[16] = {0};
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    printf("forkexec: read across a SA_RESTART handler returned %zd '%s', handler ran %d\n", n,
           n > 0 ? buf : "", (int)usr1_count - 3);
    check(n == 4 && usr1_count == 4, "SA_RESTART");
}

/* Step 6: writing to a pipe whose reader is gone: EPIPE when ignored, death otherwise. */
static void step_broken_pipe(void) {
    int fds[2];
    pipe(fds);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    ssize_t n = write(fds[1], "x", 1);
    int error = errno;
    printf("forkexec: write to a pipe without reader, SIGPIPE ignored: %zd %s\n", n,
           error == EPIPE ? "EPIPE" : "another errno");
    check(n == -1 && error == EPIPE, "EPIPE");

    pid_t pid = fork_flushed();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        write(fds[1], "x", 1);
        _exit(0);
    }
    close(fds[1]);
    int wstatus;
    waitpid(pid, &wstatus, 0);
    printf("forkexec: same with SIGPIPE default: child %s\n",
           WIFSIGNALED(wstatus) ? sig_name(WTERMSIG(wstatus)) : "exited");
    check(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGPIPE, "SIGPIPE");
}

/* Step 7: alarm() interrupts pause(). */
static void step_alarm(void) {
    install(SIGALRM, on_alrm, 0);
    alarm(ALARM_SECONDS);
    errno = 0;
    int rc = pause();
    int error = errno;
    printf("forkexec: pause returned %d %s after SIGALRM, handler ran %d\n", rc,
           error == EINTR ? "EINTR" : "another errno", (int)alrm_count);
    check(rc == -1 && error == EINTR && alrm_count == 1, "alarm");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], CHILD_MODE) == 0)
        return child_main(argc, argv);
    if (argc > 1) {
        fprintf(stderr, "usage: %s\n", argv[0]);
        return 2;
    }
    install(SIGUSR1, on_usr1, SA_RESTART);
    install(SIGCHLD, on_chld, SA_RESTART);

    step_exec_through_pipe();
    step_child_killed();
    step_self_signals();
    step_blocked_then_pending();
    step_restarted_read();
    step_broken_pipe();
    step_alarm();

    /* Each child was reaped before the next was forked: one SIGCHLD each. */
    printf("forkexec: SIGCHLD handled %d time(s) for 4 children\n", (int)chld_count);
    check(chld_count == 4, "SIGCHLD");
    printf("forkexec: %s\n", failures ? "some steps FAILED" : "all steps passed");
    return failures ? 1 : 0;
}
