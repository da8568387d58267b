/* POSIX message queues (ipc/mqueue.c), natively as root and in a coffer: the guest
 * unshares CLONE_NEWIPC first, so that it has a queue namespace of its own, then opens,
 * fills and drains queues: O_CREAT/O_EXCL and struct mq_attr's limits, priority order
 * and FIFO within a priority, EAGAIN, EMSGSIZE, timeouts, a receiver blocked until a
 * child sends, EINTR by a signal, mq_notify's signal with si_code SI_MESGQ and its one
 * registrant, mq_getsetattr, poll/select/epoll readiness, read(2)'s QSIZE line, and,
 * as nobody, the sysctl limits and RLIMIT_MSGQUEUE. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include "check.h"
#include "caps.h"
#include <mqueue.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#define NOBODY 65534
#define NS_PER_MS 1000000L

static volatile sig_atomic_t notified_code, notified_value, notified_from_self, alarms;

static void on_notify(int sig, siginfo_t *info, void *context)
{
    (void)sig, (void)context;
    notified_code = info->si_code;
    notified_value = info->si_value.sival_int;
    notified_from_self = info->si_pid == getpid();
}

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static struct timespec in_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * NS_PER_MS;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

static void show_attr(mqd_t q)
{
    struct mq_attr a;
    if (T(mq_getattr(q, &a)) == 0)
        printf("attr flags %#lx maxmsg %ld msgsize %ld curmsgs %ld\n", a.mq_flags, a.mq_maxmsg,
               a.mq_msgsize, a.mq_curmsgs);
}

static void show_qsize(mqd_t q)
{
    char line[128] = {0};
    ssize_t n = pread(q, line, sizeof line - 1, 0);
    if (n < 0)
        n = read(q, line, sizeof line - 1);
    char *pid = strstr(line, "NOTIFY_PID:");
    int owner = pid ? atoi(pid + strlen("NOTIFY_PID:")) : -1;
    if (pid)
        *pid = 0;
    printf("read %zd: %sNOTIFY_PID:%s\n", n, line, owner == getpid() ? "self" : owner ? "?" : "0");
}

static void show_poll(mqd_t q)
{
    struct pollfd p = {.fd = q, .events = POLLIN | POLLOUT};
    T(poll(&p, 1, 0));
    printf("poll revents %#x\n", p.revents);
    fd_set in, out;
    FD_ZERO(&in);
    FD_ZERO(&out);
    FD_SET(q, &in);
    FD_SET(q, &out);
    struct timeval zero = {0, 0};
    T(select(q + 1, &in, &out, NULL, &zero));
    printf("select in %d out %d\n", FD_ISSET(q, &in), FD_ISSET(q, &out));
}

static void drain(mqd_t q)
{
    char buf[64];
    unsigned prio;
    struct mq_attr a;
    mq_getattr(q, &a);
    for (long i = 0; i < a.mq_curmsgs; i++) {
        ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
        printf("received %zd '%.*s' prio %u\n", n, (int)(n < 0 ? 0 : n), buf, prio);
    }
}

static void as_nobody(void)
{
    struct mq_attr big = {.mq_maxmsg = 11, .mq_msgsize = 16};
    T(setresgid(NOBODY, NOBODY, NOBODY));
    T(setresuid(NOBODY, NOBODY, NOBODY));
    T(mq_open("/big", O_CREAT | O_RDWR, 0600, &big));
    big.mq_maxmsg = 10, big.mq_msgsize = 8193;
    T(mq_open("/big", O_CREAT | O_RDWR, 0600, &big));
    T(mq_open("/q", O_RDONLY));
    T(mq_open("/q", O_WRONLY));
    T(mq_unlink("/q"));
    struct rlimit low = {1000, 1000};
    T(getrlimit(RLIMIT_MSGQUEUE, &low));
    printf("RLIMIT_MSGQUEUE %lu %lu\n", (unsigned long)low.rlim_cur, (unsigned long)low.rlim_max);
    low.rlim_cur = low.rlim_max = 1000;
    T(setrlimit(RLIMIT_MSGQUEUE, &low));
    struct mq_attr fits = {.mq_maxmsg = 2, .mq_msgsize = 100};
    struct mq_attr over = {.mq_maxmsg = 10, .mq_msgsize = 100};
    mqd_t mine = T(mq_open("/mine", O_CREAT | O_EXCL | O_RDWR, 0600, &fits));
    T(mq_open("/over", O_CREAT | O_EXCL | O_RDWR, 0600, &over));
    T(mq_open("/two", O_CREAT | O_EXCL | O_RDWR, 0600, &fits));
    T(mq_open("/three", O_CREAT | O_EXCL | O_RDWR, 0600, &fits));
    T(mq_unlink("/two"));
    T(mq_open("/three", O_CREAT | O_EXCL | O_RDWR, 0600, &fits));
    T(mq_unlink("/three"));
    T(mq_unlink("/mine"));
    T(mq_close(mine));
    _exit(0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    drop_sys_resource();
    umask(022);
    T(unshare(CLONE_NEWIPC));
    T(mq_open("/q", O_RDWR));
    T(mq_open("/a/b", O_CREAT | O_RDWR, 0600, NULL));
    struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 16};
    T(mq_open("/q", O_CREAT | O_RDWR, 0600, &bad));
    bad.mq_maxmsg = 70000;
    T(mq_open("/q", O_CREAT | O_RDWR, 0600, &bad));
    bad.mq_maxmsg = 4, bad.mq_msgsize = -1;
    T(mq_open("/q", O_CREAT | O_RDWR, 0600, &bad));

    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 16};
    mqd_t q = T(mq_open("/q", O_CREAT | O_EXCL | O_RDWR, 0644, &attr));
    T(mq_open("/q", O_CREAT | O_EXCL | O_RDWR, 0644, &attr));
    T(mq_open("/q", O_RDWR | O_WRONLY));
    printf("cloexec %d\n", fcntl(q, F_GETFD) & FD_CLOEXEC);
    struct stat st;
    T(fstat(q, &st));
    printf("mode %o size %lld uid %d nlink %lu\n", st.st_mode, (long long)st.st_size,
           st.st_uid, (unsigned long)st.st_nlink);
    char link[64], target[64] = {0};
    snprintf(link, sizeof link, "/proc/self/fd/%d", q);
    T(readlink(link, target, sizeof target - 1));
    printf("link %s\n", target);
    struct statfs sfs;
    T(fstatfs(q, &sfs));
    printf("f_type %#lx\n", (unsigned long)sfs.f_type);
    T(fchmod(q, 0640));
    T(fstat(q, &st));
    printf("mode %o\n", st.st_mode);
    show_attr(q);
    mqd_t dflt = T(mq_open("/dflt", O_CREAT | O_RDWR, 0600, NULL));
    show_attr(dflt);
    T(mq_close(dflt));
    T(mq_unlink("/dflt"));
    T(mq_unlink("/dflt"));
    show_poll(q);

    /* priority order, FIFO within one priority; full and too long */
    T(mq_send(q, "a1", 2, 1));
    T(mq_send(q, "b5", 2, 5));
    T(mq_send(q, "c1", 2, 1));
    T(mq_send(q, "d33", 3, 3));
    show_qsize(q);
    show_poll(q);
    struct timespec soon = in_ms(20);
    T(mq_timedsend(q, "e", 1, 0, &soon));
    struct mq_attr nonblock = {.mq_flags = O_NONBLOCK};
    T(mq_setattr(q, &nonblock, NULL));
    T(mq_send(q, "e", 1, 0));
    struct mq_attr wrong = {.mq_flags = O_APPEND};
    T(mq_setattr(q, &wrong, NULL));
    show_attr(q);
    char buf[64];
    T(mq_receive(q, buf, 8, NULL));
    T(mq_send(q, "0123456789abcdefX", 17, 0));
    T(mq_send(q, "x", 1, 32768));
    drain(q);
    T(mq_receive(q, buf, sizeof buf, NULL));
    show_qsize(q);
    nonblock.mq_flags = 0;
    T(mq_setattr(q, &nonblock, NULL));
    soon = in_ms(20);
    T(mq_timedreceive(q, buf, sizeof buf, NULL, &soon));
    struct timespec invalid = {0, 1000000000L};
    T(mq_timedreceive(q, buf, sizeof buf, NULL, &invalid));
    struct timespec past = {0, 0};
    T(mq_timedreceive(q, buf, sizeof buf, NULL, &past));

    /* a receiver blocked until a child sends */
    pid_t child = fork();
    if (child == 0) {
        usleep(20000);
        mqd_t w = mq_open("/q", O_WRONLY);
        mq_send(w, "late", 4, 7);
        _exit(0);
    }
    unsigned prio = 0;
    ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
    printf("blocking receive %zd '%.*s' prio %u\n", n, (int)(n < 0 ? 0 : n), buf, prio);
    waitpid(child, NULL, 0);

    /* a signal interrupts a blocked receive (no SA_RESTART) */
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval once = {.it_value = {0, 20000}};
    setitimer(ITIMER_REAL, &once, NULL);
    T(mq_receive(q, buf, sizeof buf, NULL));
    printf("alarms %d\n", (int)alarms);

    /* with SA_RESTART the receive goes on after the handler, until a child sends */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    child = fork();
    if (child == 0) {
        usleep(60000);
        mqd_t w = mq_open("/q", O_WRONLY);
        mq_send(w, "again", 5, 1);
        _exit(0);
    }
    setitimer(ITIMER_REAL, &once, NULL);
    n = mq_receive(q, buf, sizeof buf, &prio);
    printf("restarted receive %zd '%.*s' alarms %d\n", n, (int)(n < 0 ? 0 : n), buf,
           (int)alarms);
    waitpid(child, NULL, 0);

    /* a sender blocked on a full queue until a child receives */
    for (int i = 0; i < 4; i++)
        mq_send(q, "full", 4, (unsigned)i);
    child = fork();
    if (child == 0) {
        usleep(20000);
        mqd_t r = mq_open("/q", O_RDONLY);
        ssize_t got = mq_receive(r, buf, sizeof buf, &prio);
        _exit(got == 4 ? (int)prio : 0xff); /* (no output: it would race the parent's) */
    }
    struct timespec later = in_ms(5000);
    T(mq_timedsend(q, "room", 4, 9, &later));
    int received;
    waitpid(child, &received, 0);
    printf("child received prio %d\n", WEXITSTATUS(received));
    drain(q);

    /* notification: one registrant, a signal with SI_MESGQ when the queue fills from empty */
    struct sigaction sn = {.sa_sigaction = on_notify, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &sn, NULL);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1,
                          .sigev_value.sival_int = 42};
    T(mq_notify(q, &ev));
    T(mq_notify(q, &ev));
    show_qsize(q);
    child = fork();
    if (child == 0) {
        T(mq_notify(q, &ev));
        T(mq_notify(q, NULL));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    T(mq_send(q, "n", 1, 0));
    printf("notified code %d (SI_MESGQ %d) value %d self %d\n", (int)notified_code, SI_MESGQ,
           (int)notified_value, (int)notified_from_self);
    show_qsize(q);
    T(mq_notify(q, &ev));
    T(mq_notify(q, NULL));
    T(mq_notify(q, NULL));
    struct sigevent none = {.sigev_notify = SIGEV_NONE};
    T(mq_notify(q, &none));
    show_qsize(q);
    struct sigevent bogus = {.sigev_notify = 77};
    T(mq_notify(q, &bogus));
    ev.sigev_signo = 99;
    T(mq_notify(q, NULL));
    T(mq_notify(q, &ev));

    /* epoll sees the queue readable */
    int ep = T(epoll_create1(0));
    struct epoll_event ee = {.events = EPOLLIN}, got;
    T(epoll_ctl(ep, EPOLL_CTL_ADD, q, &ee));
    T(epoll_wait(ep, &got, 1, 0));
    drain(q);
    T(epoll_wait(ep, &got, 1, 0));
    close(ep);

    /* a process blocked in poll is no receiver: the notification is sent, and poll wakes */
    notified_code = 0;
    ev.sigev_signo = SIGUSR1;
    T(mq_notify(q, &ev));
    child = fork();
    if (child == 0) {
        struct pollfd p = {.fd = q, .events = POLLIN};
        int ready = poll(&p, 1, 5000);
        _exit(ready == 1 ? p.revents : 0xff);
    }
    usleep(20000);
    T(mq_send(q, "polled", 6, 0));
    int polled;
    waitpid(child, &polled, 0);
    printf("child's poll revents %#x\n", WEXITSTATUS(polled));
    printf("notified code %d with a poller\n", (int)notified_code);
    drain(q);

    /* closing any descriptor of the queue drops the closer's own registration
     * (mqueue_flush_file), not another process's */
    struct sigevent quiet = {.sigev_notify = SIGEV_NONE};
    T(mq_notify(q, &quiet));
    int again = T(dup(q));
    child = fork();
    if (child == 0) {
        T(close(again));
        T(mq_notify(q, &quiet));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    T(close(again));
    show_qsize(q);
    T(mq_notify(q, &quiet));
    T(mq_notify(q, NULL));

    /* descriptors that are not queues, or not open for that */
    int pipefd[2];
    T(pipe(pipefd));
    T(mq_send(pipefd[1], "p", 1, 0));
    T(mq_getattr(pipefd[0], &attr));
    mqd_t ro = T(mq_open("/q", O_RDONLY));
    T(mq_send(ro, "r", 1, 0));
    T(write(q, "w", 1));
    T(mq_close(ro));

    /* as nobody: the sysctl limits, permissions and RLIMIT_MSGQUEUE */
    T(mq_send(q, "kept", 4, 0));
    child = fork();
    if (child == 0)
        as_nobody();
    int status;
    waitpid(child, &status, 0);
    printf("nobody exited %d\n", WEXITSTATUS(status));

    /* no descriptor free: EMFILE, and no queue made */
    int next = dup(0);
    close(next);
    struct rlimit files, few;
    getrlimit(RLIMIT_NOFILE, &files);
    few = files;
    few.rlim_cur = (rlim_t)next;
    T(setrlimit(RLIMIT_NOFILE, &few));
    T(mq_open("/nofd", O_CREAT | O_RDWR, 0600, NULL));
    T(setrlimit(RLIMIT_NOFILE, &files));
    T(mq_unlink("/nofd"));

    /* unlinked but still open */
    T(mq_unlink("/q"));
    T(mq_unlink("/q"));
    drain(q);
    T(mq_close(q));
    T(mq_close(q));
    return 0;
}
