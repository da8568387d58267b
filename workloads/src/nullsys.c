/* nullsys: the cost of a system call that does nothing.
 *
 * Calls getppid N times (argv[1], default 100000) through syscall(2), so that
 * neither libc caches the answer, and prints how many calls were made. The
 * parent's pid itself is not printed: it differs between a native run and a
 * simulated one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEFAULT_CALLS 100000L

static long parse_count(int argc, char **argv, long fallback)
{
    if (argc < 2)
        return fallback;
    char *end;
    errno = 0;
    long value = strtol(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || end == argv[1] || value < 0) {
        fprintf(stderr, "usage: %s [calls]\n", argv[0]);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv)
{
    long calls = parse_count(argc, argv, DEFAULT_CALLS);
    long done = 0;

    for (long i = 0; i < calls; i++) {
        if (syscall(SYS_getppid) < 0) {
            perror("getppid");
            return 1;
        }
        done++;
    }
    printf("nullsys: %ld getppid calls\n", done);
    return 0;
}
