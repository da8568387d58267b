/* AF_NETLINK (NETLINK_ROUTE) as glibc and CPython use it: the port id bind and
 * getsockname give, RTM_GETLINK and RTM_GETADDR dumps (every message's type,
 * flags, sequence number and port id, ending in NLMSG_DONE), RTM_GETROUTE's
 * IPv4 routes, a GETLINK of one device, the NLMSG_ERROR answers to what the
 * kernel does not do, then getifaddrs(), if_nameindex(), if_nametoindex() and
 * if_indextoname(), and the interface ioctls. Natively it runs in a fresh network
 * namespace with only lo, brought up (unshare -n), which is what a coffer without a
 * network shows.
 * Only the attributes the model keeps are printed: a real kernel adds dozens. */
#include "check.h"
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>
#include <net/if_arp.h>

static int seq = 100;

static void request(int fd, int type, int flags, int family, int index)
{
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } req;
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_len = sizeof(req);
    req.nh.nlmsg_type = type;
    req.nh.nlmsg_flags = flags;
    req.nh.nlmsg_seq = ++seq;
    req.ifi.ifi_family = family;
    req.ifi.ifi_index = index;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    long sent = sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel));
    printf("request type %d flags 0x%x family %d: sent %s\n", type, flags, family,
           sent == (long)sizeof(req) ? "all" : strerrorname_np(errno));
}

static void show_link(struct nlmsghdr *nh)
{
    struct ifinfomsg *ifi = NLMSG_DATA(nh);
    printf("  link index %d type %u flags 0x%x change 0x%x", ifi->ifi_index, ifi->ifi_type,
           ifi->ifi_flags, ifi->ifi_change);
    int len = IFLA_PAYLOAD(nh);
    for (struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        void *data = RTA_DATA(rta);
        switch (rta->rta_type) {
        case IFLA_IFNAME: printf(" name %s", (char *)data); break;
        case IFLA_MTU: printf(" mtu %u", *(unsigned *)data); break;
        case IFLA_TXQLEN: printf(" txqlen %u", *(unsigned *)data); break;
        case IFLA_OPERSTATE: printf(" operstate %u", *(unsigned char *)data); break;
        case IFLA_ADDRESS: printf(" address %d bytes", (int)RTA_PAYLOAD(rta)); break;
        case IFLA_BROADCAST: printf(" broadcast %d bytes", (int)RTA_PAYLOAD(rta)); break;
        }
    }
    printf("\n");
}

static void show_addr(struct nlmsghdr *nh)
{
    struct ifaddrmsg *ifa = NLMSG_DATA(nh);
    printf("  addr family %d prefixlen %d flags 0x%x scope %d index %d", ifa->ifa_family,
           ifa->ifa_prefixlen, ifa->ifa_flags, ifa->ifa_scope, ifa->ifa_index);
    int len = IFA_PAYLOAD(nh);
    char text[INET6_ADDRSTRLEN];
    for (struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        void *data = RTA_DATA(rta);
        switch (rta->rta_type) {
        case IFA_ADDRESS:
        case IFA_LOCAL:
            inet_ntop(ifa->ifa_family, data, text, sizeof(text));
            printf(" %s %s", rta->rta_type == IFA_ADDRESS ? "address" : "local", text);
            break;
        case IFA_LABEL: printf(" label %s", (char *)data); break;
        case IFA_FLAGS: printf(" IFA_FLAGS 0x%x", *(unsigned *)data); break;
        case IFA_CACHEINFO: {
            struct ifa_cacheinfo *ci = data;
            printf(" valid 0x%x preferred 0x%x", ci->ifa_valid, ci->ifa_prefered);
            break;
        }
        }
    }
    printf("\n");
}

static void show_route(struct nlmsghdr *nh)
{
    struct rtmsg *rtm = NLMSG_DATA(nh);
    printf("  route family %d dst_len %d table %d protocol %d scope %d type %d",
           rtm->rtm_family, rtm->rtm_dst_len, rtm->rtm_table, rtm->rtm_protocol,
           rtm->rtm_scope, rtm->rtm_type);
    int len = RTM_PAYLOAD(nh);
    char text[INET6_ADDRSTRLEN];
    for (struct rtattr *rta = RTM_RTA(rtm); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        void *data = RTA_DATA(rta);
        switch (rta->rta_type) {
        case RTA_DST:
        case RTA_PREFSRC:
            inet_ntop(rtm->rtm_family, data, text, sizeof(text));
            printf(" %s %s", rta->rta_type == RTA_DST ? "dst" : "prefsrc", text);
            break;
        case RTA_OIF: printf(" oif %d", *(int *)data); break;
        case RTA_TABLE: printf(" RTA_TABLE %u", *(unsigned *)data); break;
        }
    }
    printf("\n");
}

