/* count_test: the guest that lab 2's grader runs (coffersim lab check 2 DIR).
 *
 * It makes calls a counting personality should see, with known outcomes:
 * getppid N times (N = argv[1], default 5), three opens of a missing file
 * (ENOENT), a child that it waits for (wait4 blocks until the child exits),
 * and one line of output.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAILED_OPENS 3

int main(int argc, char **argv) {
    int calls = argc > 1 ? atoi(argv[1]) : 5;
    int failed = 0;
    for (int i = 0; i < calls; i++) {
        getppid();
    }
    for (int i = 0; i < FAILED_OPENS; i++) {
        if (open("/no/such/file", O_RDONLY) < 0) {
            failed++;
        }
    }
    pid_t child = fork();
    if (child == 0) {
        _exit(7);
    }
    int status = 0;
    waitpid(child, &status, 0);
    printf("getppid x%d, %d failed opens, child status %d\n", calls, failed,
           WEXITSTATUS(status));
    return 0;
}
