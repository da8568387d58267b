/* A lease holder that never gives way: the opener waits lease-break-time (45 s on
 * the coffer's clock), then the kernel removes the lease itself. Run in a coffer
 * only: natively it takes 45 s of real time. */
#include "check.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
    signal(SIGIO, SIG_IGN);
    int fd = open("f", O_CREAT | O_RDONLY, 0644);
    T(fcntl(fd, F_SETLEASE, F_WRLCK));
    double start = now();
    pid_t child = fork();
    if (child == 0)
        _exit(open("f", O_WRONLY) >= 0 ? 0 : 1);
    int status;
    waitpid(child, &status, 0);
    printf("child status %d after %.0f s\n", status, now() - start);
    T(fcntl(fd, F_GETLEASE));
    unlink("f");
    return 0;
}
