/* SA_RESETHAND: the handler is reset to SIG_DFL as the signal is delivered, while
 * the action's flags and mask stay; without SA_NODEFER the signal is blocked in
 * the handler, so raising it again there kills the process only once the handler
 * returns; with SA_NODEFER it kills at once. */
#include "check.h"
#include <signal.h>
#include <sys/wait.h>

#define KEPT_FLAGS (SA_RESETHAND | SA_NODEFER | SA_SIGINFO | SA_RESTART)

static volatile int runs;
static int again; /* raise the signal again inside the handler */

static void describe(const char *when, int sig)
{
    struct sigaction now;
    sigaction(sig, NULL, &now);
    sigset_t blocked;
    sigprocmask(SIG_BLOCK, NULL, &blocked);
    printf("%s: handler %s flags %#x mask has SIGUSR2 %d; %s blocked %d\n", when,
           now.sa_handler == SIG_DFL ? "SIG_DFL" : "set", now.sa_flags & KEPT_FLAGS,
           sigismember(&now.sa_mask, SIGUSR2), sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2",
           sigismember(&blocked, sig));
    fflush(stdout);
}

static void handler(int sig)
{
    runs++;
    describe("in handler", sig);
    if (again) {
        raise(sig);
        printf("handler returns after raising again\n");
        fflush(stdout);
    }
}

static void install(int sig, int flags)
{
    struct sigaction sa = {.sa_handler = handler, .sa_flags = flags};
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(sig, &sa, NULL);
}

static void child_case(const char *name, int flags)
{
    pid_t pid = fork();
    if (pid == 0) {
        again = 1;
        install(SIGUSR1, flags);
        raise(SIGUSR1);
        printf("not reached\n");
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("%s: killed by %s\n", name,
           WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1 ? "SIGUSR1" : "something else");
    fflush(stdout);
}

int main(void)
{
    install(SIGUSR1, SA_RESETHAND | SA_RESTART);
    describe("installed", SIGUSR1);
    raise(SIGUSR1);
    describe("after", SIGUSR1);
    printf("runs %d\n", runs);

    install(SIGUSR2, SA_RESETHAND | SA_NODEFER);
    raise(SIGUSR2);
    describe("after SIGUSR2", SIGUSR2);

    child_case("deferred", SA_RESETHAND);
    child_case("nodefer", SA_RESETHAND | SA_NODEFER);
    return 0;
}