/* Read answers until NLMSG_DONE or NLMSG_ERROR; print each message. */
static void answers(int fd, unsigned portid)
{
    static char buf[32768];
    for (;;) {
        long peek = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        if (peek < 0) {
            printf("recv: %s\n", strerrorname_np(errno));
            return;
        }
        struct sockaddr_nl from;
        struct iovec iov = {buf, sizeof(buf)};
        struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
                             .msg_iovlen = 1};
        long got = recvmsg(fd, &msg, 0);
        printf("datagram: peek %s, from family %d pid %u groups %u namelen %d flags 0x%x\n",
               peek == got ? "matches" : "differs", from.nl_family, from.nl_pid,
               from.nl_groups, msg.msg_namelen, msg.msg_flags);
        int len = got, done = 0;
        for (struct nlmsghdr *nh = (void *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
            printf(" msg type %d flags 0x%x seq %s pid %s\n", nh->nlmsg_type, nh->nlmsg_flags,
                   nh->nlmsg_seq == (unsigned)seq ? "ok" : "WRONG",
                   nh->nlmsg_pid == portid ? "ok" : "WRONG");
            if (nh->nlmsg_type == RTM_NEWLINK)
                show_link(nh);
            else if (nh->nlmsg_type == RTM_NEWADDR)
                show_addr(nh);
            else if (nh->nlmsg_type == RTM_NEWROUTE)
                show_route(nh);
            else if (nh->nlmsg_type == NLMSG_DONE) {
                printf("  done %d\n", *(int *)NLMSG_DATA(nh));
                done = 1;
            } else if (nh->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *err = NLMSG_DATA(nh);
                printf("  error %s, len %u, of type %d seq %s\n",
                       err->error ? strerrorname_np(-err->error) : "0", nh->nlmsg_len,
                       err->msg.nlmsg_type, err->msg.nlmsg_seq == (unsigned)seq ? "ok" : "WRONG");
                done = 1;
            }
        }
        if (done)
            return;
    }
}

static void interfaces(void)
{
    struct ifaddrs *list;
    if (T(getifaddrs(&list)) < 0)
        return;
    char text[INET6_ADDRSTRLEN];
    for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
        int family = ifa->ifa_addr ? ifa->ifa_addr->sa_family : -1;
        printf("ifaddr %s family %d flags 0x%x", ifa->ifa_name, family, ifa->ifa_flags);
        if (family == AF_INET)
            printf(" %s", inet_ntop(family, &((struct sockaddr_in *)ifa->ifa_addr)->sin_addr,
                                    text, sizeof(text)));
        if (family == AF_INET6)
            printf(" %s", inet_ntop(family, &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr,
                                    text, sizeof(text)));
        if ((family == AF_INET || family == AF_INET6) && ifa->ifa_netmask)
            printf(" netmask family %d", ifa->ifa_netmask->sa_family);
        printf(" data %s\n", ifa->ifa_data ? "yes" : "no");
    }
    freeifaddrs(list);

    struct if_nameindex *names = if_nameindex();
    for (struct if_nameindex *n = names; n && n->if_index; n++)
        printf("if_nameindex %u %s\n", n->if_index, n->if_name);
    if_freenameindex(names);
    printf("if_nametoindex(lo) = %u\n", if_nametoindex("lo"));
    T(if_nametoindex("nosuch0"));
    char name[IF_NAMESIZE];
    printf("if_indextoname(1) = %s\n", if_indextoname(1, name));
    printf("if_indextoname(999) = %s %s\n", if_indextoname(999, name) ? "found" : "NULL",
           strerrorname_np(errno));
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    T(ioctl(sock, SIOCGIFFLAGS, &ifr));
    printf("SIOCGIFFLAGS lo: 0x%x\n", (unsigned short)ifr.ifr_flags);
    T(ioctl(sock, SIOCGIFMTU, &ifr));
    printf("SIOCGIFMTU lo: %d\n", ifr.ifr_mtu);
    T(ioctl(sock, SIOCGIFHWADDR, &ifr));
    printf("SIOCGIFHWADDR lo: family %d\n", ifr.ifr_hwaddr.sa_family);
    strcpy(ifr.ifr_name, "nosuch0");
    T(ioctl(sock, SIOCGIFMTU, &ifr));
    struct ifreq all[8];
    struct ifconf conf = {.ifc_len = 0, .ifc_buf = NULL};
    T(ioctl(sock, SIOCGIFCONF, &conf));
    printf("SIOCGIFCONF length: %d\n", conf.ifc_len);
    conf.ifc_len = sizeof(all);
    conf.ifc_req = all;
    T(ioctl(sock, SIOCGIFCONF, &conf));
    for (int i = 0; i < conf.ifc_len / (int)sizeof(struct ifreq); i++)
        printf("SIOCGIFCONF %s %s\n", all[i].ifr_name,
               inet_ntop(AF_INET, &((struct sockaddr_in *)&all[i].ifr_addr)->sin_addr, text,
                         sizeof(text)));
    close(sock);
    struct addrinfo hints = {.ai_flags = AI_ADDRCONFIG | AI_NUMERICHOST,
                             .ai_socktype = SOCK_STREAM}, *res;
    int gai = getaddrinfo("127.0.0.1", "80", &hints, &res);
    printf("getaddrinfo(127.0.0.1, AI_ADDRCONFIG) = %s\n", gai ? gai_strerror(gai) : "ok");
    if (!gai)
        freeaddrinfo(res);
}

