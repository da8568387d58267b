/* Network namespaces, natively as root and in a coffer. The guest first unshares
 * CLONE_NEWNET (so nothing touches the host's network), brings lo up with
 * SIOCSIFFLAGS, listens on 127.0.0.1:PORT, binds an abstract AF_UNIX name and a path
 * one. A child then unshares again: its lo is down, without addresses (SIOCGIFFLAGS,
 * an RTM_GETADDR dump), 127.0.0.1 is unreachable and ::1 cannot be bound; brought
 * up, the port is free (its own port space), the parent's listener is not reached
 * (ECONNREFUSED), the abstract names are its own, the path name is the same file;
 * /proc/net/dev and if_inet6 show its own lo.
 * A socket made before the unshare keeps its namespace and still reaches the parent.
 * A last child, as nobody, may not change the devices of the namespace it is in
 * (EPERM), but may in one of its own user namespace (unshare -r -n), where it binds a
 * port below 1024 too. clone(CLONE_NEWNET) gives the child a namespace of its own. */
#include "check.h"
#include "rtnl.h"
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <grp.h>

#define PORT 7000
#define LOW_PORT 80

static void say(const char *what, long result)
{
    printf("%s: %s\n", what, result < 0 ? strerrorname_np(errno) : "ok");
}

static int lo_flags(void)
{
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    strcpy(ifr.ifr_name, "lo");
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    close(fd);
    return rc < 0 ? -1 : ifr.ifr_flags;
}

static long lo_set_up(int up)
{
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    strcpy(ifr.ifr_name, "lo");
    ioctl(fd, SIOCGIFFLAGS, &ifr);
    ifr.ifr_flags = up ? ifr.ifr_flags | IFF_UP : ifr.ifr_flags & ~IFF_UP;
    long rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    close(fd);
    return rc;
}

/* ip link set lo up|down, iproute2's way: RTM_NEWLINK with ifi_change, acked. */
static long lo_set_up_by_netlink(int up)
{
    struct request r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = (int)if_nametoindex("lo"),
                            .ifi_flags = up ? IFF_UP : 0, .ifi_change = IFF_UP};
    start(&r, RTM_NEWLINK, 0, &ifi, sizeof ifi);
    return talk(&r);
}

static void show_lo(const char *when)
{
    int flags = lo_flags();
    printf("%s: lo flags %#x (up %d)\n", when, flags, !!(flags & IFF_UP));
}

/* The addresses an RTM_GETADDR dump lists, as "family/prefixlen" words. */
static int print_family_prefix(struct nlmsghdr *h)
{
    struct ifaddrmsg *a = NLMSG_DATA(h);
    printf(" %d/%d", a->ifa_family, a->ifa_prefixlen);
    return 0;
}

static void show_addrs(const char *when)
{
    char buf[8192];
    printf("%s: addresses", when);
    dump(RTM_GETADDR, AF_UNSPEC, buf, sizeof buf, print_family_prefix);
    printf("\n");
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

static long tcp_connect(int fd, int port)
{
    struct sockaddr_in sin = loopback(port);
    return connect(fd, (struct sockaddr *)&sin, sizeof sin);
}

static int tcp_listen(const char *what, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = loopback(port);
    say(what, bind(fd, (struct sockaddr *)&sin, sizeof sin) || listen(fd, 4));
    return fd;
}

static socklen_t unix_name(struct sockaddr_un *sun, const char *name, int abstract)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    strcpy(sun->sun_path + abstract, name);
    return offsetof(struct sockaddr_un, sun_path) + abstract + strlen(name);
}

static int unix_bound(const char *name, int abstract)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    socklen_t len = unix_name(&sun, name, abstract);
    if (bind(fd, (struct sockaddr *)&sun, len) || listen(fd, 4)) {
        close(fd);
        return -1;
    }
    return fd;
}

static long unix_connect(const char *name, int abstract)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    socklen_t len = unix_name(&sun, name, abstract);
    long rc = connect(fd, (struct sockaddr *)&sun, len);
    close(fd);
    return rc;
}

