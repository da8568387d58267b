/* TCP and UDP over IPv4 loopback: names, errors and ends, printed call by call.
 *
 *   inet PORT     a free high port: listened on, then used for UDP
 *
 * Ports differ between runs and hosts: PORT prints as "PORT", and of an
 * ephemeral port only its properties (in the range, the same on both ends). */
#include "check.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

static volatile int sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }
static int port;

static struct sockaddr_in loopback(int p) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)p)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Print a name; an ephemeral port shows as "ephemeral". Returns the port. */
static int show_name(const char *what, int fd, int peer) {
    struct sockaddr_in a;
    memset(&a, 0x55, sizeof a);
    socklen_t len = sizeof a;
    int r = peer ? getpeername(fd, (struct sockaddr *)&a, &len)
                 : getsockname(fd, (struct sockaddr *)&a, &len);
    if (r < 0) {
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
        return -1;
    }
    int p = ntohs(a.sin_port);
    char text[32];
    if (p == port || p == 0)
        snprintf(text, sizeof text, "%s", p ? "PORT" : "0");
    else
        snprintf(text, sizeof text, "%s", p >= 32768 && p <= 60999 ? "ephemeral" : "other");
    printf("%s: family %d len %u %s:%s\n", what, a.sin_family, (unsigned)len,
           inet_ntoa(a.sin_addr), text);
    return p;
}

/* poll with no wait: the revents of POLLIN | POLLOUT, or -1 and the errno. */
static void show_poll(const char *what, int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    int r = poll(&p, 1, 0);
    printf("%s: poll %d revents %#x\n", what, r, r >= 0 ? p.revents : 0);
}

static int lone2(void) {
    static int fd = -1;
    if (fd < 0)
        fd = socket(AF_INET, SOCK_STREAM, 0);
    return fd;
}

