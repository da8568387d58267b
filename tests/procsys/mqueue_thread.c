/* mq_notify's SIGEV_THREAD, natively as root and in a coffer: the C library asks the
 * kernel to send a cookie to a netlink socket its helper thread reads, and starts a
 * thread that runs the function when the cookie says a message came. The guest
 * registers, sees EBUSY and the QSIZE line's NOTIFY:2, gets its function called once
 * with its value, unregisters (no call after), and makes the raw call with a bad
 * cookie pointer, a descriptor that is no socket and a socket that is not netlink. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include "check.h"
#include <mqueue.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

static sem_t called;
static volatile int calls, last_value;

static void on_message(union sigval value)
{
    calls++;
    last_value = value.sival_int;
    sem_post(&called);
}

static void show_qsize(mqd_t q)
{
    char line[128] = {0};
    ssize_t n = pread(q, line, sizeof line - 1, 0);
    char *pid = strstr(line, "NOTIFY_PID:");
    int owner = pid ? atoi(pid + strlen("NOTIFY_PID:")) : -1;
    if (pid)
        *pid = 0;
    printf("read %zd: %sNOTIFY_PID:%s\n", n, line, owner == getpid() ? "self" : owner ? "?" : "0");
}

static int wait_call(long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    return sem_timedwait(&called, &until);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    sem_init(&called, 0, 0);
    T(unshare(CLONE_NEWIPC));
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 16};
    mqd_t q = T(mq_open("/t", O_CREAT | O_RDWR, 0600, &attr));
    struct sigevent ev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_message,
                          .sigev_value.sival_int = 7};
    T(mq_notify(q, &ev));
    T(mq_notify(q, &ev));
    show_qsize(q);
    T(mq_send(q, "m", 1, 0));
    T(wait_call(5000));
    printf("calls %d value %d\n", calls, last_value);
    show_qsize(q);
    char buf[16];
    T(mq_receive(q, buf, sizeof buf, NULL));

    ev.sigev_value.sival_int = 8;
    T(mq_notify(q, &ev));
    T(mq_notify(q, NULL));
    show_qsize(q);
    T(mq_send(q, "n", 1, 0));
    T(wait_call(50));
    printf("calls %d value %d\n", calls, last_value);

    int pipefd[2], unix_pair[2];
    T(pipe(pipefd));
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, unix_pair));
    char cookie[32] = {0};
    struct sigevent raw = {.sigev_notify = SIGEV_THREAD, .sigev_value.sival_ptr = cookie};
    raw.sigev_signo = pipefd[0];
    T(syscall(SYS_mq_notify, q, &raw));
    raw.sigev_signo = unix_pair[0];
    T(syscall(SYS_mq_notify, q, &raw));
    raw.sigev_signo = 999;
    T(syscall(SYS_mq_notify, q, &raw));
    raw.sigev_value.sival_ptr = (void *)8;
    T(syscall(SYS_mq_notify, q, &raw));
    T(mq_close(q));
    T(mq_unlink("/t"));
    return 0;
}