int main(void)
{
    T(socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE));
    T(socket(AF_NETLINK, SOCK_RAW, 31));
    int fd = T(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    struct sockaddr_nl me = {0};
    socklen_t len = sizeof(me);
    T(getsockname(fd, (struct sockaddr *)&me, &len));
    printf("unbound: family %d pid %u groups %u len %u\n", me.nl_family, me.nl_pid,
           me.nl_groups, len);
    struct sockaddr_nl bad = {.nl_family = AF_INET};
    T(bind(fd, (struct sockaddr *)&bad, sizeof(bad)));
    T(bind(fd, (struct sockaddr *)&me, 4));
    struct sockaddr_nl any = {.nl_family = AF_NETLINK};
    T(bind(fd, (struct sockaddr *)&any, sizeof(any)));
    len = sizeof(me);
    T(getsockname(fd, (struct sockaddr *)&me, &len));
    printf("bound: pid is getpid() %s, groups %u\n", me.nl_pid == (unsigned)getpid() ? "yes" : "no",
           me.nl_groups);
    struct sockaddr_nl other = {.nl_family = AF_NETLINK, .nl_pid = 4242};
    T(bind(fd, (struct sockaddr *)&other, sizeof(other)));
    int second = T(socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE));
    struct sockaddr_nl taken = {.nl_family = AF_NETLINK, .nl_pid = getpid()};
    T(bind(second, (struct sockaddr *)&taken, sizeof(taken)));
    T(bind(second, (struct sockaddr *)&any, sizeof(any)));
    struct sockaddr_nl them = {0};
    len = sizeof(them);
    T(getsockname(second, (struct sockaddr *)&them, &len));
    printf("second: pid is negative %s\n", (int)them.nl_pid < 0 ? "yes" : "no");
    T(sendto(second, "hi", 2, 0, (struct sockaddr *)&me, sizeof(me)));
    char small[8];
    struct sockaddr_nl from;
    socklen_t fromlen = sizeof(from);
    T(recvfrom(fd, small, sizeof(small), 0, (struct sockaddr *)&from, &fromlen));
    printf("from a socket: pid is second's %s\n", from.nl_pid == them.nl_pid ? "yes" : "no");
    struct sockaddr_nl nobody = {.nl_family = AF_NETLINK, .nl_pid = 777777};
    T(sendto(second, "hi", 2, 0, (struct sockaddr *)&nobody, sizeof(nobody)));
    T(recv(fd, small, sizeof(small), MSG_DONTWAIT));
    T(close(second));

    printf("-- RTM_GETLINK dump\n");
    request(fd, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, AF_PACKET, 0);
    answers(fd, me.nl_pid);
    printf("-- RTM_GETADDR dump, every family\n");
    request(fd, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC, 0);
    answers(fd, me.nl_pid);
    printf("-- RTM_GETADDR dump, AF_INET\n");
    request(fd, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, AF_INET, 0);
    answers(fd, me.nl_pid);
    printf("-- RTM_GETADDR dump, AF_INET6\n");
    request(fd, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, AF_INET6, 0);
    answers(fd, me.nl_pid);
    printf("-- RTM_GETROUTE dump, AF_INET\n");
    request(fd, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, AF_INET, 0);
    answers(fd, me.nl_pid);
    printf("-- RTM_GETLINK of index 1, with an ack\n");
    request(fd, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, AF_UNSPEC, 1);
    answers(fd, me.nl_pid);
    answers(fd, me.nl_pid);
    printf("-- RTM_GETLINK of index 999\n");
    request(fd, RTM_GETLINK, NLM_F_REQUEST, AF_UNSPEC, 999);
    answers(fd, me.nl_pid);
    printf("-- a type past RTM_MAX\n");
    request(fd, 0x7ff0, NLM_F_REQUEST, AF_UNSPEC, 0);
    answers(fd, me.nl_pid);
    printf("-- NLMSG_NOOP with an ack\n");
    request(fd, NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, AF_UNSPEC, 0);
    answers(fd, me.nl_pid);
    printf("-- not a request\n");
    request(fd, RTM_GETLINK, NLM_F_DUMP, AF_UNSPEC, 0);
    answers(fd, me.nl_pid);
    T(close(fd));

    interfaces();
    return 0;
}
