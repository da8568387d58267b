/* A victim and an attacker in two coffers on one network.
 *
 *   timewarp victim PORT            accept one connection on TCP PORT, then read
 *                                   every clock, stat a new file and call sysinfo;
 *                                   print what it saw and exit 0
 *   timewarp attacker ADDR PORT forever
 *                                   nanosleep({INT64_MAX, 999999999}) (Linux: for
 *                                   ever), then connect to ADDR:PORT
 *   timewarp attacker ADDR PORT latest
 *                                   sleep until just before KTIME_MAX, the latest
 *                                   time a timer can fire, then connect */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define KTIME_SEC_MAX 9223372036LL

static int victim(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(s, (struct sockaddr *)&any, sizeof any) || listen(s, 1))
        return 1;
    int c = accept(s, NULL, NULL);
    char byte;
    read(c, &byte, 1);
    struct timespec mono, real;
    struct timeval wall;
    int ok = clock_gettime(CLOCK_MONOTONIC, &mono) == 0 && clock_gettime(CLOCK_REALTIME, &real) == 0
             && gettimeofday(&wall, NULL) == 0;
    printf("victim: clocks %s, monotonic %s\n", ok ? "read" : "failed",
           mono.tv_sec >= KTIME_SEC_MAX - 10 ? "near KTIME_MAX" : "ordinary");
    int fd = open("/tmp/stamp", O_CREAT | O_WRONLY, 0644);
    struct stat st;
    struct statx stx;
    struct sysinfo si;
    int stat_result = fstat(fd, &st);
    int statx_result = statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx);
    int sysinfo_result = sysinfo(&si);
    printf("victim: fstat %d, statx %d, sysinfo %d, mtime after boot %d\n", stat_result,
           statx_result, sysinfo_result, st.st_mtim.tv_sec > mono.tv_sec);
    return 0;
}

static int attacker(const char *addr, int port, const char *mode) {
    if (strcmp(mode, "forever") == 0) {
        struct timespec huge = {INT64_MAX, 999999999};
        syscall(SYS_nanosleep, &huge, NULL);
    } else {
        struct timespec latest = {KTIME_SEC_MAX - 1, 0};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &latest, NULL);
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, addr, &to.sin_addr);
    if (connect(s, (struct sockaddr *)&to, sizeof to))
        return 1;
    write(s, "!", 1);
    printf("attacker: connected\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "victim") == 0)
        return victim(atoi(argv[2]));
    if (argc == 5 && strcmp(argv[1], "attacker") == 0)
        return attacker(argv[2], atoi(argv[3]), argv[4]);
    return 2;
}
