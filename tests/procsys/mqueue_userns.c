/* /proc/sys/fs/mqueue in a container's own user and IPC namespaces, natively as root
 * and in a coffer: a process of uid 1000 unshares both, maps its ids to 0, and is then
 * the owner of the sysctls of its IPC namespace (ipc_set_ownership): it sets msg_max,
 * which bounds its queues' default size, while the parent's namespace keeps its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include "check.h"
#include <mqueue.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define OUTSIDE 1000

static long put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    long n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n;
}

static void get(const char *path)
{
    char value[32] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0 || read(fd, value, sizeof value - 1) < 0)
        printf("%s: %s\n", path, strerrorname_np(errno));
    else
        printf("%s = %s", path, value);
    close(fd);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    T(unshare(CLONE_NEWIPC));
    pid_t child = fork();
    if (child == 0) {
        T(setresgid(OUTSIDE, OUTSIDE, OUTSIDE));
        T(setresuid(OUTSIDE, OUTSIDE, OUTSIDE));
        T(prctl(PR_SET_DUMPABLE, 1));
        T(put("/proc/sys/fs/mqueue/msg_max", "7"));
        T(unshare(CLONE_NEWUSER | CLONE_NEWIPC));
        T(put("/proc/self/uid_map", "0 1000 1"));
        T(put("/proc/self/setgroups", "deny"));
        T(put("/proc/self/gid_map", "0 1000 1"));
        struct stat st;
        T(stat("/proc/sys/fs/mqueue/msg_max", &st));
        printf("owner %d %d mode %o\n", st.st_uid, st.st_gid, st.st_mode);
        T(put("/proc/sys/fs/mqueue/msg_max", "7"));
        T(put("/proc/sys/fs/mqueue/msgsize_max", "100"));
        get("/proc/sys/fs/mqueue/msg_max");
        mqd_t q = T(mq_open("/u", O_CREAT | O_RDWR, 0600, NULL));
        struct mq_attr a = {0};
        T(mq_getattr(q, &a));
        printf("maxmsg %ld msgsize %ld\n", a.mq_maxmsg, a.mq_msgsize);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    get("/proc/sys/fs/mqueue/msg_max");
    struct stat st;
    T(stat("/proc/sys/fs/mqueue/msg_max", &st));
    printf("owner %d %d\n", st.st_uid, st.st_gid);
    return 0;
}
