/* AF_UNIX sockets: names, errors and ends, printed call by call (check.h).
 *
 * Path names under the cwd, abstract names (carrying the pid, never printed, so
 * that concurrent native runs do not collide), socketpair of each type; the
 * errno of every failing call; SIGPIPE counted by a handler. */
#include "check.h"
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <poll.h>

static volatile int sigpipes;
static void on_sigpipe(int sig) { (void)sig; sigpipes++; }

static socklen_t path_addr(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path, path);
    return sizeof *a;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *tag) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "cofferos-test-%08d-%s",
                     (int)getpid(), tag);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static void show_name(const char *what, int fd, int peer) {
    struct sockaddr_un a;
    memset(&a, 0x55, sizeof a);
    socklen_t len = sizeof a;
    int r = peer ? getpeername(fd, (struct sockaddr *)&a, &len)
                 : getsockname(fd, (struct sockaddr *)&a, &len);
    if (r < 0) {
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
        return;
    }
    int abstract = len > offsetof(struct sockaddr_un, sun_path) && a.sun_path[0] == '\0';
    printf("%s: family %d len %u %s '%s'\n", what, a.sun_family, (unsigned)len,
           abstract ? "abstract" : "path", abstract ? "" : (len > 2 ? a.sun_path : ""));
}

/* poll with no wait: the revents of POLLIN | POLLOUT, or -1 and the errno. */
static void show_poll(const char *what, int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    int r = poll(&p, 1, 0);
    printf("%s: poll %d revents %#x\n", what, r, r >= 0 ? p.revents : 0);
}

static void stream_paths(void) {
    struct sockaddr_un a, missing, plain;
    socklen_t alen = path_addr(&a, "a.sock");
    path_addr(&missing, "nosuch.sock");
    path_addr(&plain, "plain");
    unlink("a.sock");
    close(open("plain", O_CREAT | O_WRONLY, 0644));
    int srv = T(socket(AF_UNIX, SOCK_STREAM, 0));
    int cli = T(socket(AF_UNIX, SOCK_STREAM, 0));
    T(connect(cli, (struct sockaddr *)&missing, sizeof missing));
    T(connect(cli, (struct sockaddr *)&plain, sizeof plain));
    T(listen(srv, 1));
    show_name("unbound name", srv, 0);
    T(bind(srv, (struct sockaddr *)&a, alen));
    T(bind(srv, (struct sockaddr *)&a, alen));
    int other = T(socket(AF_UNIX, SOCK_STREAM, 0));
    T(bind(other, (struct sockaddr *)&a, alen));
    struct stat st;
    T(stat("a.sock", &st));
    printf("a.sock is a socket: %d\n", S_ISSOCK(st.st_mode));
    T(connect(cli, (struct sockaddr *)&a, alen));
    T(accept(srv, NULL, NULL));
    T(listen(srv, 4));
    T(getsockopt(srv, SOL_SOCKET, SO_ACCEPTCONN, &(int){0}, &(socklen_t){sizeof(int)}));
    T(recv(cli, &(char){0}, 1, 0));
    T(send(cli, "x", 1, 0));
    show_name("unconnected peer", cli, 1);
    show_poll("empty listener", srv);
    T(fcntl(srv, F_SETFL, O_NONBLOCK));
    T(accept(srv, NULL, NULL));
    T(connect(cli, (struct sockaddr *)&a, alen));
    T(connect(cli, (struct sockaddr *)&a, alen));
    struct sockaddr_un peer;
    socklen_t plen = sizeof peer;
    show_poll("listener with a connection", srv);
    int conn = T(accept(srv, (struct sockaddr *)&peer, &plen));
    printf("accepted peer len %u family %d\n", (unsigned)plen, peer.sun_family);
    show_name("client name", cli, 0);
    show_name("client peer", cli, 1);
    show_name("server end name", conn, 0);
    show_name("server end peer", conn, 1);
    T(write(cli, "hello", 5));
    char buf[16] = "";
    T(recv(conn, buf, sizeof buf, MSG_PEEK));
    T(read(conn, buf, sizeof buf));
    T(recv(conn, buf, sizeof buf, MSG_DONTWAIT));
    T(sendto(cli, "x", 1, 0, (struct sockaddr *)&a, alen));
    T(shutdown(cli, SHUT_WR));
    T(read(conn, buf, sizeof buf));
    T(write(cli, "y", 1));
    printf("sigpipes %d\n", sigpipes);
    T(send(cli, "y", 1, MSG_NOSIGNAL));
    printf("sigpipes %d\n", sigpipes);
    T(shutdown(cli, 7));
    T(close(conn));
    T(read(cli, buf, sizeof buf));
    T(close(cli));
    T(close(srv));
    T(connect(other, (struct sockaddr *)&a, alen));
    T(unlink("a.sock"));
    T(unlink("plain"));
    T(close(other));
}

