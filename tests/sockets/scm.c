/* Ancillary data over AF_UNIX: SCM_RIGHTS (files in flight, MSG_CTRUNC, MSG_CMSG_CLOEXEC,
 * MSG_PEEK, a stream read stopping after the send that carried files, files closed with
 * an unread socket), SCM_CREDENTIALS with SO_PASSCRED, SO_PEERCRED, and the errors. */
#include "check.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static char cbuf[512];

static long send_fds(int sock, const char *data, const int *fds, int n)
{
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (n) {
        struct cmsghdr *c = (struct cmsghdr *)cbuf;
        msg.msg_control = cbuf;
        msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
        c->cmsg_len = CMSG_LEN(n * sizeof(int));
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    }
    return sendmsg(sock, &msg, 0);
}

/* recvmsg into `room` bytes of control; print the data, flags and every item. */
static void receive(int sock, size_t room, int flags)
{
    char data[64];
    struct iovec iov = {data, sizeof data};
    struct msghdr msg = {0};
    memset(cbuf, 0, sizeof cbuf);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = room ? cbuf : NULL;
    msg.msg_controllen = room;
    ssize_t n = recvmsg(sock, &msg, flags);
    if (n < 0) {
        printf("recvmsg -1 %s\n", strerrorname_np(errno));
        return;
    }
    printf("recvmsg %zd [%.*s] ctrunc %d controllen %zu\n", n, (int)n, data,
           !!(msg.msg_flags & MSG_CTRUNC), (size_t)msg.msg_controllen);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        printf("  cmsg level %d type %d len %zu", c->cmsg_level, c->cmsg_type,
               (size_t)c->cmsg_len);
        if (c->cmsg_type == SCM_RIGHTS) {
            int count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (int i = 0; i < count; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                char got[16] = {0};
                lseek(fd, 0, SEEK_SET);
                ssize_t r = read(fd, got, sizeof got - 1);
                printf(" fd-cloexec %d reads [%.*s]", fcntl(fd, F_GETFD), (int)(r > 0 ? r : 0),
                       got);
                close(fd);
            }
        } else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred u;
            memcpy(&u, CMSG_DATA(c), sizeof u);
            printf(" pid-is-sender %d uid %u gid %u", u.pid == getpid(), u.uid, u.gid);
        }
        printf("\n");
    }
}

static int file_with(const char *text)
{
    char name[] = "/tmp/scmXXXXXX";
    int fd = mkstemp(name);
    unlink(name);
    (void)!write(fd, text, strlen(text));
    return fd;
}

