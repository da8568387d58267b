/* statfs, sysinfo, getrusage, times, the sched_* calls, get/setpriority, getcpu and
 * prctl: results, errno names and relations between values, never host values. */
#include "check.h"
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/wait.h>

static volatile unsigned long sink;

static void burn(void)
{
    for (unsigned long i = 0; i < 3000000; i++)
        sink += i;
}

int main(void)
{
    /* statfs */
    struct statfs sf, sf2;
    T(statfs(".", &sf));
    printf("statfs: bsize>0 %d blocks>=bfree %d bfree>=bavail %d namelen %ld\n",
           sf.f_bsize > 0, sf.f_blocks >= sf.f_bfree, sf.f_bfree >= sf.f_bavail,
           (long)sf.f_namelen);
    int fd = open(".", O_RDONLY | O_DIRECTORY);
    T(fstatfs(fd, &sf2));
    printf("fstatfs same type %d\n", sf.f_type == sf2.f_type);
    T(statfs("missing", &sf));
    T(statfs(".", BAD_POINTER));
    T(fstatfs(99, &sf));
    int pfd[2];
    pipe(pfd);
    T(fstatfs(pfd[0], &sf));
    printf("pipefs %d\n", sf.f_type == 0x50495045);
    T(statfs("/proc", &sf));
    printf("procfs %d\n", sf.f_type == 0x9fa0);

    /* sysinfo */
    struct sysinfo si;
    T(sysinfo(&si));
    printf("sysinfo: totalram>0 %d free<=total %d procs>=1 %d mem_unit %u\n",
           si.totalram > 0, si.freeram <= si.totalram, si.procs >= 1, si.mem_unit);
    T(sysinfo(BAD_POINTER));

    /* getrusage and times */
    struct rusage ru, ru2;
    burn();
    T(getrusage(RUSAGE_SELF, &ru));
    burn();
    T(getrusage(RUSAGE_SELF, &ru2));
    long t1 = ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec;
    long t2 = ru2.ru_utime.tv_sec * 1000000L + ru2.ru_utime.tv_usec;
    printf("utime monotonic %d usec<1e6 %d maxrss>0 %d\n", t2 >= t1,
           ru2.ru_utime.tv_usec < 1000000, ru2.ru_maxrss > 0);
    T(getrusage(RUSAGE_THREAD, &ru));
    T(getrusage(RUSAGE_CHILDREN, &ru));
    printf("children before: %ld %ld\n", (long)ru.ru_utime.tv_sec, (long)ru.ru_stime.tv_sec);
    T(getrusage(5, &ru));
    T(getrusage(RUSAGE_SELF, BAD_POINTER));
    struct tms tm1, tm2;
    clock_t c1 = times(&tm1);
    pid_t child = fork();
    if (child == 0) {
        burn();
        _exit(3);
    }
    int status;
    waitpid(child, &status, 0);
    clock_t c2 = times(&tm2);
    printf("times: clock monotonic %d cutime>=0 %d utime monotonic %d\n", c2 >= c1,
           tm2.tms_cutime >= 0, tm2.tms_utime >= tm1.tms_utime);
    T(getrusage(RUSAGE_CHILDREN, &ru));
    printf("children utime>=0 %d\n", ru.ru_utime.tv_sec >= 0);
    printf("times(NULL) ok %d\n", times(NULL) != (clock_t)-1);

    /* scheduler calls */
    cpu_set_t set;
    CPU_ZERO(&set);
    T(sched_getaffinity(0, sizeof set, &set));
    printf("cpus>=1 %d\n", CPU_COUNT(&set) >= 1);
    T(syscall(SYS_sched_getaffinity, 0, 0, &set));
    T(syscall(SYS_sched_getaffinity, 0, 4, &set));
    T(sched_getaffinity(0, sizeof set, BAD_POINTER));
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    T(sched_setaffinity(0, sizeof one, &one));
    CPU_ZERO(&one);
    T(sched_setaffinity(0, sizeof one, &one));
    T(sched_getscheduler(0));
    struct sched_param sp = {0};
    T(sched_getparam(0, &sp));
    printf("priority %d\n", sp.sched_priority);
    T(sched_getparam(0, NULL));
    T(sched_setscheduler(0, SCHED_OTHER, &sp));
    T(sched_setscheduler(0, SCHED_BATCH, &sp));
    T(sched_getscheduler(0));
    T(sched_setscheduler(0, SCHED_OTHER, &sp));
    sp.sched_priority = 5;
    T(sched_setscheduler(0, SCHED_OTHER, &sp));
    T(sched_setscheduler(0, 77, &sp));
    T(sched_setscheduler(0, SCHED_OTHER, NULL));
    T(sched_setparam(0, &sp));
    T(sched_getscheduler(-1));
    T(sched_get_priority_max(SCHED_FIFO));
    T(sched_get_priority_min(SCHED_FIFO));
    T(sched_get_priority_max(SCHED_RR));
    T(sched_get_priority_max(SCHED_OTHER));
    T(sched_get_priority_min(SCHED_BATCH));
    T(sched_get_priority_max(42));
    T(sched_yield());
    T(sched_getscheduler(child));  /* reaped: gone */

    /* nice values */
    errno = 0;
    T(getpriority(PRIO_PROCESS, 0));
    T(setpriority(PRIO_PROCESS, 0, 5));
    T(getpriority(PRIO_PROCESS, 0));
    T(setpriority(PRIO_PROCESS, 0, 100));
    T(getpriority(PRIO_PROCESS, 0));
    T(setpriority(PRIO_PROCESS, 0, 0));
    T(getpriority(PRIO_PGRP, 0));
    T(getpriority(7, 0));
    T(setpriority(7, 0, 0));
    T(getpriority(PRIO_PROCESS, child));
    T(setpriority(PRIO_PROCESS, child, 1));
    T(nice(2));

    /* getcpu */
    unsigned cpu = 99, node = 99;
    T(getcpu(&cpu, &node));
    printf("cpu<1024 %d\n", cpu < 1024);

    /* prctl */
    char name[32] = {0};
    T(prctl(PR_SET_NAME, "a-rather-long-thread-name", 0, 0, 0));
    T(prctl(PR_GET_NAME, name, 0, 0, 0));
    printf("name [%s]\n", name);
    T(prctl(PR_SET_NAME, "short", 0, 0, 0));
    T(prctl(PR_GET_NAME, name, 0, 0, 0));
    printf("name [%s]\n", name);
    int sig = -1;
    T(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
    printf("pdeathsig %d\n", sig);
    T(prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0));
    T(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
    printf("pdeathsig %d\n", sig);
    T(prctl(PR_SET_PDEATHSIG, 99, 0, 0, 0));
    T(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    T(prctl(PR_SET_DUMPABLE, 2, 0, 0, 0));
    T(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    T(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    T(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    T(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    T(prctl(PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0));
    T(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    T(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    T(prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0));
    T(prctl(12345, 0, 0, 0, 0));
    return 0;
}