static void abstract_names(void) {
    struct sockaddr_un a;
    socklen_t alen = abstract_addr(&a, "stream");
    int s1 = T(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int s2 = T(socket(AF_UNIX, SOCK_STREAM, 0));
    T(connect(s2, (struct sockaddr *)&a, alen));
    T(bind(s1, (struct sockaddr *)&a, alen));
    T(bind(s2, (struct sockaddr *)&a, alen));
    show_name("abstract name", s1, 0);
    T(fcntl(s1, F_GETFD));
    T(close(s1));
    T(bind(s2, (struct sockaddr *)&a, alen));
    T(close(s2));
    int s3 = T(socket(AF_UNIX, SOCK_DGRAM, 0));
    T(bind(s3, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path)));
    show_name("autobound name", s3, 0);
    T(close(s3));
}

static void pairs(void) {
    int sv[2];
    char buf[64];
    T(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
    T(fcntl(sv[0], F_GETFL) & ~O_LARGEFILE);
    T(read(sv[0], buf, sizeof buf));
    T(write(sv[1], "abc", 3));
    T(write(sv[1], "def", 3));
    T(read(sv[0], buf, sizeof buf));
    show_name("pair name", sv[0], 0);
    show_name("pair peer", sv[0], 1);
    struct stat st;
    T(fstat(sv[0], &st));
    printf("fstat: socket %d size %ld\n", S_ISSOCK(st.st_mode), (long)st.st_size);
    int v = -1;
    socklen_t vl = sizeof v;
    T(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &vl));
    printf("SO_TYPE %d len %u\n", v, (unsigned)vl);
    T(getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &vl));
    printf("SO_DOMAIN %d\n", v);
    T(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &v, &vl));
    printf("SO_ERROR %d\n", v);
    T(setsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, sizeof v));
    T(setsockopt(sv[0], IPPROTO_TCP, 1, &v, sizeof v));
    T(write(sv[0], "unread", 6));
    show_poll("pair with unread data", sv[1]);
    T(close(sv[1]));
    show_poll("pair after the peer closed", sv[0]);
    T(read(sv[0], buf, sizeof buf));
    T(read(sv[0], buf, sizeof buf));
    T(write(sv[0], "z", 1));
    printf("sigpipes %d\n", sigpipes);
    T(close(sv[0]));

    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    T(send(sv[0], "one", 3, 0));
    T(send(sv[0], "three", 5, 0));
    T(send(sv[0], "", 0, 0));
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    T(recvfrom(sv[1], buf, sizeof buf, 0, (struct sockaddr *)&from, &flen));
    printf("from len %u\n", (unsigned)flen);
    T(recv(sv[1], buf, 2, 0));
    T(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    T(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    T(close(sv[0]));
    T(close(sv[1]));

    T(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    T(send(sv[0], "first", 5, 0));
    T(send(sv[0], "second", 6, 0));
    T(recv(sv[1], buf, 3, 0));
    T(recv(sv[1], buf, sizeof buf, 0));
    T(close(sv[0]));
    T(close(sv[1]));
    T(socketpair(AF_INET, SOCK_STREAM, 0, sv));
    T(socketpair(AF_UNIX, SOCK_STREAM, 5, sv));
    T(socket(AF_UNIX, 99, 0));
    T(socket(12345, SOCK_STREAM, 0));
}

static void datagrams(void) {
    struct sockaddr_un srv, missing;
    socklen_t slen = abstract_addr(&srv, "dgram");
    path_addr(&missing, "nosuch.sock");
    int d = T(socket(AF_UNIX, SOCK_DGRAM, 0));
    int c = T(socket(AF_UNIX, SOCK_DGRAM, 0));
    T(send(c, "x", 1, 0));
    T(sendto(c, "x", 1, 0, (struct sockaddr *)&missing, sizeof missing));
    T(sendto(c, "x", 1, 0, (struct sockaddr *)&srv, slen));
    T(bind(d, (struct sockaddr *)&srv, slen));
    T(sendto(c, "hello", 5, 0, (struct sockaddr *)&srv, slen));
    char buf[64];
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    T(recvfrom(d, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen));
    printf("unbound sender: from len %u\n", (unsigned)flen);
    T(connect(c, (struct sockaddr *)&srv, slen));
    show_name("dgram peer", c, 1);
    T(send(c, "again", 5, 0));
    T(recv(d, buf, 2, MSG_TRUNC));
    T(recv(d, buf, sizeof buf, MSG_DONTWAIT));
    int pipefd[2];
    T(pipe(pipefd));
    T(bind(pipefd[0], (struct sockaddr *)&srv, slen));
    T(close(pipefd[0]));
    T(close(pipefd[1]));
    T(close(d));
    T(send(c, "gone", 4, 0));
    T(close(c));
}

int main(void) {
    signal(SIGPIPE, on_sigpipe);
    stream_paths();
    abstract_names();
    pairs();
    datagrams();
    printf("sigpipes %d\n", sigpipes);
    return 0;
}
