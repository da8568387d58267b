/* The mqueue filesystem and /proc/sys/fs/mqueue, natively as root and in a coffer: in a
 * new IPC and mount namespace the guest reads and writes the five sysctls (msg_max and
 * msgsize_max bound a queue's default size, even root's; a bad value is EINVAL; a new
 * IPC namespace starts from the defaults), mounts mqueue, lists its queues, stats and
 * reads one, unlinks one there, and, as nobody, meets queues_max (ENOSPC) and the
 * sticky root: unlink(2) there is EPERM, mq_unlink EACCES (Linux 6.18). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include "check.h"
#include "caps.h"
#include <mqueue.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

#define NOBODY 65534
static const char *const sysctls[] = {"msg_default", "msg_max", "msgsize_default",
                                      "msgsize_max", "queues_max"};

static void show_sysctls(void)
{
    for (unsigned i = 0; i < sizeof sysctls / sizeof *sysctls; i++) {
        char path[80], value[32] = {0};
        snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", sysctls[i]);
        int fd = open(path, O_RDONLY);
        if (fd < 0 || read(fd, value, sizeof value - 1) < 0)
            printf("%s: %s\n", sysctls[i], strerrorname_np(errno));
        else
            printf("%s = %s", sysctls[i], value);
        close(fd);
    }
}

static long set_sysctl(const char *name, const char *value)
{
    char path[80];
    snprintf(path, sizeof path, "/proc/sys/fs/mqueue/%s", name);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    long n = write(fd, value, strlen(value));
    int saved = errno;
    close(fd);
    errno = saved;
    return n;
}

static void show_attr(mqd_t q)
{
    struct mq_attr a;
    if (mq_getattr(q, &a) == 0)
        printf("attr maxmsg %ld msgsize %ld\n", a.mq_maxmsg, a.mq_msgsize);
}

static void list(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            printf("entry %s\n", e->d_name);
    if (d)
        closedir(d);
}

/* The mqueue mount's line of /proc/self/mountinfo: its options and what follows " - ". */
static void show_mount(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *tail = strstr(line, " - mqueue ");
        if (tail == NULL)
            continue;
        char options[64];
        if (sscanf(line, "%*s %*s %*s %*s %*s %63s", options) == 1)
            printf("mountinfo %s%s", options, tail);
    }
    if (f)
        fclose(f);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    drop_sys_resource();
    umask(022);
    T(unshare(CLONE_NEWIPC | CLONE_NEWNS));
    T(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    show_sysctls();
    T(set_sysctl("msg_max", "5\n"));
    T(set_sysctl("msgsize_max", "200"));
    T(set_sysctl("msg_max", "0"));
    T(set_sysctl("msgsize_max", "abc"));
    T(set_sysctl("queues_max", "1"));
    show_sysctls();
    mqd_t q = T(mq_open("/one", O_CREAT | O_RDWR, 0640, NULL));
    show_attr(q);
    T(mq_send(q, "hello", 5, 2));
    mqd_t two = T(mq_open("/two", O_CREAT | O_RDWR, 0600, NULL));

    T(mkdir("m", 0755));
    T(mount("none", "m", "mqueue", 0, NULL));
    struct stat st;
    show_mount();
    T(stat("m", &st));
    printf("root mode %o\n", st.st_mode);
    list("m");
    T(stat("m/one", &st));
    printf("one mode %o size %lld nlink %lu\n", st.st_mode, (long long)st.st_size,
           (unsigned long)st.st_nlink);
    int fd = T(open("m/one", O_RDONLY));
    char line[128] = {0};
    T(read(fd, line, sizeof line - 1));
    printf("%s", line);
    T(read(fd, line, sizeof line - 1));
    close(fd);
    T(unlink("m/two"));
    list("m");
    T(mq_open("/two", O_RDWR));
    T(mq_close(two));

    pid_t child = fork();
    if (child == 0) {
        T(setresgid(NOBODY, NOBODY, NOBODY));
        T(setresuid(NOBODY, NOBODY, NOBODY));
        T(mq_open("/three", O_CREAT | O_RDWR, 0600, NULL));
        T(set_sysctl("queues_max", "5"));
        T(unlink("m/one"));
        T(mq_unlink("/one"));
        _exit(0);
    }
    waitpid(child, NULL, 0);

    T(unshare(CLONE_NEWIPC));
    show_sysctls();
    T(mq_open("/one", O_RDWR));
    T(umount("m"));
    T(rmdir("m"));
    T(mq_close(q));
    return 0;
}
