/* A robust mutex whose owner execs another program while holding it: execve walks
 * the old program's robust list (exec_mm_release), so the waiter gets EOWNERDEAD.
 * argv[1] is the path of this program where it runs (the host's or the coffer's). */
#include "check.h"
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc > 2)  /* the exec'd program: the old one's lock is now owner-dead */
        return 0;
    pthread_mutex_t *m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    volatile int *locked = (volatile int *)(m + 1);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(m, &attr);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        pthread_mutex_lock(m);
        *locked = 1;
        execl(argv[1], argv[1], argv[1], "exec'd", (char *)0);
        _exit(127);
    }
    while (!*locked)
        sched_yield();
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    int rc = pthread_mutex_timedlock(m, &deadline);
    printf("lock after the owner's exec: %s\n", rc == EOWNERDEAD ? "EOWNERDEAD" : strerrorname_np(rc));
    int status;
    waitpid(child, &status, 0);
    printf("exec'd program exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