static void in_new_namespace(int made_before)
{
    T(unshare(CLONE_NEWNET));
    show_lo("child");
    show_addrs("child");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    say("child: connect 127.0.0.1 with lo down", tcp_connect(fd, PORT));
    close(fd);
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = loopback(PORT);
    say("child: udp sendto 127.0.0.1 with lo down",
        sendto(udp, "x", 1, 0, (struct sockaddr *)&sin, sizeof sin));
    struct sockaddr_in6 six = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd6 = socket(AF_INET6, SOCK_STREAM, 0);
    say("child: bind ::1 with lo down", bind(fd6, (struct sockaddr *)&six, sizeof six));
    close(fd6);
    cat_file("/proc/net/dev");
    cat_file("/proc/self/net/if_inet6");
    say("child: lo up", lo_set_up(1));
    show_lo("child");
    show_addrs("child");
    cat_file("/proc/net/dev");
    cat_file("/proc/self/net/if_inet6");
    fd = socket(AF_INET, SOCK_STREAM, 0);
    say("child: connect to the parent's port", tcp_connect(fd, PORT));
    close(fd);
    int mine = tcp_listen("child: listen on the same port", PORT);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    say("child: connect to its own listener", tcp_connect(fd, PORT));
    close(fd);
    close(mine);
    say("child: connect with the socket made before", tcp_connect(made_before, PORT));
    say("child: connect to the parent's abstract name", unix_connect("netns-a", 1));
    say("child: bind the parent's abstract name", unix_bound("netns-a", 1));
    say("child: connect to the parent's path name", unix_connect("netns.sock", 0));
    say("child: bind the parent's path name", unix_bound("netns.sock", 0));
    say("child: lo down", lo_set_up(0));
    show_lo("child");
    show_addrs("child");
    say("child: lo up by RTM_NEWLINK", lo_set_up_by_netlink(1));
    show_lo("child");
    say("child: lo down by RTM_NEWLINK", lo_set_up_by_netlink(0));
    show_lo("child");
}

static void as_nobody(void)
{
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
        exit(1);
    say("nobody: lo down here", lo_set_up(0));
    say("nobody: lo down here by RTM_NEWLINK", lo_set_up_by_netlink(0));
    say("nobody: unshare CLONE_NEWNET", unshare(CLONE_NEWNET));
    say("nobody: unshare CLONE_NEWUSER|CLONE_NEWNET", unshare(CLONE_NEWUSER | CLONE_NEWNET));
    say("nobody: lo up", lo_set_up(1));
    show_lo("nobody");
    int fd = tcp_listen("nobody: listen on a port below 1024", LOW_PORT);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    say("nobody: connect to it", tcp_connect(client, LOW_PORT));
    close(fd);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    T(unshare(CLONE_NEWNET));
    show_lo("parent");
    show_addrs("parent");
    say("parent: lo up", lo_set_up(1));
    show_lo("parent");
    show_addrs("parent");
    int listener = tcp_listen("parent: listen", PORT);
    int abstract = unix_bound("netns-a", 1);
    say("parent: bind an abstract name", abstract);
    unlink("netns.sock");
    int path = unix_bound("netns.sock", 0);
    say("parent: bind a path name", path);
    int made_before = socket(AF_INET, SOCK_STREAM, 0);
    pid_t pid = fork();
    if (pid == 0) {
        in_new_namespace(made_before);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", status);
    fd_set ready;
    FD_ZERO(&ready);
    FD_SET(listener, &ready);
    struct timeval now = {0};
    printf("parent: listener has a connection %d\n",
           select(listener + 1, &ready, NULL, NULL, &now));
    say("parent: connect to its own listener", tcp_connect(socket(AF_INET, SOCK_STREAM, 0),
                                                            PORT));
    pid = fork();
    if (pid == 0) {
        as_nobody();
        _exit(0);
    }
    waitpid(pid, &status, 0);
    printf("nobody status %d\n", status);
    struct stat mine, theirs;
    stat("/proc/self/ns/net", &mine);
    pid = syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        show_lo("clone(CLONE_NEWNET) child");
        stat("/proc/self/ns/net", &theirs);
        printf("clone child: another net namespace %d\n", mine.st_ino != theirs.st_ino);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    show_lo("parent after the clone");
    unlink("netns.sock");
    return 0;
}
