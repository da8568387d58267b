/* nproc_test: the guest that lab 1's grader runs (coffersim lab check 1 DIR).
 *
 * It calls the new system call nproc (number 1001) three times: with three
 * children alive, with an unknown flag, and after the children have been
 * reaped, and prints each answer. A kernel without the call answers ENOSYS.
 * Build and try it yourself: gcc -static -O2 -o nproc_test nproc_test.c
 */
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SYS_NPROC 1001
#define CHILDREN 3
#define UNKNOWN_FLAG 1

static void report(const char *what, long value) {
    if (value >= 0) {
        printf("%s: %ld\n", what, value);
    } else if (errno == ENOSYS) {
        printf("%s: ENOSYS\n", what);
    } else if (errno == EINVAL) {
        printf("%s: EINVAL\n", what);
    } else {
        printf("%s: errno %d\n", what, errno);
    }
}

int main(void) {
    int gate[2];
    char byte;
    if (pipe(gate) != 0) {
        perror("pipe");
        return 1;
    }
    for (int i = 0; i < CHILDREN; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {  /* wait for the parent to close the gate's write end */
            close(gate[1]);
            while (read(gate[0], &byte, 1) > 0) {
            }
            _exit(0);
        }
    }
    close(gate[0]);
    report("nproc with 3 children", syscall(SYS_NPROC, 0));
    report("nproc with an unknown flag", syscall(SYS_NPROC, UNKNOWN_FLAG));
    close(gate[1]);
    for (int i = 0; i < CHILDREN; i++) {
        wait(NULL);
    }
    report("nproc after wait", syscall(SYS_NPROC, 0));
    return 0;
}
