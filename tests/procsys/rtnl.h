/* rtnetlink for the test guests (tests/procsys/veth.c, netns.c): requests built attribute by
 * attribute (nested ones too) and acked, and the link, address and route dumps
 * printed one line each, with what a native run and a coffer must agree on (no MAC
 * addresses: Linux draws a veth end's at random). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

/* Each guest uses some of these helpers only. */
#pragma GCC diagnostic ignored "-Wunused-function"

/* -- netlink requests: a header, a fixed part, attributes (nested ones too) -- */
struct request {
    struct nlmsghdr h;
    char body[1024];
};

static void start(struct request *r, int type, int flags, const void *fixed, int len)
{
    memset(r, 0, sizeof *r);
    r->h.nlmsg_type = type;
    r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    r->h.nlmsg_len = NLMSG_LENGTH(len);
    memcpy(NLMSG_DATA(&r->h), fixed, len);
}

static struct rtattr *put(struct request *r, int type, const void *data, int len)
{
    struct rtattr *a = (void *)((char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len));
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
    return a;
}

static void end(struct request *r, struct rtattr *nest)
{
    nest->rta_len = (char *)&r->h + r->h.nlmsg_len - (char *)nest;
}

static void put_str(struct request *r, int type, const char *s)
{
    put(r, type, s, strlen(s) + 1);
}

/* Send one request and return its ack's error (-1 and errno set, or 0). */
static long talk(struct request *r)
{
    int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    send(fd, r, r->h.nlmsg_len, 0);
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    close(fd);
    struct nlmsghdr *h = (void *)buf;
    if (n < (ssize_t)sizeof *h || h->nlmsg_type != NLMSG_ERROR)
        return -2;
    int error = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    errno = -error;
    return error ? -1 : 0;
}

/* RTM_NEWLINK of kind veth: the peer named (or not), in a namespace given by a pid
 * or an fd (or none). */
static long add_link(const char *kind, const char *name, const char *peer, int ns_attr,
                     int ns_value)
{
    struct request r;
    struct ifinfomsg ifi = {0};
    start(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
    put_str(&r, IFLA_IFNAME, name);
    struct rtattr *info = put(&r, IFLA_LINKINFO, NULL, 0);
    put_str(&r, IFLA_INFO_KIND, kind);
    struct rtattr *data = put(&r, IFLA_INFO_DATA, NULL, 0);
    if (peer) {
        struct rtattr *p = put(&r, VETH_INFO_PEER, &ifi, sizeof ifi);
        put_str(&r, IFLA_IFNAME, peer);
        if (ns_attr)
            put(&r, ns_attr, &ns_value, sizeof ns_value);
        end(&r, p);
    }
    end(&r, data);
    end(&r, info);
    return talk(&r);
}

static long add_veth(const char *name, const char *peer, int ns_attr, int ns_value)
{
    return add_link("veth", name, peer, ns_attr, ns_value);
}

/* ip link add NAME [index I] [netns PID] type veth peer name PEER [index J]: the
 * device there (or here), the peer here, at the indexes asked for (or any). */
static long add_veth_there(const char *name, const char *peer, int pid, int index,
                           int peer_index)
{
    struct request r;
    struct ifinfomsg ifi = {.ifi_index = index}, peer_ifi = {.ifi_index = peer_index};
    start(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
    put_str(&r, IFLA_IFNAME, name);
    if (pid)
        put(&r, IFLA_NET_NS_PID, &pid, sizeof pid);
    struct rtattr *info = put(&r, IFLA_LINKINFO, NULL, 0);
    put_str(&r, IFLA_INFO_KIND, "veth");
    struct rtattr *data = put(&r, IFLA_INFO_DATA, NULL, 0);
    struct rtattr *p = put(&r, VETH_INFO_PEER, &peer_ifi, sizeof peer_ifi);
    put_str(&r, IFLA_IFNAME, peer);
    end(&r, p);
    end(&r, data);
    end(&r, info);
    return talk(&r);
}

static long link_request(int type, const char *name, int up, int ns_attr, int ns_value)
{
    struct request r;
    struct ifinfomsg ifi = {.ifi_index = (int)if_nametoindex(name)};
    if (type == RTM_NEWLINK && !ns_attr) {
        ifi.ifi_flags = up ? IFF_UP : 0;
        ifi.ifi_change = IFF_UP;
    }
    start(&r, type, 0, &ifi, sizeof ifi);
    if (!ifi.ifi_index)
        put_str(&r, IFLA_IFNAME, name);
    if (ns_attr)
        put(&r, ns_attr, &ns_value, sizeof ns_value);
    return talk(&r);
}

static long rename_link(const char *name, const char *new_name)
{
    struct request r;
    struct ifinfomsg ifi = {.ifi_index = (int)if_nametoindex(name)};
    start(&r, RTM_NEWLINK, 0, &ifi, sizeof ifi);
    put_str(&r, IFLA_IFNAME, new_name);
    return talk(&r);
}

static long addr_request(int type, const char *dev, const char *address, int prefixlen)
{
    struct request r;
    struct ifaddrmsg ifa = {AF_INET, prefixlen, 0, 0, if_nametoindex(dev)};
    start(&r, type, type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0, &ifa, sizeof ifa);
    struct in_addr in;
    inet_pton(AF_INET, address, &in);
    put(&r, IFA_LOCAL, &in, sizeof in);
    put(&r, IFA_ADDRESS, &in, sizeof in);
    return talk(&r);
}

static long default_route(const char *gateway)
{
    struct request r;
    struct rtmsg rtm = {AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE,
                        RTN_UNICAST, 0};
    start(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rtm, sizeof rtm);
    struct in_addr in;
    inet_pton(AF_INET, gateway, &in);
    put(&r, RTA_GATEWAY, &in, sizeof in);
    return talk(&r);
}

/* -- dumps -- */
static int dump(int type, int family, char *buf, int room, int (*each)(struct nlmsghdr *))
{
    int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    struct {
        struct nlmsghdr h;
        struct rtgenmsg g;
        char pad[3];
    } req = {{sizeof req, type, NLM_F_REQUEST | NLM_F_DUMP, 1, 0}, {family}};
    send(fd, &req, sizeof req, 0);
    for (int done = 0; !done;) {
        ssize_t n = recv(fd, buf, room, 0);
        if (n <= 0)
            break;
        for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                done = 1;
                break;
            }
            each(h);
        }
    }
    close(fd);
    return 0;
}

