/* User namespaces as a rootless container tool makes them, natively as root and in
 * a coffer: a child becomes nobody, then unshare(CLONE_NEWUSER): its ids read as
 * the overflow id, it holds every capability in the new namespace, it writes its
 * uid_map (its own uid, once), setgroups "deny" then gid_map, and is root inside;
 * files show their owners through the map (unmapped: 65534), a capability
 * overrides permissions only on mapped files, ids it cannot map are EINVAL, and
 * UTS names it owns it may change; a child's uid in waitid's and SIGCHLD's siginfo
 * is the parent's view of it, and so are a System V segment's owner and creator,
 * and its capabilities do not reach root's segment (the IPC namespace is not its). Then clone(CLONE_NEWUSER) with the parent writing
 * the child's maps. */
#include "check.h"
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define NOBODY 65534

static void show_file(const char *path)
{
    char buf[256] = "";
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (n < 0)
        printf("%s: %s\n", path, strerrorname_np(errno));
    else
        printf("%s: [%.*s]\n", path, (int)n, buf);
    if (fd >= 0)
        close(fd);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        printf("open %s: %s\n", path, strerrorname_np(errno));
        return;
    }
    ssize_t n = write(fd, text, strlen(text));
    printf("write %s \"%.*s\": %s\n", path, (int)strcspn(text, "\n"), text,
           n < 0 ? strerrorname_np(errno) : "ok");
    close(fd);
}

static void ids(const char *when)
{
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    syscall(SYS_capget, &head, data);
    printf("%s: uid %d euid %d gid %d egid %d, CAP_SYS_ADMIN %s, CAP_SETUID %s\n", when,
           getuid(), geteuid(), getgid(), getegid(),
           data[0].effective & (1u << CAP_SYS_ADMIN) ? "yes" : "no",
           data[0].effective & (1u << CAP_SETUID) ? "yes" : "no");
}

static void show_status_ids(void)
{
    char buf[4096] = "";
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) || !strncmp(line, "Groups:", 7))
            printf("status %s\n", line);
}

static volatile unsigned got_uid = 12345;

static void on_usr1(int sig, siginfo_t *info, void *context)
{
    got_uid = info->si_uid;
}

static void signal_ids(void)
{
    struct sigaction sa = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &sa, NULL);
    T(kill(getpid(), SIGUSR1));
    printf("si_uid %u\n", got_uid);
    T(kill(getppid(), 0));  /* root's, outside: CAP_KILL here does not reach it */
}

static int root_segment = -1;  /* root's 0600 System V segment, made in main */

/* A System V segment's owner and creator as the caller sees them, and whether it may
 * attach it. */
static void segment_ids(const char *when, int shmid)
{
    struct shmid_ds ds;
    if (shmctl(shmid, IPC_STAT, &ds) < 0) {
        printf("%s: IPC_STAT %s\n", when, strerrorname_np(errno));
    } else {
        printf("%s: IPC_STAT uid %u gid %u cuid %u cgid %u mode %o\n", when, ds.shm_perm.uid,
               ds.shm_perm.gid, ds.shm_perm.cuid, ds.shm_perm.cgid, ds.shm_perm.mode & 0777);
    }
    void *at = shmat(shmid, NULL, 0);
    printf("%s: shmat %s\n", when, at == (void *)-1 ? strerrorname_np(errno) : "ok");
    if (at != (void *)-1)
        shmdt(at);
    int locked = shmctl(shmid, SHM_LOCK, NULL);
    printf("%s: SHM_LOCK %s\n", when, locked < 0 ? strerrorname_np(errno) : "ok");
    if (locked == 0)
        shmctl(shmid, SHM_UNLOCK, NULL);
}

/* A segment of its own: shown in its ids, IPC_SET takes only ids it maps. */
static void own_segment(const char *when)
{
    int shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (shmid < 0) {
        printf("%s: shmget %s\n", when, strerrorname_np(errno));
        return;
    }
    segment_ids(when, shmid);
    struct shmid_ds ds;
    shmctl(shmid, IPC_STAT, &ds);
    ds.shm_perm.uid = 1000;
    printf("%s: IPC_SET uid 1000 %s\n", when, shmctl(shmid, IPC_SET, &ds) < 0 ?
           strerrorname_np(errno) : "ok");
    ds.shm_perm.uid = 0;
    ds.shm_perm.mode = 0640;
    printf("%s: IPC_SET uid 0 %s\n", when, shmctl(shmid, IPC_SET, &ds) < 0 ?
           strerrorname_np(errno) : "ok");
    segment_ids(when, shmid);
    printf("%s: IPC_RMID root's %s\n", when, shmctl(root_segment, IPC_RMID, NULL) < 0 ?
           strerrorname_np(errno) : "ok");
    printf("%s: IPC_RMID %s\n", when, shmctl(shmid, IPC_RMID, NULL) < 0 ?
           strerrorname_np(errno) : "ok");
}

static volatile int sigchld_uid = -1;

static void on_sigchld(int sig, siginfo_t *info, void *context)
{
    sigchld_uid = info->si_uid;
}

/* A child's real uid as its parent sees it: in waitid's siginfo and in SIGCHLD's. */
static void child_ids(const char *when)
{
    struct sigaction sa = {.sa_sigaction = on_sigchld, .sa_flags = SA_SIGINFO}, old;
    sigaction(SIGCHLD, &sa, &old);
    sigchld_uid = -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    siginfo_t info = {0};
    int got = waitid(P_PID, pid, &info, WEXITED);
    printf("%s: waitid %d si_uid %u si_status %d, SIGCHLD si_uid %d\n", when, got,
           info.si_uid, info.si_status, sigchld_uid);
    sigaction(SIGCHLD, &old, NULL);
}

