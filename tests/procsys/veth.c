/* veth pairs between network namespaces, natively as root and in a coffer: what a
 * container runtime does to connect a new network namespace to its parent. The guest
 * unshares CLONE_NEWNET (nothing touches the host's network); a child unshares again.
 * The parent makes a veth pair by RTM_NEWLINK with the peer in the child's namespace
 * (IFLA_NET_NS_PID), gives its end an address by RTM_NEWADDR and brings it up; the
 * child gives its end one by SIOCSIFADDR and SIOCSIFNETMASK and reads them back as
 * ifconfig does. TCP and UDP then cross the pair both ways; a default route
 * (RTM_NEWROUTE) lets the child reach beyond the /24. Deleting one end deletes both;
 * a second pair's end moves to the child by IFLA_NET_NS_FD and is renamed and deleted
 * there; pairs at the indexes asked for; two more go when the child's namespace ends.
 * nobody may not add a link in the namespace it is in (EPERM), but may in one of its
 * own user namespace. The netlink helpers are in rtnl.h. */
#include "check.h"
#include "rtnl.h"
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <grp.h>

#define SUBNET "192.168.77."
#define TCP_PORT 7000
#define UDP_PORT 7001
#define BEYOND "10.9.9.9"

static void say(const char *what, long result)
{
    printf("%s: %s\n", what, result < 0 ? strerrorname_np(errno) : "ok");
}

/* -- sockets -- */
static struct sockaddr_in inet(const char *address, int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, address, &sin.sin_addr);
    return sin;
}

static long bind_to(int fd, const char *address, int port)
{
    struct sockaddr_in sin = inet(address, port);
    return bind(fd, (struct sockaddr *)&sin, sizeof sin);
}

static const char *name_of(struct sockaddr_in *sin)
{
    static char text[64];
    char address[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin->sin_addr, address, sizeof address);
    snprintf(text, sizeof text, "%s%s", address, ntohs(sin->sin_port) >= 32768 ? ":ephemeral"
             : "");
    return text;
}

static long set_address_by_ioctl(const char *dev, const char *address)
{
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, dev);
    struct sockaddr_in sin = inet(address, 0);
    memcpy(&ifr.ifr_addr, &sin, sizeof sin);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    long rc = ioctl(fd, SIOCSIFADDR, &ifr);
    close(fd);
    return rc;
}

static long set_netmask(const char *dev, const char *mask)
{
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, dev);
    struct sockaddr_in sin = inet(mask, 0);
    memcpy(&ifr.ifr_netmask, &sin, sizeof sin);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    long rc = ioctl(fd, SIOCSIFNETMASK, &ifr);
    close(fd);
    return rc;
}

/* What ifconfig shows: SIOCGIFADDR, SIOCGIFNETMASK and SIOCGIFBRDADDR, on a socket of
 * the family given. */
static void show_ifconfig(const char *who, const char *dev, int family)
{
    static const struct { unsigned long request; const char *name; } asks[] = {
        {SIOCGIFADDR, "addr"}, {SIOCGIFNETMASK, "mask"}, {SIOCGIFBRDADDR, "bcast"}};
    int fd = socket(family, SOCK_DGRAM, 0);
    printf("%s: %s", who, dev);
    for (unsigned i = 0; i < sizeof asks / sizeof *asks; i++) {
        struct ifreq ifr = {0};
        strcpy(ifr.ifr_name, dev);
        if (ioctl(fd, asks[i].request, &ifr) < 0) {
            printf(" %s %s", asks[i].name, strerrorname_np(errno));
            continue;
        }
        struct sockaddr_in *sin = (void *)&ifr.ifr_addr;
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
        printf(" %s %s family %d", asks[i].name, text, sin->sin_family);
    }
    printf("\n");
    close(fd);
}

static long set_up_by_ioctl(const char *dev)
{
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, dev);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ioctl(fd, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags |= IFF_UP;
    long rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    close(fd);
    return rc;
}

static long udp_send(const char *address, int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = inet(address, port);
    long rc = sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, sizeof sin);
    close(fd);
    return rc;
}

/* -- the two sides -- */
static int to_child[2], to_parent[2];

static void signal_to(int *pipe_fds)
{
    (void)!write(pipe_fds[1], "x", 1);
}

static void wait_for(int *pipe_fds)
{
    char c;
    (void)!read(pipe_fds[0], &c, 1);
}

