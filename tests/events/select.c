/* select and pselect6 (fs/select.c): fd_set bits in and out, EBADF, EINVAL,
 * timeouts that clear the sets and write back the time left, a wait a child's
 * write ends, and pselect6's temporary signal mask. */
#include "check.h"
#include <signal.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static volatile int caught;
static void on_signal(int sig) { caught = sig; }

static void show_set(const char *name, fd_set *set, int n)
{
    printf("  %s:", name);
    for (int fd = 0; fd < n; fd++)
        if (FD_ISSET(fd, set))
            printf(" %d", fd);
    printf("\n");
}

static long raw_select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    return syscall(SYS_select, n, r, w, e, tv);
}

int main(void)
{
    int p[2];
    T(pipe(p)); /* 3, 4 */
    int file = T(open("file.tmp", O_CREAT | O_RDWR | O_TRUNC, 0600)); /* 5 */
    fd_set r, w, e;
    FD_ZERO(&r); FD_ZERO(&w); FD_ZERO(&e);
    FD_SET(p[0], &r); FD_SET(p[1], &w); FD_SET(file, &r); FD_SET(p[0], &e);
    struct timeval tv = {0, 0};
    T(raw_select(8, &r, &w, &e, &tv));
    show_set("read", &r, 8); show_set("write", &w, 8); show_set("except", &e, 8);

    T(write(p[1], "data", 4));
    FD_ZERO(&r); FD_ZERO(&w);
    FD_SET(p[0], &r); FD_SET(p[1], &r); FD_SET(p[1], &w); FD_SET(p[0], &w);
    T(select(8, &r, &w, NULL, &tv));
    show_set("read", &r, 8); show_set("write", &w, 8);

    /* timeout: sets cleared, time left written back */
    char buf[8];
    T(read(p[0], buf, sizeof buf));
    FD_ZERO(&r); FD_SET(p[0], &r);
    tv.tv_usec = 20000;
    T(raw_select(p[0] + 1, &r, NULL, NULL, &tv));
    show_set("read after timeout", &r, 8);
    printf("  tv left %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
    struct timespec ts = {0, 15000000};
    FD_ZERO(&r); FD_SET(p[0], &r);
    T(pselect(p[0] + 1, &r, NULL, NULL, &ts, NULL));
    show_set("pselect read after timeout", &r, 8);
    T(raw_select(0, NULL, NULL, NULL, &tv));

    /* errors */
    FD_ZERO(&r); FD_SET(9, &r);
    T(raw_select(10, &r, NULL, NULL, &tv));
    show_set("read untouched by EBADF", &r, 10);
    T(raw_select(-1, NULL, NULL, NULL, &tv));
    tv.tv_usec = 0;
    struct timeval neg = {-1, 0};
    T(raw_select(1, NULL, NULL, NULL, &neg));
    neg.tv_sec = 0; neg.tv_usec = -5;
    T(raw_select(1, NULL, NULL, NULL, &neg));
    T(raw_select(1, BAD_POINTER, NULL, NULL, &tv));
    struct timespec badts = {0, 1000000000};
    T(syscall(SYS_pselect6, 1, NULL, NULL, NULL, &badts, NULL));
    sigset_t empty;
    sigemptyset(&empty);
    struct { sigset_t *ss; size_t len; } pack = {&empty, 4};
    ts.tv_nsec = 0;
    T(syscall(SYS_pselect6, 1, NULL, NULL, NULL, &ts, &pack));
    T(syscall(SYS_pselect6, 1, NULL, NULL, NULL, &ts, BAD_POINTER));

    /* a child's write ends an infinite wait */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec delay = {0, 10000000};
        nanosleep(&delay, NULL);
        _exit(write(p[1], "y", 1) == 1 ? 0 : 1);
    }
    FD_ZERO(&r); FD_SET(p[0], &r);
    T(select(p[0] + 1, &r, NULL, NULL, NULL));
    show_set("read woken by child", &r, 8);
    int status;
    waitpid(pid, &status, 0);
    T(read(p[0], buf, 1));

    /* pselect's mask lets a pending blocked signal through: EINTR, mask restored */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR2, &sa, NULL);
    sigset_t usr2, now;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, NULL);
    raise(SIGUSR2);
    FD_ZERO(&r); FD_SET(p[0], &r);
    ts.tv_sec = 5;
    T(pselect(p[0] + 1, &r, NULL, NULL, &ts, &empty));
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("caught %s, SIGUSR2 blocked again: %s\n", caught == SIGUSR2 ? "SIGUSR2" : "nothing",
           sigismember(&now, SIGUSR2) ? "yes" : "no");
    unlink("file.tmp");
    return 0;
}
