/* The IP levels' ancillary data of UDP over loopback, as CPython's RFC 3542 tests use
 * it: IPV6_RECVHOPLIMIT / IPV6_RECVTCLASS and the per-message IPV6_HOPLIMIT /
 * IPV6_TCLASS (and the socket's IPV6_UNICAST_HOPS / IPV6_TCLASS), IPv4's IP_RECVTTL /
 * IP_RECVTOS with IP_TTL / IP_TOS; the EINVAL of a bad item; truncated control
 * buffers (MSG_CTRUNC, a cut item). */
#include "check.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static char cbuf[256];

static long send_items(int s, int level, const int *types, const int *values, int n,
                       size_t size)
{
    struct iovec iov = {"msg", 3};
    struct msghdr msg = {0};
    memset(cbuf, 0, sizeof cbuf);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        struct cmsghdr *c = (struct cmsghdr *)(cbuf + used);
        c->cmsg_len = CMSG_LEN(size);
        c->cmsg_level = level;
        c->cmsg_type = types[i];
        memcpy(CMSG_DATA(c), &values[i], size < sizeof(int) ? size : sizeof(int));
        used += CMSG_SPACE(size);
    }
    msg.msg_control = n ? cbuf : NULL;
    msg.msg_controllen = used;
    return sendmsg(s, &msg, 0);
}

static void receive(int s, size_t room)
{
    char data[16];
    struct iovec iov = {data, sizeof data};
    struct msghdr msg = {0};
    memset(cbuf, 0, sizeof cbuf);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = room ? cbuf : NULL;
    msg.msg_controllen = room;
    ssize_t n = recvmsg(s, &msg, 0);
    printf("recvmsg %zd ctrunc %d controllen %zu\n", n, !!(msg.msg_flags & MSG_CTRUNC),
           (size_t)msg.msg_controllen);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        int value = 0;
        size_t size = c->cmsg_len - CMSG_LEN(0);
        memcpy(&value, CMSG_DATA(c), size < sizeof value ? size : sizeof value);
        printf("  level %d type %d len %zu value %d\n", c->cmsg_level, c->cmsg_type,
               (size_t)c->cmsg_len, value);
    }
}

static void pair(int family, int *server, int *client)
{
    struct sockaddr_storage addr = {0};
    socklen_t len;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&addr;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    *server = socket(family, SOCK_DGRAM, 0);
    *client = socket(family, SOCK_DGRAM, 0);
    T(bind(*server, (struct sockaddr *)&addr, len));
    T(getsockname(*server, (struct sockaddr *)&addr, &len));
    T(connect(*client, (struct sockaddr *)&addr, len));
}

int main(void)
{
    int s, c, on = 1, v;
    int hop_tc[2] = {IPV6_HOPLIMIT, IPV6_TCLASS};
    pair(AF_INET6, &s, &c);
    T(send(c, "a", 1, 0));
    receive(s, sizeof cbuf);                   /* nothing asked for: no items */
    T(setsockopt(s, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on));
    T(setsockopt(s, IPPROTO_IPV6, IPV6_RECVTCLASS, &on, sizeof on));
    T(send(c, "b", 1, 0));
    receive(s, sizeof cbuf);
    int values[2] = {2, 0x28};
    T(send_items(c, IPPROTO_IPV6, hop_tc, values, 2, sizeof(int)));
    receive(s, sizeof cbuf);
    int defaults[2] = {-1, -1};
    T(send_items(c, IPPROTO_IPV6, hop_tc, defaults, 2, sizeof(int)));
    receive(s, sizeof cbuf);
    v = 7;
    T(setsockopt(c, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &v, sizeof v));
    v = 0x10;
    T(setsockopt(c, IPPROTO_IPV6, IPV6_TCLASS, &v, sizeof v));
    socklen_t len = sizeof v;
    T(getsockopt(c, IPPROTO_IPV6, IPV6_TCLASS, &v, &len));
    printf("tclass option %d\n", v);
    T(send(c, "c", 1, 0));
    receive(s, sizeof cbuf);
    int big[2] = {256, 0};
    T(send_items(c, IPPROTO_IPV6, hop_tc, big, 1, sizeof(int)));        /* EINVAL */
    T(send_items(c, IPPROTO_IPV6, hop_tc + 1, values, 1, sizeof(int) + 1)); /* EINVAL */
    int unknown = 99;
    T(send_items(c, IPPROTO_IPV6, &unknown, values, 1, sizeof(int)));   /* EINVAL */
    T(send_items(c, IPPROTO_IP, hop_tc, values, 1, sizeof(int)));       /* other level */
    receive(s, sizeof cbuf);
    /* truncation: room for one item and part of the next, then part of one */
    T(send(c, "d", 1, 0));
    receive(s, CMSG_SPACE(sizeof(int)) + 4);
    T(send(c, "e", 1, 0));
    receive(s, CMSG_LEN(sizeof(int)) - 1);
    T(send(c, "f", 1, 0));
    receive(s, 0);

    /* IPv4: IP_RECVTTL, IP_RECVTOS (one byte), IP_TTL and IP_TOS items */
    pair(AF_INET, &s, &c);
    T(setsockopt(s, IPPROTO_IP, IP_RECVTTL, &on, sizeof on));
    T(setsockopt(s, IPPROTO_IP, IP_RECVTOS, &on, sizeof on));
    T(send(c, "g", 1, 0));
    receive(s, sizeof cbuf);
    int ttl_tos[2] = {IP_TTL, IP_TOS};
    int v4[2] = {3, 0x20};
    T(send_items(c, IPPROTO_IP, ttl_tos, v4, 2, sizeof(int)));
    receive(s, sizeof cbuf);
    T(send_items(c, IPPROTO_IP, ttl_tos + 1, v4 + 1, 1, 1));          /* a one-byte TOS */
    receive(s, sizeof cbuf);
    int zero = 0;
    T(send_items(c, IPPROTO_IP, ttl_tos, &zero, 1, sizeof(int)));     /* TTL 0: EINVAL */
    v = 0x48;
    T(setsockopt(c, IPPROTO_IP, IP_TOS, &v, sizeof v));
    T(send(c, "h", 1, 0));
    receive(s, sizeof cbuf);
    return 0;
}