static void tcp(void) {
    struct sockaddr_in a = loopback(port);
    int cli = T(socket(AF_INET, SOCK_STREAM, 0));
    T(connect(cli, (struct sockaddr *)&a, sizeof a));
    T(close(cli));
    char buf[64];
    int lone = T(socket(AF_INET, SOCK_STREAM, 0));
    show_name("unbound", lone, 0);
    show_name("unconnected peer", lone, 1);
    T(recv(lone, buf, sizeof buf, 0));
    T(send(lone, "x", 1, 0));
    printf("sigpipes %d\n", sigpipes);
    T(shutdown(lone, SHUT_RDWR));
    T(accept(lone, NULL, NULL));
    struct sockaddr_in far = {.sin_family = AF_INET, .sin_port = htons(1)};
    far.sin_addr.s_addr = inet_addr("192.0.2.1");
    T(bind(lone, (struct sockaddr *)&far, sizeof far));
    T(bind(lone, (struct sockaddr *)&a, sizeof a - 1));
    T(close(lone));

    int srv = T(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    int one = 1, v = 0;
    socklen_t vl = sizeof v;
    T(setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    T(getsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &v, &vl));
    printf("SO_REUSEADDR %d\n", v);
    T(bind(srv, (struct sockaddr *)&a, sizeof a));
    T(bind(srv, (struct sockaddr *)&a, sizeof a));
    T(listen(srv, 8));
    show_name("listener", srv, 0);
    int dup = T(socket(AF_INET, SOCK_STREAM, 0));
    T(setsockopt(dup, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    T(bind(dup, (struct sockaddr *)&a, sizeof a));
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    T(bind(dup, (struct sockaddr *)&any, sizeof any));
    T(close(dup));
    show_poll("listener", srv);
    T(accept(srv, NULL, NULL));

    cli = T(socket(AF_INET, SOCK_STREAM, 0));
    T(connect(cli, (struct sockaddr *)&a, sizeof a));
    T(connect(cli, (struct sockaddr *)&a, sizeof a));
    show_poll("listener with a connection", srv);
    int mine = show_name("client", cli, 0);
    show_name("client peer", cli, 1);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int conn = T(accept4(srv, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC));
    printf("accepted %s, peer port is the client's: %d\n", inet_ntoa(peer.sin_addr),
           ntohs(peer.sin_port) == mine);
    show_name("server end", conn, 0);
    T(fcntl(conn, F_GETFL) & O_NONBLOCK);
    T(fcntl(conn, F_GETFD));
    T(setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    T(getsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &v, &vl));
    printf("TCP_NODELAY %d\n", v);
    int size = 8192;
    T(setsockopt(conn, SOL_SOCKET, SO_RCVBUF, &size, sizeof size));
    T(getsockopt(conn, SOL_SOCKET, SO_RCVBUF, &v, &vl));
    printf("SO_RCVBUF %d\n", v);
    T(getsockopt(conn, SOL_SOCKET, SO_TYPE, &v, &vl));
    printf("SO_TYPE %d\n", v);
    T(getsockopt(conn, SOL_SOCKET, SO_PROTOCOL, &v, &vl));
    printf("SO_PROTOCOL %d\n", v);
    T(getsockopt(conn, SOL_SOCKET, 9999, &v, &vl));
    T(setsockopt(conn, SOL_SOCKET, SO_KEEPALIVE, &one, 2));
    T(recv(conn, buf, sizeof buf, MSG_DONTWAIT));
    T(write(cli, "ping", 4));
    T(recv(conn, buf, sizeof buf, MSG_PEEK));
    T(recv(conn, buf, 2, 0));
    T(recv(conn, buf, sizeof buf, 0));
    struct stat st;
    T(fstat(conn, &st));
    printf("fstat: socket %d\n", S_ISSOCK(st.st_mode));
    T(shutdown(cli, SHUT_WR));
    T(read(conn, buf, sizeof buf));
    T(write(cli, "late", 4));
    printf("sigpipes %d\n", sigpipes);
    T(write(conn, "pong", 4));
    T(read(cli, buf, sizeof buf));
    T(close(conn));
    T(read(cli, buf, sizeof buf));
    show_name("peer after its close", cli, 1);
    T(close(cli));

    /* The peer closed: the first write is taken, the reset makes the next EPIPE. */
    cli = T(socket(AF_INET, SOCK_STREAM, 0));
    T(connect(cli, (struct sockaddr *)&a, sizeof a));
    conn = T(accept(srv, NULL, NULL));
    show_poll("unconnected", lone2());
    show_poll("connected", cli);
    T(close(conn));
    show_poll("peer closed", cli);
    T(read(cli, buf, sizeof buf));
    T(write(cli, "one", 3));
    usleep(50000);
    show_poll("after the reset", cli);
    T(write(cli, "two", 3));
    printf("sigpipes %d\n", sigpipes);
    T(send(cli, "three", 5, MSG_NOSIGNAL));
    printf("sigpipes %d\n", sigpipes);
    T(close(cli));

    /* Closing with unread data resets the connection. */
    cli = T(socket(AF_INET, SOCK_STREAM, 0));
    T(connect(cli, (struct sockaddr *)&a, sizeof a));
    conn = T(accept(srv, NULL, NULL));
    T(write(cli, "unread", 6));
    usleep(50000);
    T(close(conn));
    usleep(50000);
    T(read(cli, buf, sizeof buf));
    T(read(cli, buf, sizeof buf));
    T(close(cli));
    T(close(srv));
    cli = T(socket(AF_INET, SOCK_STREAM, 0));
    T(connect(cli, (struct sockaddr *)&a, sizeof a));
    T(close(cli));
}

static void udp(void) {
    struct sockaddr_in a = loopback(port);
    char buf[64];
    int u = T(socket(AF_INET, SOCK_DGRAM, 0));
    int c = T(socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP));
    T(send(c, "x", 1, 0));
    T(bind(u, (struct sockaddr *)&a, sizeof a));
    show_name("udp bound", u, 0);
    T(sendto(c, "hello", 5, 0, (struct sockaddr *)&a, sizeof a));
    int mine = show_name("udp sender", c, 0);
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    T(recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen));
    printf("from %s len %u, the sender's port: %d\n", inet_ntoa(from.sin_addr),
           (unsigned)flen, ntohs(from.sin_port) == mine);
    T(sendto(u, "abcdef", 6, 0, (struct sockaddr *)&from, flen));
    T(recv(c, buf, 3, 0));
    T(recv(c, buf, sizeof buf, MSG_DONTWAIT));
    T(sendto(c, "big", 3, 0, (struct sockaddr *)&a, sizeof a));
    struct iovec iov[2] = {{buf, 1}, {buf + 10, 1}};
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = iov,
                         .msg_iovlen = 2};
    T(recvmsg(u, &msg, 0));
    printf("recvmsg: namelen %u flags trunc %d got %c%c\n", (unsigned)msg.msg_namelen,
           !!(msg.msg_flags & MSG_TRUNC), buf[0], buf[10]);
    T(close(u));
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    show_name("udp connected", c, 0);
    show_name("udp connected peer", c, 1);
    T(send(c, "void", 4, 0));
    usleep(50000);
    T(recv(c, buf, sizeof buf, MSG_DONTWAIT));
    T(recv(c, buf, sizeof buf, MSG_DONTWAIT));
    T(shutdown(c, SHUT_RD));
    T(close(c));
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    port = atoi(argv[1]);
    signal(SIGPIPE, on_sigpipe);
    tcp();
    udp();
    printf("sigpipes %d\n", sigpipes);
    return 0;
}
