/* Time namespaces, natively as root and in a coffer. unshare(CLONE_NEWTIME) puts the
 * caller's next children in a new time namespace (time_for_children), whose
 * CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets /proc/PID/timens_offsets sets until a
 * process enters it (then EACCES); bad clocks and nanoseconds are EINVAL, a clock
 * that would go negative ERANGE. A child sees its clocks ahead by the offsets (and
 * /proc/uptime by boottime's), CLOCK_REALTIME unchanged, and its absolute sleeps
 * and timerfds on CLOCK_MONOTONIC end when its own clock says so. nobody needs a
 * user namespace of its own; setns joins a time namespace at once. */
#include "check.h"
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#define DAY 86400L
#define MSEC 1000000L
#define HOUR 3600L

static void say(const char *what, long result)
{
    printf("%s: %s\n", what, result < 0 ? strerrorname_np(errno) : "ok");
}

static long now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec;
}

static long long now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void show_offsets(const char *who, pid_t pid)
{
    char path[64], buf[256] = "";
    snprintf(path, sizeof path, "/proc/%d/timens_offsets", (int)pid);
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    printf("%s offsets:\n%s", who, buf);
}

static long set_offsets(pid_t pid, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/timens_offsets", (int)pid);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    long rc = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static ino_t ns_ino(const char *name)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/self/ns/%s", name);
    return stat(path, &st) ? 0 : st.st_ino;
}

static long raw0;

static void in_the_namespace(long mono0, long boot0, long real0)
{
    printf("child: time is the parent's time_for_children %d\n", 1);
    printf("child: monotonic ahead a day %d, boottime two days %d, realtime not %d\n",
           now_s(CLOCK_MONOTONIC) - mono0 >= DAY && now_s(CLOCK_MONOTONIC) - mono0 < DAY + HOUR,
           now_s(CLOCK_BOOTTIME) - boot0 >= 2 * DAY,
           now_s(CLOCK_REALTIME) - real0 < HOUR);
    printf("child: coarse and raw monotonic ahead too %d %d\n",
           now_s(CLOCK_MONOTONIC_COARSE) - mono0 >= DAY, now_s(CLOCK_MONOTONIC_RAW) - raw0 >= DAY);
    FILE *uptime = fopen("/proc/uptime", "r");
    double up = 0;
    fscanf(uptime, "%lf", &up);
    fclose(uptime);
    printf("child: uptime at least two days %d\n", up >= 2 * DAY);
    long long start = now_ns(CLOCK_REALTIME);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 10 * MSEC;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    say("child: absolute clock_nanosleep", -clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
                                                             &until, NULL));
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec when = {{0, 0}, until};
    when.it_value.tv_nsec += 10 * MSEC;
    if (when.it_value.tv_nsec >= 1000000000L) {
        when.it_value.tv_sec++;
        when.it_value.tv_nsec -= 1000000000L;
    }
    say("child: absolute timerfd", timerfd_settime(tfd, TFD_TIMER_ABSTIME, &when, NULL));
    unsigned long long ticks = 0;
    read(tfd, &ticks, sizeof ticks);
    printf("child: timerfd fired %llu, both within a second %d\n", ticks,
           now_ns(CLOCK_REALTIME) - start < 1000 * MSEC);
    say("child: set offsets of its own namespace", set_offsets(getpid(), "monotonic 1 0"));
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    long mono0 = now_s(CLOCK_MONOTONIC), boot0 = now_s(CLOCK_BOOTTIME);
    long real0 = now_s(CLOCK_REALTIME);
    raw0 = now_s(CLOCK_MONOTONIC_RAW);
    show_offsets("initial", getpid());
    T(unshare(CLONE_NEWTIME));
    printf("time and time_for_children differ %d\n", ns_ino("time") != ns_ino("time_for_children"));
    show_offsets("new", getpid());
    say("set a realtime offset", set_offsets(getpid(), "realtime 1 0"));
    say("set a bad nanosecond", set_offsets(getpid(), "monotonic 1 1000000000"));
    say("set a negative clock", set_offsets(getpid(), "monotonic -1000000000 0"));
    say("set offsets", set_offsets(getpid(), "monotonic 86400 0\nboottime 172800 0\n"));
    say("set by number", set_offsets(getpid(), "1 86400 500"));
    show_offsets("set", getpid());
    printf("clock unchanged here %d\n", now_s(CLOCK_MONOTONIC) - mono0 < HOUR);
    ino_t children = ns_ino("time_for_children");
    pid_t pid = fork();
    if (pid == 0) {
        if (ns_ino("time") != children)
            printf("child: in another time namespace\n");
        in_the_namespace(mono0, boot0, real0);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", status);
    say("set offsets after a child entered", set_offsets(getpid(), "monotonic 5 0"));
    T(unshare(CLONE_NEWTIME));
    say("set offsets of a second new one", set_offsets(getpid(), "boottime 7 0"));
    show_offsets("second", getpid());

    pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
            _exit(1);
        say("nobody: unshare CLONE_NEWTIME", unshare(CLONE_NEWTIME));
        say("nobody: unshare CLONE_NEWUSER|CLONE_NEWTIME", unshare(CLONE_NEWUSER | CLONE_NEWTIME));
        say("nobody: set offsets", set_offsets(getpid(), "monotonic 3600 0"));
        _exit(0);
    }
    waitpid(pid, &status, 0);
    printf("nobody status %d\n", status);

    int fd = open("/proc/self/ns/time_for_children", O_RDONLY);
    say("setns time", setns(fd, CLONE_NEWTIME));
    printf("after setns: boottime ahead 7 s %d, time is time_for_children %d\n",
           now_s(CLOCK_BOOTTIME) - boot0 >= 7 && now_s(CLOCK_BOOTTIME) - boot0 < HOUR,
           ns_ino("time") == ns_ino("time_for_children"));
    return 0;
}
