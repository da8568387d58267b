/* A forked worker waits, spinning with sched_yield, for a flag its parent sets in
 * a MAP_SHARED|MAP_ANONYMOUS page; then answers through the same page. A bounded
 * wait: the worker gives up (and says so) rather than hang when nothing is shared. */
#include "check.h"
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define SPIN_LIMIT 20000

int main(void)
{
    volatile int *flags = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    fflush(stdout);
    pid_t worker = fork();
    if (worker == 0) {
        long spins = 0;
        while (!flags[0] && spins < SPIN_LIMIT) {
            sched_yield();
            spins++;
        }
        printf("worker: %s\n", flags[0] ? "saw the flag" : "gave up waiting");
        fflush(stdout);
        flags[1] = flags[0] * 2;
        _exit(0);
    }
    flags[0] = 21;
    int status;
    waitpid(worker, &status, 0);
    printf("parent: worker answered %d\n", flags[1]);
    /* A private mapping stays private across fork. */
    int *private = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    private[0] = 1;
    fflush(stdout);
    if (fork() == 0) {
        private[0] = 2;
        _exit(0);
    }
    wait(&status);
    printf("private after child's store: %d\n", private[0]);
    return 0;
}