static void peer_ids(void)
{
    int sv[2], on = 1;
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    struct ucred peer;
    socklen_t len = sizeof(peer);
    T(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &peer, &len));
    printf("SO_PEERCRED uid %u gid %u\n", peer.uid, peer.gid);
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
    char control[CMSG_SPACE(sizeof(struct ucred))];
    struct ucred claim = {getpid(), 0, 0};
    struct iovec iov = {"x", 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof(control)};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_CREDENTIALS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(claim));
    memcpy(CMSG_DATA(cmsg), &claim, sizeof(claim));
    T(sendmsg(sv[0], &msg, 0));
    claim.uid = 5;
    memcpy(CMSG_DATA(cmsg), &claim, sizeof(claim));
    T(sendmsg(sv[0], &msg, 0));
    char byte;
    struct iovec in = {&byte, 1};
    struct msghdr got = {.msg_iov = &in, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof(control)};
    T(recvmsg(sv[1], &got, 0));
    struct ucred seen;
    memcpy(&seen, CMSG_DATA(CMSG_FIRSTHDR(&got)), sizeof(seen));
    printf("SCM_CREDENTIALS uid %u gid %u\n", seen.uid, seen.gid);
    close(sv[0]);
    close(sv[1]);
}

static void owner(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        printf("stat %s: %s\n", path, strerrorname_np(errno));
    else
        printf("stat %s: uid %u gid %u\n", path, st.st_uid, st.st_gid);
}

static void rootless(void)
{
    if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
        exit(1);
    show_file("/proc/self/uid_map");  /* not dumpable after setuid: its files are root's */
    write_file("/proc/self/setgroups", "deny\n");
    T(prctl(PR_SET_DUMPABLE, 1));  /* as a process that always ran as nobody */
    ids("nobody");
    child_ids("nobody");
    segment_ids("nobody", root_segment);
    T(sethostname("x", 1));
    T(unshare(CLONE_NEWUSER));
    ids("new namespace");
    show_file("/proc/self/uid_map");
    show_file("/proc/self/setgroups");
    write_file("/proc/self/uid_map", "0 1 1\n");
    write_file("/proc/self/uid_map", "0 65534 2\n");
    write_file("/proc/self/uid_map", "0 65534 1\n");
    write_file("/proc/self/uid_map", "0 65534 1\n");
    write_file("/proc/self/gid_map", "0 65534 1\n");
    write_file("/proc/self/setgroups", "deny\n");
    write_file("/proc/self/setgroups", "allow\n");
    write_file("/proc/self/gid_map", "0 65534 1\n");
    show_file("/proc/self/uid_map");
    show_file("/proc/self/gid_map");
    show_file("/proc/self/setgroups");
    ids("mapped");
    show_status_ids();
    peer_ids();
    signal_ids();
    child_ids("mapped");
    segment_ids("mapped", root_segment);
    own_segment("mapped");
    T(setgroups(0, NULL));
    T(setuid(0));
    T(setuid(5));
    T(setgid(7));
    owner("/");
    owner("userns-dir");
    owner("userns-dir/mine");
    T(open("userns-dir/secret", O_RDONLY));
    T(close(T(open("userns-dir/mine", O_RDONLY))));
    T(close(T(creat("userns-dir/made", 0600))));
    owner("userns-dir/made");
    T(chown("userns-dir/made", 0, 0));
    T(chown("userns-dir/made", 5, 0));
    T(unlink("userns-dir/made"));
    T(mknod("userns-dir/null", S_IFCHR | 0600, makedev(1, 3)));
    T(mount("none", "userns-dir", "tmpfs", 0, NULL));
    T(sethostname("x", 1));
    T(unshare(CLONE_NEWUTS));
    T(sethostname("inside", 6));
    T(unshare(CLONE_NEWUSER));
    ids("nested");
    child_ids("nested");
}

static void cloned(void)
{
    if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY) || prctl(PR_SET_DUMPABLE, 1))
        exit(1);
    int go[2];
    T(pipe(go));
    fflush(stdout);
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        char byte;
        close(go[1]);
        read(go[0], &byte, 1);
        ids("clone child");
        fflush(stdout);
        _exit(0);
    }
    close(go[0]);
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/uid_map", pid);
    int fd = open(path, O_RDWR);
    printf("child's uid_map: write %s\n", write(fd, "0 65534 1\n", 10) == 10 ? "ok" : "failed");
    char buf[64] = "";
    pread(fd, buf, sizeof buf - 1, 0);
    printf("child's uid_map: [%s]\n", buf);
    close(fd);
    write(go[1], "x", 1);
    int status;
    waitpid(pid, &status, 0);
    printf("clone child status %d\n", status);
}

static int child(void (*body)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        body();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return status;
}

int main(void)
{
    show_file("/proc/self/uid_map");
    show_file("/proc/self/gid_map");
    show_file("/proc/self/setgroups");
    T(mkdir("userns-dir", 0777));
    T(chmod("userns-dir", 0777));
    T(close(T(open("userns-dir/secret", O_CREAT | O_WRONLY, 0600))));
    T(close(T(open("userns-dir/mine", O_CREAT | O_WRONLY, 0000))));
    T(chown("userns-dir/mine", NOBODY, NOBODY));
    root_segment = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    segment_ids("root", root_segment);
    printf("rootless status %d\n", child(rootless));
    printf("cloned status %d\n", child(cloned));
    printf("root: IPC_RMID %s\n", shmctl(root_segment, IPC_RMID, NULL) < 0 ?
           strerrorname_np(errno) : "ok");
    T(unlink("userns-dir/secret"));
    T(unlink("userns-dir/mine"));
    T(rmdir("userns-dir"));
    return 0;
}