static void child(void)
{
    T(unshare(CLONE_NEWNET));
    say("child: lo up", set_up_by_ioctl("lo"));
    signal_to(to_parent);
    wait_for(to_child); /* the parent made the pair */
    links("child");
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    say("child: bind " SUBNET "2 before it has it", bind_to(udp, SUBNET "2", UDP_PORT));
    say("child: SIOCSIFADDR veth1 " SUBNET "2", set_address_by_ioctl("veth1", SUBNET "2"));
    say("child: bind " SUBNET "2 with veth1 down", bind_to(udp, SUBNET "2", UDP_PORT));
    show_ifconfig("child", "veth1", AF_INET);
    say("child: SIOCSIFNETMASK veth1 255.255.0.0", set_netmask("veth1", "255.255.0.0"));
    show_ifconfig("child", "veth1", AF_INET);
    say("child: SIOCSIFNETMASK veth1 255.0.255.0", set_netmask("veth1", "255.0.255.0"));
    say("child: SIOCSIFNETMASK veth1 255.255.255.0", set_netmask("veth1", "255.255.255.0"));
    show_ifconfig("child", "veth1", AF_INET);
    show_ifconfig("child", "lo", AF_INET);
    show_ifconfig("child", "veth1", AF_UNIX);
    show_ifconfig("child", "veth9", AF_INET);
    say("child: veth1 up", set_up_by_ioctl("veth1"));
    addresses_and_routes("child");
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in server = inet(SUBNET "1", TCP_PORT), me;
    say("child: connect to the parent", connect(tcp, (struct sockaddr *)&server, sizeof server));
    socklen_t len = sizeof me;
    getsockname(tcp, (struct sockaddr *)&me, &len);
    printf("child: connected from %s\n", name_of(&me));
    (void)!write(tcp, "ping", 4);
    char buf[16] = {0};
    printf("child: read %zd \"%s\"\n", read(tcp, buf, sizeof buf - 1), buf);
    close(tcp);
    signal_to(to_parent);
    struct sockaddr_in from;
    len = sizeof from;
    ssize_t n = recvfrom(udp, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &len);
    buf[n > 0 ? n : 0] = 0;
    printf("child: udp %zd \"%s\" from %s\n", n, buf, name_of(&from));
    say("child: udp back", sendto(udp, "pong", 4, 0, (struct sockaddr *)&from, len));
    signal_to(to_parent);
    wait_for(to_child); /* the parent read it */
    say("child: udp to " BEYOND " without a route", udp_send(BEYOND, UDP_PORT));
    say("child: default route via " BEYOND, default_route(BEYOND));
    say("child: default route via " SUBNET "1", default_route(SUBNET "1"));
    say("child: again", default_route(SUBNET "1"));
    say("child: udp to " BEYOND " by it", udp_send(BEYOND, UDP_PORT));
    addresses_and_routes("child");
    signal_to(to_parent);
    wait_for(to_child); /* the parent deleted veth0 */
    links("child after the parent deleted veth0");
    addresses_and_routes("child after the parent deleted veth0");
    signal_to(to_parent);
    wait_for(to_child); /* veth3 moved here */
    links("child with veth3");
    say("child: rename veth3 to eth0", rename_link("veth3", "eth0"));
    say("child: rename eth0 to lo", rename_link("eth0", "lo"));
    say("child: eth0 up", link_request(RTM_NEWLINK, "eth0", 1, 0, 0));
    say("child: rename eth0 while up", rename_link("eth0", "eth1"));
    links("child with eth0");
    say("child: delete eth1", link_request(RTM_DELLINK, "eth1", 0, 0, 0));
    links("child after deleting eth1");
    signal_to(to_parent);
    wait_for(to_child); /* vethB came: exit, and the namespace ends */
}

