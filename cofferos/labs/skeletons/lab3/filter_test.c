/* filter_test: the guest that lab 3's grader runs (coffersim lab check 3 DIR).
 *
 * It tries one call after another and prints "NAME: ok" or "NAME: ERRNO" for
 * each, so that a filter's effect shows line by line. "made exists" tells
 * whether the mkdir reached the kernel. getppid and getpid go through
 * syscall(2), which sets errno: the libc wrappers of calls that "cannot fail"
 * do not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static void report(const char *what, long value) {
    if (value >= 0) {
        printf("%s: ok\n", what);
    } else if (errno == EPERM) {
        printf("%s: EPERM\n", what);
    } else if (errno == EACCES) {
        printf("%s: EACCES\n", what);
    } else if (errno == ENOSYS) {
        printf("%s: ENOSYS\n", what);
    } else {
        printf("%s: errno %d\n", what, errno);
    }
    fflush(stdout);
}

int main(void) {
    struct utsname names;
    struct stat info;
    int fd;

    report("getppid", syscall(SYS_getppid));
    report("uname", uname(&names));
    fd = open("/tmp/probe", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    report("open-write", fd);
    if (fd >= 0) {
        close(fd);
    }
    fd = open("/tmp", O_RDONLY | O_DIRECTORY);
    report("open-read", fd);
    if (fd >= 0) {
        close(fd);
    }
    report("mkdir", mkdir("/tmp/made", 0755));
    printf("made exists: %s\n", stat("/tmp/made", &info) == 0 ? "yes" : "no");
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    report("socket", fd);
    if (fd >= 0) {
        close(fd);
    }
    report("getpid", syscall(SYS_getpid));
    printf("done\n");
    return 0;
}
