/* What only a coffer can promise: a load average of 0 on an idle coffer (it slept
 * for a minute and ran almost nothing), in /proc/loadavg and sysinfo alike, and a
 * root that holds CAP_SYS_TIME still refused the clock (EPERM, as a container's root). */
#include "check.h"
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <time.h>

int main(void)
{
    char buf[128];
    struct sysinfo info;
    struct timespec now;
    struct timeval tv;
    sleep(60);
    int fd = open("/proc/loadavg", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    printf("loadavg %s", buf);
    T(sysinfo(&info));
    printf("sysinfo loads %lu %lu %lu\n", info.loads[0], info.loads[1], info.loads[2]);
    T(clock_gettime(CLOCK_REALTIME, &now));
    T(clock_settime(CLOCK_REALTIME, &now));
    T(gettimeofday(&tv, NULL));
    T(settimeofday(&tv, NULL));
    T(syscall(SYS_settimeofday, NULL, NULL));
    return 0;
}
