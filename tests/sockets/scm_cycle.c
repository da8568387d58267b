/* SCM_RIGHTS cycles: a socket sent over itself, and two sockets each sent over the
 * other, with every descriptor closed, can only be freed by the garbage collector
 * of AF_UNIX sockets in flight (Linux's unix_gc). The peer that still has a
 * descriptor sees the other end go: end of file and POLLHUP. Linux runs the
 * collector when an AF_UNIX socket is released, so a spare pair is closed after the
 * cycle is made; poll waits (at most 5 s) for the collector's work. A socket in
 * flight that a process can still reach (in the queue of a socket it holds) is not
 * collected. */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int send_fd(int via, int fd)
{
    char byte = 'x';
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return (int)sendmsg(via, &msg, 0);
}

static void release_a_socket(void)
{
    int spare[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, spare);
    close(spare[0]);
    close(spare[1]);
}

/* Whether ``fd``'s peer went away: POLLHUP within 5 s, and a read of end of file. */
static void peer_gone(const char *what, int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    int ready = poll(&p, 1, 5000);
    char buf[4];
    ssize_t n = ready == 1 && (p.revents & POLLHUP) ? read(fd, buf, sizeof buf) : -2;
    printf("%s: hangup %d, read %zd\n", what, ready == 1 && (p.revents & POLLHUP) != 0, n);
    fflush(stdout);
}

int main(void)
{
    int a[2], b[2], c[2], keep[2];

    /* a socket sent over itself: b[1] waits in its own queue */
    socketpair(AF_UNIX, SOCK_STREAM, 0, a);
    printf("send over itself: %d\n", send_fd(a[0], a[1]));
    close(a[1]);
    release_a_socket();
    peer_gone("self cycle", a[0]);

    /* two sockets, each in the other's queue */
    socketpair(AF_UNIX, SOCK_STREAM, 0, b);
    socketpair(AF_UNIX, SOCK_STREAM, 0, c);
    printf("send b over c: %d\n", send_fd(c[0], b[1])); /* into c[1]'s queue */
    printf("send c over b: %d\n", send_fd(b[0], c[1])); /* into b[1]'s queue */
    close(b[1]);
    close(c[1]);
    release_a_socket();
    peer_gone("two-socket cycle, b", b[0]);
    peer_gone("two-socket cycle, c", c[0]);

    /* still reachable: keep[1] is in the queue of a socket we hold (b's spare end
     * is gone, so use a fresh pair) */
    int holder[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, keep);
    socketpair(AF_UNIX, SOCK_STREAM, 0, holder);
    printf("send keep over holder: %d\n", send_fd(holder[0], keep[1]));
    close(keep[1]);
    release_a_socket();
    struct pollfd p = {keep[0], POLLIN, 0};
    printf("reachable socket kept: %d\n", poll(&p, 1, 200) == 0);
    close(a[0]);
    close(b[0]);
    close(c[0]);
    close(keep[0]);
    close(holder[0]);
    close(holder[1]);
    return 0;
}
