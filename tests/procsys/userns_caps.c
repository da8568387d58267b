/* Capabilities Linux checks against the initial user namespace, or the namespace that
 * owns the object, natively as root and in a coffer: a child becomes nobody, then
 * root of a user namespace of its own, where it holds every capability and still may
 * not lower its nice value, become real-time, grow a pipe past pipe-max-size, raise
 * a hard limit, bind a port below 1024 (the network namespace is the initial one's),
 * claim another pid in SCM_CREDENTIALS (so is the PID namespace), or renice root's
 * process (the PID namespace's ids are checked only once the claimed ids are mapped).
 * Root is not checked: natively it may lack capabilities (a container's bounding set). */
#include "check.h"
#include <grp.h>
#include <sched.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define NOBODY 65534
#define PIPE_TOO_BIG (2 << 20)  /* above fs.pipe-max-size (1 MiB) */
#define LOW_PORT 1021           /* below net.ipv4.ip_unprivileged_port_start */

static void say(const char *when, const char *what, int result)
{
    printf("%s: %s %s\n", when, what, result < 0 ? strerrorname_np(errno) : "ok");
}

static void hard_limit(const char *when)
{
    struct rlimit lower = {256, 512}, raise = {256, 1024};
    say(when, "setrlimit lower hard", setrlimit(RLIMIT_NOFILE, &lower));
    say(when, "setrlimit raise hard", setrlimit(RLIMIT_NOFILE, &raise));
}

static void low_port(const char *when)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(LOW_PORT),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    say(when, "bind port 1021", bind(fd, (struct sockaddr *)&addr, sizeof addr));
    addr.sin_port = 0;
    say(when, "bind port 0", bind(fd, (struct sockaddr *)&addr, sizeof addr));
    close(fd);
}

static void claimed_pid(const char *when)
{
    int sv[2], on = 1;
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    char control[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {"x", 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof control};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_CREDENTIALS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred claim = {getppid(), getuid(), getgid()};
    memcpy(CMSG_DATA(cmsg), &claim, sizeof claim);
    say(when, "SCM_CREDENTIALS parent's pid", sendmsg(sv[0], &msg, 0));
    claim.pid = getpid();
    memcpy(CMSG_DATA(cmsg), &claim, sizeof claim);
    say(when, "SCM_CREDENTIALS own pid", sendmsg(sv[0], &msg, 0));
    close(sv[0]);
    close(sv[1]);
}

static void checks(const char *when)
{
    say(when, "setpriority -5", setpriority(PRIO_PROCESS, 0, -5));
    say(when, "setpriority 5", setpriority(PRIO_PROCESS, 0, 5));
    say(when, "setpriority parent", setpriority(PRIO_PROCESS, getppid(), 0));
    struct sched_param param = {.sched_priority = 1};
    say(when, "SCHED_FIFO", sched_setscheduler(0, SCHED_FIFO, &param));
    int fds[2];
    pipe(fds);
    say(when, "F_SETPIPE_SZ 2 MiB", fcntl(fds[1], F_SETPIPE_SZ, PIPE_TOO_BIG));
    say(when, "F_SETPIPE_SZ 64 KiB", fcntl(fds[1], F_SETPIPE_SZ, 65536));
    close(fds[0]);
    close(fds[1]);
    hard_limit(when);
    low_port(when);
    claimed_pid(when);
}

static void rootless(void)
{
    if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY) || prctl(PR_SET_DUMPABLE, 1))
        exit(1);
    checks("nobody");
    if (unshare(CLONE_NEWUSER) < 0)
        exit(2);
    claimed_pid("unmapped");
    const char *maps[][2] = {{"/proc/self/uid_map", "0 65534 1\n"},
                             {"/proc/self/setgroups", "deny"},
                             {"/proc/self/gid_map", "0 65534 1\n"}};
    for (int i = 0; i < 3; i++) {
        int fd = open(maps[i][0], O_WRONLY);
        say("userns", maps[i][0], fd < 0 ? -1 : (int)write(fd, maps[i][1], strlen(maps[i][1])));
        close(fd);
    }
    checks("userns");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t pid = fork();
    if (pid == 0) {
        rootless();
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("rootless status %d\n", status);
    return 0;
}
