/* forkseq: fork N children one after another, each counting briefly and exiting,
 * and reap each before the next; then say how many.
 *
 * The simulator gives each child an engine wiped from its pool: what the engine
 * holds of the host must not grow with the children it ran before
 * (tests/test_hardening_memory.py measures its translated code).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            volatile int x = 0;
            for (int j = 0; j < 1000; j++)
                x += j;
            _exit(x & 1);
        }
        if (pid < 0 || waitpid(pid, NULL, 0) != pid)
            return 1;
    }
    printf("done %d\n", n);
    return 0;
}
