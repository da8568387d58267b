/* A signal delivered as a system call returns: the handler runs, and after
 * rt_sigreturn the interrupted code finds the call's own result in RAX (the signal
 * frame saved it after the kernel wrote it), for a call that succeeds (kill of
 * oneself: 0), one that returns a count (write: 5) and one that fails (EBADF). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void on_signal(int sig) { (void)sig; handled++; }

int main(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    if (sigaction(SIGUSR1, &action, NULL) != 0) { perror("sigaction"); return 1; }
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    long killed = syscall(SYS_kill, getpid(), SIGUSR1);
    printf("kill: %ld, handled %d\n", killed, (int)handled);
    /* A pending signal, blocked during the write, is delivered when unblocked by the
     * sigprocmask call's return; the write's result must be intact before that. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    syscall(SYS_kill, getpid(), SIGUSR1);
    long wrote = syscall(SYS_write, fds[1], "hello", 5);
    long unblocked = syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
    printf("write: %ld, rt_sigprocmask: %ld, handled %d\n", wrote, unblocked, (int)handled);
    long bad = syscall(SYS_kill, getpid(), SIGUSR1) + syscall(SYS_close, 12345);
    printf("kill + close(bad): %ld (errno %s), handled %d\n", bad,
           errno == EBADF ? "EBADF" : "other", (int)handled);
    return 0;
}
