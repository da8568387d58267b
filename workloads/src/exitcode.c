/* exitcode: ends with the status given as argv[1] (default 3).
 *
 * For tests of exit_group and of how a simulator reports a guest's status.
 * The status is passed to exit() unchanged; the kernel keeps its low 8 bits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_STATUS 3

int main(int argc, char **argv)
{
    int status = DEFAULT_STATUS;
    if (argc >= 2) {
        char *end;
        errno = 0;
        long value = strtol(argv[1], &end, 10);
        if (errno != 0 || *end != '\0' || end == argv[1]) {
            fprintf(stderr, "usage: %s [status]\n", argv[0]);
            return 2;
        }
        status = (int)value;
    }
    printf("exitcode: exiting with %d\n", status);
    exit(status);
}
