/* Values only a coffer can predict (its memory limit, its clock, its devices):
 * printed raw, checked by tests/test_syscalls_misc.py against the configuration. */
#include "check.h"
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>

static volatile unsigned long sink;

int main(void)
{
    struct statfs sf;
    statfs("/tmp", &sf);
    printf("f_type %lx f_bsize %ld f_blocks %lu f_namelen %ld\n", (unsigned long)sf.f_type,
           (long)sf.f_bsize, (unsigned long)sf.f_blocks, (long)sf.f_namelen);
    struct sysinfo si;
    sysinfo(&si);
    printf("totalram %lu mem_unit %u procs %u\n", si.totalram, si.mem_unit, si.procs);
    pid_t child = fork();
    if (child == 0) {
        for (unsigned long i = 0; i < 2000000; i++)
            sink += i;
        for (int i = 0; i < 5000; i++)
            syscall(SYS_getppid);  /* system time */
        _exit(0);
    }
    waitpid(child, NULL, 0);
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("children utime_us %ld stime_us %ld\n",
           ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
           ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec);
    getrusage(RUSAGE_SELF, &ru);
    printf("self utime_us %ld\n", ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec);
    T(mknod("/tmp/unknown-device", S_IFCHR | 0600, makedev(42, 42)));
    T(mknod("/tmp/block-device", S_IFBLK | 0600, makedev(8, 0)));
    return 0;
}
