/* What test suites read from /proc/sys and /proc/config.gz, uname, personality(2) and
 * the refused clock_settime/settimeofday: every line the same natively and in a coffer.
 * The /proc/sys values printed are Linux's defaults; the others are printed as
 * relations (a UUID's form, two reads equal or not). The clock calls run with
 * CAP_SYS_TIME dropped, so natively as root they fail as they must and never set the
 * host's clock. Cleans up after itself. */
#include "check.h"
#include <linux/capability.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#define NR_OPEN_DEFAULT 1048576

static int slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    if (n > 0 && buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    return n < 0 ? -errno : (int)n;
}

static void show_sysctl(const char *name)
{
    char path[128], buf[256];
    snprintf(path, sizeof path, "/proc/sys/%s", name);
    int n = slurp(path, buf, sizeof buf);
    if (n < 0)
        printf("%s: %s\n", name, strerrorname_np(-n));
    else
        printf("%s = %s\n", name, buf);
}

static int is_uuid4(const char *s)
{
    if (strlen(s) != 36 || s[14] != '4' || !strchr("89ab", s[19]))
        return 0;
    for (int i = 0; i < 36; i++)
        if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return 0;
    return 1;
}

static void uuids(void)
{
    char a[64], b[64];
    slurp("/proc/sys/kernel/random/boot_id", a, sizeof a);
    slurp("/proc/sys/kernel/random/boot_id", b, sizeof b);
    printf("boot_id uuid4 %d, stable %d\n", is_uuid4(a), !strcmp(a, b));
    slurp("/proc/sys/kernel/random/uuid", a, sizeof a);
    slurp("/proc/sys/kernel/random/uuid", b, sizeof b);
    printf("uuid uuid4 %d %d, fresh %d\n", is_uuid4(a), is_uuid4(b), strcmp(a, b) != 0);
}

static void release(void)
{
    struct utsname u;
    char osrelease[128], version[512];
    T(uname(&u));
    slurp("/proc/sys/kernel/osrelease", osrelease, sizeof osrelease);
    slurp("/proc/version", version, sizeof version);
    printf("uname release = osrelease %d, in /proc/version %d\n", !strcmp(u.release, osrelease),
           strstr(version, u.release) != NULL);
    printf("sysname %s machine %s\n", u.sysname, u.machine);
    unsigned char magic[2] = {0, 0};
    int fd = open("/proc/config.gz", O_RDONLY);
    printf("config.gz open %d, gzip %d\n", fd >= 0,
           fd >= 0 && read(fd, magic, 2) == 2 && magic[0] == 0x1f && magic[1] == 0x8b);
    if (fd >= 0)
        close(fd);
}

static void nofile(void)
{
    struct rlimit old, big;
    T(getrlimit(RLIMIT_NOFILE, &old));
    big.rlim_cur = old.rlim_cur;
    big.rlim_max = NR_OPEN_DEFAULT + 1;
    T(setrlimit(RLIMIT_NOFILE, &big));
    T(setrlimit(RLIMIT_NOFILE, &old));
}

static void copy_self(const char *path)
{
    char buf[65536];
    int in = open("/proc/self/exe", O_RDONLY), out = open(path, O_CREAT | O_WRONLY, 0700);
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n)
            break;
    close(in);
    close(out);
}

static void in_child(const char *what, int exec)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (exec) {
            char *argv[] = {"./pers", "personality", NULL};
            execve("./pers", argv, NULL);
            printf("execve -1 %s\n", strerrorname_np(errno));
            fflush(stdout);
            _exit(1);
        }
        printf("%s: personality %#x\n", what, personality(0xffffffff));
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
}

static void personalities(void)
{
    printf("query %#x\n", personality(0xffffffff));
    printf("set ADDR_NO_RANDOMIZE: old %#x\n", personality(PER_LINUX | ADDR_NO_RANDOMIZE));
    printf("query %#x\n", personality(0xffffffff));
    in_child("fork", 0);
    copy_self("./pers");
    in_child("exec", 1);
    printf("set READ_IMPLIES_EXEC: old %#x\n",
           personality(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC));
    in_child("exec", 1);
    T(unlink("./pers"));
    printf("back to PER_LINUX: old %#x\n", personality(PER_LINUX));
    printf("query %#x\n", personality(0xffffffff));
}

static void drop_sys_time(void)
{
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &head, data))
        exit(2);
    data[0].effective &= ~(1u << CAP_SYS_TIME);
    data[0].permitted &= ~(1u << CAP_SYS_TIME);
    if (syscall(SYS_capset, &head, data))
        exit(2);
    if (syscall(SYS_capget, &head, data) || data[0].effective & (1u << CAP_SYS_TIME))
        exit(2); /* never go on holding CAP_SYS_TIME natively */
}

static void clocks(void)
{
    struct timespec now, bad = {0, 1000000000L};
    struct timeval tv;
    struct timezone tz = {15 * 60 + 1, 0};
    drop_sys_time();
    T(clock_gettime(CLOCK_REALTIME, &now));
    T(clock_settime(CLOCK_REALTIME, &now));
    T(clock_settime(CLOCK_MONOTONIC, &now));
    T(clock_settime(CLOCK_PROCESS_CPUTIME_ID, &now));
    T(clock_settime(12345, &now));
    T(syscall(SYS_clock_settime, CLOCK_REALTIME, BAD_POINTER));
    T(clock_settime(CLOCK_REALTIME, &bad));
    T(gettimeofday(&tv, NULL));
    T(settimeofday(&tv, NULL));
    T(settimeofday(&tv, &tz));
    tv.tv_usec = 1000000;
    T(settimeofday(&tv, NULL));
    T(syscall(SYS_settimeofday, BAD_POINTER, NULL));
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "personality")) {
        printf("after exec: personality %#x\n", personality(0xffffffff));
        return 0;
    }
    const char *names[] = {"kernel/ostype", "kernel/tainted", "kernel/ngroups_max",
                           "kernel/shmmni", "fs/nr_open", "fs/pipe-max-size",
                           "vm/max_map_count", "net/core/somaxconn"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        show_sysctl(names[i]);
    uuids();
    release();
    nofile();
    personalities();
    clocks();
    return 0;
}
