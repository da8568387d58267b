/* RLIMIT_NPROC as CPython's test_preexec_fork_failure meets it: it does not bind root
 * (copy_process lets INIT_USER and CAP_SYS_RESOURCE/CAP_SYS_ADMIN past it), and binds
 * an unprivileged user. */
#include "check.h"
#include <sys/resource.h>
#include <sys/wait.h>

static void try_fork(const char *who)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    printf("%s: fork %s\n", who, pid > 0 ? "works" : strerrorname_np(errno));
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

int main(void)
{
    struct rlimit limit;
    T(getrlimit(RLIMIT_NPROC, &limit));
    limit.rlim_cur = 0;
    T(setrlimit(RLIMIT_NPROC, &limit));
    try_fork("root");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        T(setresuid(65534, 65534, 65534));
        try_fork("nobody");
        fflush(stdout);
        _exit(0);
    }
    T(waitpid(pid, NULL, 0) == pid);
    return 0;
}
