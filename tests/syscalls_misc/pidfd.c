/* pidfd_open, as CPython's test_posix.test_pidfd_open uses it, and the readiness
 * an event loop waits for: a pidfd polls readable once its process has exited. */
#include "check.h"
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

static long pidfd_open(pid_t pid, unsigned flags)
{
    return syscall(SYS_pidfd_open, pid, flags);
}

static int ready(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

int main(void)
{
    char c;
    int fd = T(pidfd_open(getpid(), 0));
    T(fcntl(fd, F_GETFD));                     /* always close-on-exec */
    T(fcntl(fd, F_GETFL) & O_NONBLOCK);
    T(ready(fd));                              /* alive: not readable */
    T(read(fd, &c, 1));
    T(write(fd, "x", 1));
    T(close(fd));
    fd = T(pidfd_open(getpid(), PIDFD_NONBLOCK));
    T(fcntl(fd, F_GETFL) & O_NONBLOCK);
    T(close(fd));
    T(pidfd_open(-1, 0));
    T(pidfd_open(0, 0));
    T(pidfd_open(getpid(), 1));
    T(pidfd_open(0x3fffff, 0));

    int go[2];
    T(pipe(go));
    pid_t child = fork();
    if (child == 0) {
        read(go[0], &c, 1);
        _exit(3);
    }
    fd = T(pidfd_open(child, 0));
    T(ready(fd));
    T(write(go[1], "g", 1));
    struct pollfd p = {fd, POLLIN, 0};
    T(poll(&p, 1, 10000));                    /* wakes when the child exits */
    T(p.revents);
    int status;
    T(waitpid(child, &status, 0) == child);
    T(WEXITSTATUS(status));
    T(ready(fd));                              /* reaped: still readable */
    T(close(fd));
    return 0;
}
