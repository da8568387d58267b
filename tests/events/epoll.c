/* epoll (fs/eventpoll.c): create and ctl errors in Linux's order, levels,
 * data, EPOLLONESHOT, EPOLLHUP, items that follow the open file (dup, close),
 * nested instances, timeouts, a wait a child's write ends, epoll_pwait's mask. */
#include "check.h"
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>

static volatile int caught;
static void on_signal(int sig) { caught = sig; }

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* epoll_wait, then the (data, events) pairs in ascending data order. */
static int show_wait(int ep, int maxevents, int timeout)
{
    struct epoll_event evs[8];
    int n = epoll_wait(ep, evs, maxevents, timeout);
    printf("  wait(max %d, %d ms) = %d:", maxevents, timeout, n);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (evs[j].data.u64 < evs[i].data.u64) {
                struct epoll_event t = evs[i];
                evs[i] = evs[j];
                evs[j] = t;
            }
    for (int i = 0; i < n; i++)
        printf(" [%llu %#x]", (unsigned long long)evs[i].data.u64, evs[i].events);
    printf("\n");
    return n;
}

int main(void)
{
    T(epoll_create(0));
    T(syscall(SYS_epoll_create, -1));
    T(epoll_create1(0x1));
    int ep = T(epoll_create(1));
    T(close(ep));
    ep = T(epoll_create1(EPOLL_CLOEXEC));
    T(fcntl(ep, F_GETFD));
    int p[2];
    T(pipe(p));
    int efd = T(eventfd(0, EFD_NONBLOCK));
    int file = T(open("file.tmp", O_CREAT | O_RDWR | O_TRUNC, 0600));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};

    /* ctl errors */
    T(epoll_ctl(99, EPOLL_CTL_ADD, p[0], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, 99, &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, file, &ev));
    T(epoll_ctl(efd, EPOLL_CTL_ADD, p[0], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], BAD_POINTER));
    T(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], BAD_POINTER));
    T(epoll_ctl(ep, 7, p[0], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    T(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    ev.events = EPOLLIN | EPOLLPRI | EPOLLEXCLUSIVE;
    T(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));

    /* levels */
    ev.events = EPOLLIN;
    T(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = 2;
    T(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
    show_wait(ep, 8, 0);
    T(write(p[1], "ab", 2));
    show_wait(ep, 8, 0);
    show_wait(ep, 8, 0); /* level-triggered: still there */
    ev.events = EPOLLIN;
    ev.data.u64 = 3;
    T(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev));
    show_wait(ep, 8, 0);
    uint64_t one = 1;
    T(write(efd, &one, sizeof one));
    show_wait(ep, 8, 0);
    /* maxevents 1: the ready items take turns */
    struct epoll_event a, b;
    T(epoll_wait(ep, &a, 1, 0));
    T(epoll_wait(ep, &b, 1, 0));
    printf("  turns: %s\n", a.data.u64 != b.data.u64 ? "both seen" : "same twice");

    /* wait errors */
    T(epoll_wait(ep, &a, 0, 0));
    T(syscall(SYS_epoll_wait, ep, &a, -1, 0));
    T(epoll_wait(99, &a, 1, 0));
    T(epoll_wait(efd, &a, 1, 0));
    T(syscall(SYS_epoll_wait, ep, BAD_POINTER, 1, 0));
    sigset_t empty;
    sigemptyset(&empty);
    T(syscall(SYS_epoll_pwait, ep, &a, 1, 0, &empty, 4));

    /* a timeout with nothing ready */
    char buf[8];
    T(read(p[0], buf, sizeof buf));
    T(read(efd, &one, sizeof one));
    long long start = now_ms();
    show_wait(ep, 8, 30);
    printf("  waited >= 30 ms: %s\n", now_ms() - start >= 30 ? "yes" : "no");

    /* EPOLLONESHOT: reported once, until re-armed with MOD */
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = 4;
    T(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev));
    T(write(efd, &one, sizeof one));
    show_wait(ep, 8, 0);
    show_wait(ep, 8, 0);
    T(epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev));
    show_wait(ep, 8, 0);
    T(epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL));
    T(read(efd, &one, sizeof one));

    /* EPOLLET: treated as level-triggered here; reported while data is new */
    int q[2];
    T(pipe(q));
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = 5;
    T(epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ev));
    T(write(q[1], "z", 1));
    show_wait(ep, 8, 0);
    T(read(q[0], buf, sizeof buf));
    ev.events = EPOLLIN;
    T(epoll_ctl(ep, EPOLL_CTL_MOD, q[0], &ev));

    /* EPOLLHUP without asking: the writer goes away */
    T(close(q[1]));
    show_wait(ep, 8, 0);
    /* the item follows the open file: a dup keeps it, the last close drops it */
    int dupfd = T(dup(q[0]));
    T(close(q[0]));
    show_wait(ep, 8, 0);
    T(epoll_ctl(ep, EPOLL_CTL_DEL, dupfd, NULL));
    T(close(dupfd));

    /* nested: an epoll descriptor is pollable, and loops are refused */
    int outer = T(epoll_create1(0));
    ev.events = EPOLLIN;
    ev.data.u64 = 6;
    T(epoll_ctl(outer, EPOLL_CTL_ADD, ep, &ev));
    T(epoll_ctl(ep, EPOLL_CTL_ADD, outer, &ev));
    show_wait(outer, 8, 0);
    T(write(p[1], "c", 1));
    show_wait(outer, 8, 0);
    struct pollfd pfd = {.fd = ep, .events = POLLIN};
    T(poll(&pfd, 1, 0));
    printf("  poll of the epoll fd: %#x\n", pfd.revents);
    T(read(p[0], buf, sizeof buf));
    T(poll(&pfd, 1, 0));

    /* a child's write ends an infinite wait, through fork */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec delay = {0, 10000000};
        nanosleep(&delay, NULL);
        _exit(write(p[1], "d", 1) == 1 ? 0 : 1);
    }
    show_wait(outer, 8, -1);
    int status;
    waitpid(pid, &status, 0);
    printf("  child exited %d\n", WEXITSTATUS(status));
    T(read(p[0], buf, sizeof buf));

    /* epoll_pwait's mask lets a pending blocked signal through: EINTR, mask back */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t usr1, now;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    raise(SIGUSR1);
    T(epoll_pwait(ep, &a, 1, 5000, &empty));
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("caught %s, SIGUSR1 blocked again: %s\n", caught == SIGUSR1 ? "SIGUSR1" : "nothing",
           sigismember(&now, SIGUSR1) ? "yes" : "no");
    T(epoll_pwait(ep, &a, 1, 10, &usr1));
    T(close(outer));
    T(close(ep));
    T(epoll_wait(ep, &a, 1, 0));
    unlink("file.tmp");
    return 0;
}
