/* poll and ppoll (fs/select.c): readiness of pipes, files and devices, POLLHUP,
 * POLLERR, POLLNVAL, timeouts, argument errors, a wait a child's write ends,
 * and signals: EINTR, and ppoll's temporary mask. Compared with a native run. */
#include "check.h"
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static volatile int caught;
static void on_signal(int sig) { caught = sig; }

static void show_revents(const char *what, struct pollfd *fds, int n)
{
    printf("%s:", what);
    for (int i = 0; i < n; i++)
        printf(" fd%d=%#x", i, fds[i].revents);
    printf("\n");
}

int main(void)
{
    int p[2], q[2];
    T(pipe(p));
    T(pipe(q));
    int file = T(open("file.tmp", O_CREAT | O_RDWR | O_TRUNC, 0600));
    int null = T(open("/dev/null", O_RDWR));

    struct pollfd fds[6] = {
        {.fd = p[0], .events = POLLIN}, {.fd = p[1], .events = POLLOUT},
        {.fd = file, .events = POLLIN | POLLOUT | POLLRDNORM}, {.fd = null, .events = POLLIN},
        {.fd = -1, .events = POLLIN}, {.fd = 99, .events = POLLIN},
    };
    T(poll(fds, 6, 0));
    show_revents("idle", fds, 6);
    T(write(p[1], "abc", 3));
    fds[0].events = POLLIN | POLLPRI;
    T(poll(fds, 1, 0));
    show_revents("after write", fds, 1);
    T(close(p[1]));
    T(poll(fds, 1, 0));
    show_revents("writer closed", fds, 1);
    char buf[8];
    T(read(p[0], buf, sizeof buf));
    fds[0].events = 0; /* POLLHUP is reported even when not asked for */
    T(poll(fds, 1, 0));
    show_revents("drained, no events asked", fds, 1);
    T(close(q[0]));
    struct pollfd wq = {.fd = q[1], .events = POLLOUT};
    T(poll(&wq, 1, 0));
    printf("reader closed: POLLERR %s\n", wq.revents & POLLERR ? "yes" : "no");
    T(close(q[1]));

    /* timeouts */
    T(pipe(p));
    struct pollfd rd = {.fd = p[0], .events = POLLIN};
    long long start = now_ms();
    T(poll(&rd, 1, 30));
    printf("poll 30 ms waited >= 30 ms: %s\n", now_ms() - start >= 30 ? "yes" : "no");
    start = now_ms();
    T(poll(NULL, 0, 20));
    printf("poll of nothing 20 ms waited >= 20 ms: %s\n", now_ms() - start >= 20 ? "yes" : "no");
    struct timespec ts = {0, 25000000};
    start = now_ms();
    T(ppoll(&rd, 1, &ts, NULL));
    printf("ppoll 25 ms waited >= 25 ms: %s\n", now_ms() - start >= 25 ? "yes" : "no");
    ts.tv_nsec = 0;
    T(ppoll(&rd, 1, &ts, NULL));

    /* errors */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    T(poll(&rd, rl.rlim_cur + 1, 0));
    T(poll(BAD_POINTER, 1, 0));
    struct timespec bad = {0, 1000000000};
    T(ppoll(&rd, 1, &bad, NULL));
    bad.tv_sec = -1;
    bad.tv_nsec = 0;
    T(ppoll(&rd, 1, &bad, NULL));
    sigset_t empty;
    sigemptyset(&empty);
    T(syscall(SYS_ppoll, &rd, 1, NULL, &empty, 4));

    /* a child's write ends an infinite wait */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec delay = {0, 10000000};
        nanosleep(&delay, NULL);
        _exit(write(p[1], "x", 1) == 1 ? 0 : 1);
    }
    T(poll(&rd, 1, -1));
    show_revents("woken by child", &rd, 1);
    int status;
    waitpid(pid, &status, 0);
    printf("child exited %d\n", WEXITSTATUS(status));
    T(read(p[0], buf, 1));

    /* a signal interrupts poll: EINTR even with SA_RESTART */
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_value = {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    T(poll(&rd, 1, -1));
    printf("caught %s\n", caught == SIGALRM ? "SIGALRM" : "nothing");

    /* ppoll's mask: a blocked pending signal it lets through interrupts it at once,
       the handler runs, and the caller's mask is back afterwards */
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t usr1, now;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    raise(SIGUSR1);
    caught = 0;
    ts.tv_sec = 5;
    T(ppoll(&rd, 1, &ts, &empty));
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("caught %s, SIGUSR1 blocked again: %s\n", caught == SIGUSR1 ? "SIGUSR1" : "nothing",
           sigismember(&now, SIGUSR1) ? "yes" : "no");
    /* and a mask that keeps it blocked lets the timeout run out */
    raise(SIGUSR1);
    caught = 0;
    ts.tv_sec = 0;
    ts.tv_nsec = 10000000;
    T(ppoll(&rd, 1, &ts, &usr1));
    printf("ts after timeout: %ld.%09ld, caught %d\n", (long)ts.tv_sec, ts.tv_nsec, caught);
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
    printf("caught after unblocking: %s\n", caught == SIGUSR1 ? "SIGUSR1" : "nothing");
    unlink("file.tmp");
    return 0;
}
