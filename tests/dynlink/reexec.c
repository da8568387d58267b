/* A program that re-executes itself, as test harnesses, Go programs and busybox do:
 * through argv[0] (execv) and through /proc/self/exe, each in a forked child that
 * reports how it was started and exits with its own status. Prints the same in a
 * coffer as natively. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void reexec(const char *label, const char *path, char *argv0) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = {argv0, "child", (char *)label, NULL};
        execv(path, args);
        printf("%s: execv failed: %s\n", label, strerror(errno));
        fflush(stdout);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("%s: child exited %d\n", label, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "child") == 0) {
        printf("child started by %s\n", argv[2]);
        return 42;
    }
    reexec("argv0", argv[0], argv[0]);
    reexec("proc-self-exe", "/proc/self/exe", argv[0]);
    return 0;
}
