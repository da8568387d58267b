/* observer: what one container can see of the kernel it runs on, one labelled line each.
 *
 * usage: observer [DATAFILE [DELAY_US [STAT_LOOPS]]]
 *        DATAFILE default /data/pages.bin, DELAY_US default 2000, STAT_LOOPS default 200
 *
 * The observer half of the differential information-flow check
 * (cofferos.sim.isolation.infoflow): it sleeps DELAY_US so that a neighbour has
 * done whatever it does, then prints one line "LABEL VALUE" per observable:
 *
 *   loadavg                 the line of /proc/loadavg
 *   meminfo.MemFree         /proc/meminfo MemFree and MemAvailable (kB)
 *   meminfo.MemAvailable
 *   stat.procs_running      /proc/stat procs_running and processes
 *   stat.processes
 *   sysinfo.procs           sysinfo(2): tasks, free RAM, 1-minute load
 *   sysinfo.freeram
 *   sysinfo.loads0
 *   fork.child_pid          the pid fork(2) gave a child that exits at once
 *   pagecache.read_ns       CLOCK_MONOTONIC ns to read DATAFILE whole (first read)
 *   clock.stat_loop_ns      CLOCK_MONOTONIC ns for STAT_LOOPS stat("/tmp") calls (read
 *                           after a sched_yield, so that a simulator that replays a
 *                           slice's lock waits at its end has counted them)
 *
 * Labels ending in _ns are timings. The program does the same calls in the same
 * order whatever it reads, so two runs can be compared call by call. Natively a
 * missing file prints -1 for its value and nothing else changes.
 */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DATA "/data/pages.bin"
#define DEFAULT_DELAY_US 2000L
#define DEFAULT_STAT_LOOPS 200L
#define NS_PER_US 1000L
#define NS_PER_S 1000000000L
#define BUF_SIZE 8192
#define READ_CHUNK 4096

static char buf[BUF_SIZE];

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* The contents of a (small) file into buf, NUL-terminated; -1 if it cannot be read. */
static long slurp(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        buf[0] = '\0';
        return -1;
    }
    long total = 0, n;
    while (total < BUF_SIZE - 1 && (n = read(fd, buf + total, BUF_SIZE - 1 - total)) > 0)
        total += n;
    close(fd);
    buf[total] = '\0';
    return total;
}

/* The number after "KEY" (a line start) in buf, or -1. */
static long field(const char *key) {
    size_t len = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : 0)
        if (strncmp(line, key, len) == 0)
            return strtol(line + len, 0, 10);
    return -1;
}

int main(int argc, char **argv) {
    const char *data = argc > 1 ? argv[1] : DEFAULT_DATA;
    long delay_us = argc > 2 ? atol(argv[2]) : DEFAULT_DELAY_US;
    long loops = argc > 3 ? atol(argv[3]) : DEFAULT_STAT_LOOPS;
    struct timespec delay = {delay_us * NS_PER_US / NS_PER_S, delay_us * NS_PER_US % NS_PER_S};
    nanosleep(&delay, 0);

    slurp("/proc/loadavg");
    char *end = strchr(buf, '\n');
    if (end)
        *end = '\0';
    printf("loadavg %s\n", buf[0] ? buf : "-1");
    slurp("/proc/meminfo");
    printf("meminfo.MemFree %ld\n", field("MemFree:"));
    printf("meminfo.MemAvailable %ld\n", field("MemAvailable:"));
    slurp("/proc/stat");
    printf("stat.procs_running %ld\n", field("procs_running "));
    printf("stat.processes %ld\n", field("processes "));

    struct sysinfo info;
    memset(&info, 0, sizeof info);
    sysinfo(&info);
    printf("sysinfo.procs %u\n", (unsigned)info.procs);
    printf("sysinfo.freeram %lu\n", (unsigned long)info.freeram * info.mem_unit);
    printf("sysinfo.loads0 %lu\n", (unsigned long)info.loads[0]);

    fflush(stdout);
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    int status = 0;
    if (child > 0)
        waitpid(child, &status, 0);
    printf("fork.child_pid %ld\n", (long)child);

    long long start = now_ns();
    int fd = open(data, O_RDONLY);
    long got = -1;
    if (fd >= 0) {
        char chunk[READ_CHUNK];
        long n;
        got = 0;
        while ((n = read(fd, chunk, sizeof chunk)) > 0)
            got += n;
        close(fd);
    }
    long long read_ns = now_ns() - start;
    printf("pagecache.read_ns %lld\n", fd >= 0 ? read_ns : -1LL);
    printf("pagecache.bytes %ld\n", got);

    struct stat st;
    start = now_ns();
    for (long i = 0; i < loops; i++)
        stat("/tmp", &st);
    sched_yield(); /* end the slice: a simulator replays its lock waits before the next */
    printf("clock.stat_loop_ns %lld\n", now_ns() - start);
    return 0;
}
