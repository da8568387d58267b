/* TCP over IPv6 loopback, and IPv4 clients of an IPv6 wildcard listener.
 *
 *   inet6 PORT */
#include "check.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int port;

static void show_name(const char *what, int fd, int peer) {
    struct sockaddr_in6 a;
    memset(&a, 0x55, sizeof a);
    socklen_t len = sizeof a;
    int r = peer ? getpeername(fd, (struct sockaddr *)&a, &len)
                 : getsockname(fd, (struct sockaddr *)&a, &len);
    if (r < 0) {
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
        return;
    }
    char text[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text);
    int p = ntohs(a.sin6_port);
    printf("%s: family %d len %u [%s]:%s flow %u scope %u\n", what, a.sin6_family,
           (unsigned)len, text, p == port || p == 0 ? "fixed" : "ephemeral",
           a.sin6_flowinfo, a.sin6_scope_id);
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    port = atoi(argv[1]);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port),
                             .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    struct sockaddr_in6 any = {.sin6_family = AF_INET6,
                               .sin6_port = htons((unsigned short)port)};
    int c = T(socket(AF_INET6, SOCK_STREAM, 0));
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    T(close(c));
    int s = T(socket(AF_INET6, SOCK_STREAM, 0));
    int v = -1, zero = 0;
    socklen_t vl = sizeof v;
    T(getsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl));
    printf("IPV6_V6ONLY %d\n", v);
    T(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero));
    T(bind(s, (struct sockaddr *)&any, sizeof any));
    T(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero));
    T(listen(s, 4));
    show_name("listener", s, 0);
    int s4 = T(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    T(bind(s4, (struct sockaddr *)&a4, sizeof a4));
    T(close(s4));
    c = T(socket(AF_INET6, SOCK_STREAM, 0));
    T(connect(c, (struct sockaddr *)&a, sizeof a));
    show_name("v6 client", c, 0);
    show_name("v6 client peer", c, 1);
    int conn = T(accept(s, NULL, NULL));
    show_name("v6 server end", conn, 0);
    show_name("v6 server end peer", conn, 1);
    T(write(c, "six", 3));
    char buf[16];
    T(read(conn, buf, sizeof buf));
    T(close(conn));
    T(close(c));
    c = T(socket(AF_INET, SOCK_STREAM, 0));
    T(connect(c, (struct sockaddr *)&a4, sizeof a4));
    conn = T(accept(s, NULL, NULL));
    show_name("v4 client seen from v6", conn, 1);
    show_name("v6 end of a v4 connection", conn, 0);
    T(close(conn));
    T(close(c));
    T(close(s));
    T(bind(c, (struct sockaddr *)&a, 8));
    return 0;
}
