/* Exit signals that must not reach init (issue #13, item 5).
 *
 * The process runs as the coffer's init; natively it makes itself a child
 * subreaper, so that orphans come to it as they come to init in a coffer.
 *   orphans reparent   a child clones a grandchild whose exit signal is SIGTSTP and
 *                      exits; the orphan is reparented, its exit signal becomes
 *                      SIGCHLD (kernel/exit.c, reparent_leader), so init is not stopped
 *   orphans parent     a child clones a sibling of its own with CLONE_PARENT and
 *                      SIGTSTP: the sibling's exit signal is the child's own, SIGCHLD
 *                      (kernel/fork.c, copy_process)
 *   orphans init       init's own clone(CLONE_PARENT) is EINVAL (coffer only: natively
 *                      the process is no init) */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_chld, got_tstp;

static void on_signal(int sig) {
    if (sig == SIGCHLD)
        got_chld = 1;
    else
        got_tstp = 1;
}

static long raw_clone(unsigned long flags) {
    return syscall(SYS_clone, flags, 0L, 0L, 0L, 0L);  /* fork-like: no new stack */
}

static void nap_and_exit(void) {
    struct timespec t = {0, 50 * 1000 * 1000};
    syscall(SYS_nanosleep, &t, NULL);
    syscall(SYS_exit, 7);
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTSTP, &sa, NULL);
    if (strcmp(argv[1], "init") == 0) {
        long r = raw_clone(CLONE_PARENT | SIGCHLD);
        if (r == 0)
            syscall(SYS_exit, 0);
        printf("clone(CLONE_PARENT) from init: %ld %s\n", r, r < 0 ? strerrorname_np(errno) : "");
        return 0;
    }
    unsigned long extra = strcmp(argv[1], "parent") == 0 ? CLONE_PARENT : 0;
    pid_t child = fork();
    if (child == 0) {
        if (raw_clone(extra | SIGTSTP) == 0)
            nap_and_exit();
        syscall(SYS_exit, 0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child: exit %d\n", WEXITSTATUS(status));
    pid_t other = waitpid(-1, &status, __WALL);
    printf("%s: reaped %s, exit %d\n", argv[1], other > 0 ? "yes" : strerrorname_np(errno),
           WEXITSTATUS(status));
    printf("init got SIGCHLD: %d, SIGTSTP: %d\n", (int)got_chld, (int)got_tstp);
    return 0;
}