int main(void)
{
    int sv[2], dg[2], sp[2];
    int a = file_with("alpha"), b = file_with("beta"), c = file_with("gamma");
    T(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));

    /* one file; the sender closes its descriptor before the receiver reads */
    int fds[3] = {a, b, c};
    T(send_fds(sv[0], "one", fds, 1));
    T(close(a));
    receive(sv[1], CMSG_SPACE(sizeof(int)), 0);

    /* two files into room for one: MSG_CTRUNC, the other closed */
    T(send_fds(sv[0], "two", fds + 1, 2));
    receive(sv[1], CMSG_LEN(sizeof(int)), 0);
    /* no control buffer at all */
    T(send_fds(sv[0], "none", fds + 1, 1));
    receive(sv[1], 0, 0);
    /* MSG_CMSG_CLOEXEC, and a peek that leaves the file in flight */
    T(send_fds(sv[0], "cloexec", fds + 2, 1));
    receive(sv[1], sizeof cbuf, MSG_PEEK);
    receive(sv[1], sizeof cbuf, MSG_CMSG_CLOEXEC);

    /* a stream read stops after the send that carried files, not before it */
    T(send(sv[0], "ab", 2, 0));
    T(send_fds(sv[0], "cd", fds + 1, 1));
    T(send(sv[0], "ef", 2, 0));
    receive(sv[1], sizeof cbuf, 0);
    receive(sv[1], sizeof cbuf, 0);

    /* errors: a closed descriptor, too many, a bad level on a type */
    int bad = 999;
    T(send_fds(sv[0], "bad", &bad, 1));
    int many[254];
    for (int i = 0; i < 254; i++)
        many[i] = b;
    struct iovec iov = {"x", 1};
    struct msghdr msg = {0};
    static char big[CMSG_SPACE(sizeof many)];
    struct cmsghdr *h = (struct cmsghdr *)big;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = big;
    msg.msg_controllen = sizeof big;
    h->cmsg_len = CMSG_LEN(sizeof many);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    memcpy(CMSG_DATA(h), many, sizeof many);
    T(sendmsg(sv[0], &msg, 0));                /* 254 > SCM_MAX_FD: EINVAL */
    h->cmsg_len = CMSG_LEN(sizeof(int));
    h->cmsg_type = 77;
    msg.msg_controllen = CMSG_SPACE(sizeof(int));
    T(sendmsg(sv[0], &msg, 0));                /* unknown SOL_SOCKET type: EINVAL */
    h->cmsg_level = 99;
    T(sendmsg(sv[0], &msg, 0));                /* another level: skipped */
    h->cmsg_len = 200;
    T(sendmsg(sv[0], &msg, 0));                /* cmsg_len past the buffer: EINVAL */
    receive(sv[1], sizeof cbuf, MSG_DONTWAIT);
    receive(sv[1], sizeof cbuf, MSG_DONTWAIT);

    /* credentials: SO_PASSCRED, the default ones, claimed ones, and a bad claim */
    int on = 1;
    T(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    T(send(sv[0], "plain", 5, 0));
    receive(sv[1], sizeof cbuf, 0);
    T(send_fds(sv[0], "both", fds + 1, 1));
    receive(sv[1], sizeof cbuf, 0);
    receive(sv[1], CMSG_SPACE(sizeof(struct ucred)) - 4, MSG_DONTWAIT);
    struct ucred me = {getpid(), getuid(), getgid()};
    h->cmsg_len = CMSG_LEN(sizeof me);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_CREDENTIALS;
    memcpy(CMSG_DATA(h), &me, sizeof me);
    msg.msg_controllen = CMSG_SPACE(sizeof me);
    T(sendmsg(sv[0], &msg, 0));
    receive(sv[1], sizeof cbuf, 0);
    me.pid = 0x7ffffff0;                       /* root may claim any pid, but a live one */
    memcpy(CMSG_DATA(h), &me, sizeof me);
    T(sendmsg(sv[0], &msg, 0));

    /* SO_PEERCRED of a pair, and of an unconnected socket */
    struct ucred peer;
    socklen_t len = sizeof peer;
    T(getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &peer, &len));
    printf("peercred len %u pid-is-me %d uid %u gid %u\n", len, peer.pid == getpid(), peer.uid,
           peer.gid);
    int lone = T(socket(AF_UNIX, SOCK_STREAM, 0));
    T(getsockopt(lone, SOL_SOCKET, SO_PEERCRED, &peer, &len));
    printf("lone pid %d uid %d gid %d\n", peer.pid, (int)peer.uid, (int)peer.gid);
    T(setsockopt(lone, SOL_SOCKET, SO_PEERCRED, &peer, len));

    /* datagrams and seqpackets carry files per message */
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg));
    T(send_fds(dg[0], "dgram", fds + 1, 1));
    receive(dg[1], sizeof cbuf, 0);
    T(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp));
    T(send_fds(sp[0], "seq", fds + 2, 1));
    receive(sp[1], sizeof cbuf, 0);

    /* a file passed to a child process, which reads it */
    pid_t pid = fork();
    if (pid == 0) {
        receive(sv[1], sizeof cbuf, 0);
        fflush(stdout);
        _exit(0);
    }
    T(send_fds(sv[0], "to child", fds + 1, 1));
    int status;
    T(waitpid(pid, &status, 0) == pid);

    /* in flight when the receiver closes: the files are released with it */
    int pipefd[2];
    T(pipe(pipefd));
    T(send_fds(sv[0], "lost", &pipefd[1], 1));
    T(close(pipefd[1]));
    char ch;
    T(fcntl(pipefd[0], F_SETFL, O_NONBLOCK));
    T(read(pipefd[0], &ch, 1));                /* a writer is still in flight: EAGAIN */
    T(close(sv[1]));
    T(read(pipefd[0], &ch, 1));                /* the last writer went with the socket: 0 */

    /* an internet socket refuses SCM_RIGHTS */
    int udp = T(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in to = {AF_INET, htons(9), {htonl(0x7f000001)}};
    h->cmsg_len = CMSG_LEN(sizeof(int));
    h->cmsg_type = SCM_RIGHTS;
    memcpy(CMSG_DATA(h), &b, sizeof b);
    msg.msg_controllen = CMSG_SPACE(sizeof(int));
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    T(sendmsg(udp, &msg, 0));
    return 0;
}