static int show_link(struct nlmsghdr *h)
{
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    int len = IFLA_PAYLOAD(h), link = 0, netnsid = -1, mtu = 0;
    const char *name = "?", *kind = "-";
    for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == IFLA_IFNAME)
            name = RTA_DATA(a);
        else if (a->rta_type == IFLA_LINK)
            link = *(int *)RTA_DATA(a);
        else if (a->rta_type == IFLA_LINK_NETNSID)
            netnsid = *(int *)RTA_DATA(a);
        else if (a->rta_type == IFLA_MTU)
            mtu = *(int *)RTA_DATA(a);
        else if (a->rta_type == IFLA_LINKINFO) {
            int inner = RTA_PAYLOAD(a);
            for (struct rtattr *b = RTA_DATA(a); RTA_OK(b, inner); b = RTA_NEXT(b, inner))
                if (b->rta_type == IFLA_INFO_KIND)
                    kind = RTA_DATA(b);
        }
    }
    printf("  %d: %s@%d netnsid %d kind %s type %d mtu %d up %d\n", ifi->ifi_index, name,
           link, netnsid, kind, ifi->ifi_type, mtu, !!(ifi->ifi_flags & IFF_UP));
    return 0;
}

static int show_addr(struct nlmsghdr *h)
{
    struct ifaddrmsg *ifa = NLMSG_DATA(h);
    int len = IFA_PAYLOAD(h);
    char text[INET_ADDRSTRLEN] = "?", brd[INET_ADDRSTRLEN] = "-";
    for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == IFA_LOCAL)
            inet_ntop(AF_INET, RTA_DATA(a), text, sizeof text);
        else if (a->rta_type == IFA_BROADCAST)
            inet_ntop(AF_INET, RTA_DATA(a), brd, sizeof brd);
    }
    printf("  %s/%d brd %s scope %d dev %d\n", text, ifa->ifa_prefixlen, brd, ifa->ifa_scope,
           ifa->ifa_index);
    return 0;
}

static int show_route(struct nlmsghdr *h)
{
    struct rtmsg *rtm = NLMSG_DATA(h);
    int len = RTM_PAYLOAD(h), oif = 0;
    char dst[INET_ADDRSTRLEN] = "0.0.0.0", via[INET_ADDRSTRLEN] = "-",
         src[INET_ADDRSTRLEN] = "-";
    for (struct rtattr *a = RTM_RTA(rtm); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == RTA_DST)
            inet_ntop(AF_INET, RTA_DATA(a), dst, sizeof dst);
        else if (a->rta_type == RTA_GATEWAY)
            inet_ntop(AF_INET, RTA_DATA(a), via, sizeof via);
        else if (a->rta_type == RTA_PREFSRC)
            inet_ntop(AF_INET, RTA_DATA(a), src, sizeof src);
        else if (a->rta_type == RTA_OIF)
            oif = *(int *)RTA_DATA(a);
    }
    printf("  table %d %s/%d via %s src %s type %d scope %d proto %d dev %d\n", rtm->rtm_table,
           dst, rtm->rtm_dst_len, via, src, rtm->rtm_type, rtm->rtm_scope, rtm->rtm_protocol,
           oif);
    return 0;
}

static void links(const char *who)
{
    char buf[16384];
    printf("%s links:\n", who);
    dump(RTM_GETLINK, AF_UNSPEC, buf, sizeof buf, show_link);
}

static void addresses_and_routes(const char *who)
{
    char buf[16384];
    printf("%s addresses:\n", who);
    dump(RTM_GETADDR, AF_INET, buf, sizeof buf, show_addr);
    printf("%s routes:\n", who);
    dump(RTM_GETROUTE, AF_INET, buf, sizeof buf, show_route);
}

/* A /proc file's text (/proc/net/dev's counters: the model counts no traffic). */
static void cat_file(const char *path)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    printf("%s:\n%s", path, buf);
}