static void as_nobody(void)
{
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
        exit(1);
    say("nobody: add a veth pair here", add_veth("veth7", "veth8", 0, 0));
    say("nobody: SIOCSIFADDR lo", set_address_by_ioctl("lo", "10.0.0.1"));
    say("nobody: SIOCSIFNETMASK of no device", set_netmask("nodev0", "255.0.0.0"));
    say("nobody: unshare CLONE_NEWUSER|CLONE_NEWNET", unshare(CLONE_NEWUSER | CLONE_NEWNET));
    say("nobody: add a veth pair there", add_veth("veth7", "veth8", 0, 0));
    links("nobody");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    T(unshare(CLONE_NEWNET));
    say("parent: lo up", set_up_by_ioctl("lo"));
    if (pipe(to_child) || pipe(to_parent))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        child();
        _exit(0);
    }
    wait_for(to_parent); /* the child has a namespace of its own */
    say("parent: add veth0, peer veth1 in the child's namespace",
        add_veth("veth0", "veth1", IFLA_NET_NS_PID, pid));
    say("parent: add it again", add_veth("veth0", "veth1", IFLA_NET_NS_PID, pid));
    say("parent: add a peer named lo", add_veth("veth5", "lo", 0, 0));
    say("parent: add a dummy device", add_link("dummy", "dummy0", NULL, 0, 0));
    say("parent: add a peer in no process's namespace",
        add_veth("veth5", "veth6", IFLA_NET_NS_PID, 999999));
    say("parent: add a peer in the namespace of a pipe",
        add_veth("veth5", "veth6", IFLA_NET_NS_FD, to_child[1]));
    say("parent: delete lo", link_request(RTM_DELLINK, "lo", 0, 0, 0));
    links("parent");
    int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);
    say("parent: bind " SUBNET "1 before it has it", bind_to(tcp, SUBNET "1", TCP_PORT));
    show_ifconfig("parent", "veth0", AF_INET);
    say("parent: SIOCSIFNETMASK veth0 without an address",
        set_netmask("veth0", "255.255.255.0"));
    say("parent: RTM_NEWADDR veth0 " SUBNET "1/24", addr_request(RTM_NEWADDR, "veth0",
                                                                  SUBNET "1", 24));
    say("parent: again", addr_request(RTM_NEWADDR, "veth0", SUBNET "1", 24));
    say("parent: RTM_NEWADDR veth0 " SUBNET "9/24", addr_request(RTM_NEWADDR, "veth0",
                                                                  SUBNET "9", 24));
    say("parent: RTM_DELADDR veth0 " SUBNET "9/24", addr_request(RTM_DELADDR, "veth0",
                                                                  SUBNET "9", 24));
    say("parent: RTM_DELADDR it again", addr_request(RTM_DELADDR, "veth0", SUBNET "9", 24));
    say("parent: veth0 up", link_request(RTM_NEWLINK, "veth0", 1, 0, 0));
    show_ifconfig("parent", "veth0", AF_INET);
    say("parent: bind tcp", bind_to(tcp, SUBNET "1", TCP_PORT));
    say("parent: listen", listen(tcp, 4));
    say("parent: bind udp", bind_to(udp, SUBNET "1", UDP_PORT));
    addresses_and_routes("parent");
    signal_to(to_child);
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int conn = accept(tcp, (struct sockaddr *)&peer, &len);
    char buf[16] = {0};
    ssize_t n = read(conn, buf, sizeof buf - 1); /* after the child's line */
    printf("parent: accepted from %s\n", name_of(&peer));
    printf("parent: read %zd \"%s\"\n", n, buf);
    (void)!write(conn, "pong", 4);
    close(conn);
    wait_for(to_parent); /* the child read it */
    struct sockaddr_in child_udp = inet(SUBNET "2", UDP_PORT);
    long sent = sendto(udp, "ping", 4, 0, (struct sockaddr *)&child_udp, sizeof child_udp);
    wait_for(to_parent); /* the child answered */
    say("parent: udp to the child", sent);
    len = sizeof peer;
    n = recvfrom(udp, buf, sizeof buf - 1, 0, (struct sockaddr *)&peer, &len);
    buf[n > 0 ? n : 0] = 0;
    printf("parent: udp %zd \"%s\" from %s\n", n, buf, name_of(&peer));
    signal_to(to_child);
    wait_for(to_parent);
    say("parent: delete veth0", link_request(RTM_DELLINK, "veth0", 0, 0, 0));
    say("parent: delete it again", link_request(RTM_DELLINK, "veth0", 0, 0, 0));
    links("parent after deleting veth0");
    addresses_and_routes("parent after deleting veth0");
    say("parent: bind " SUBNET "1 after", bind_to(socket(AF_INET, SOCK_DGRAM, 0), SUBNET "1",
                                                  UDP_PORT));
    signal_to(to_child);
    wait_for(to_parent);
    say("parent: add veth2, peer veth3 here", add_veth("veth2", "veth3", 0, 0));
    say("parent: add veth9 without a peer name", add_veth("veth9", NULL, 0, 0));
    links("parent with two pairs");
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/net", pid);
    int nsfd = open(path, O_RDONLY);
    say("parent: move veth3 to the child by IFLA_NET_NS_FD",
        link_request(RTM_NEWLINK, "veth3", 0, IFLA_NET_NS_FD, nsfd));
    close(nsfd);
    links("parent after the move");
    signal_to(to_child);
    wait_for(to_parent);
    links("parent after the child deleted eth1");
    say("parent: add vethA, peer vethB in the child's namespace",
        add_veth("vethA", "vethB", IFLA_NET_NS_PID, pid));
    say("parent: add vethC in the child's namespace, peer vethD here",
        add_veth_there("vethC", "vethD", pid, 0, 0));
    say("parent: add vethE at index 42, peer vethF at 40",
        add_veth_there("vethE", "vethF", 0, 42, 40));
    say("parent: add vethG at index 42", add_veth_there("vethG", "vethH", 0, 42, 0));
    say("parent: add vethG at index 41", add_veth_there("vethG", "vethH", 0, 41, 0));
    say("parent: add vethI, peer vethJ at index 42",
        add_veth_there("vethI", "vethJ", 0, 0, 42));
    links("parent with vethA and vethD");
    cat_file("/proc/net/dev");
    signal_to(to_child);
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", status);
    int gone = 0; /* natively the namespace's end is a work item: poll a while */
    for (int i = 0; i < 200 && !gone; i++) {
        gone = !if_nametoindex("vethA") && !if_nametoindex("vethD");
        if (!gone)
            usleep(10000);
    }
    printf("parent: vethA and vethD gone with the child's namespace %d\n", gone);
    links("parent after the child exited");
    pid = fork();
    if (pid == 0) {
        as_nobody();
        _exit(0);
    }
    waitpid(pid, &status, 0);
    printf("nobody status %d\n", status);
    return 0;
}
