/* A counter in a MAP_SHARED|MAP_ANONYMOUS page, guarded by a process-shared
 * pthread mutex, incremented by forked children; then a robust mutex whose owner
 * dies holding it: the next locker gets EOWNERDEAD (the kernel's robust-list walk). */
#include "check.h"
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define CHILDREN 4
#define ROUNDS 500

struct shared {
    pthread_mutex_t lock;
    pthread_mutex_t robust;
    long counter;
    int children_seen;
};

int main(void)
{
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return 1;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&s->lock, &attr);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&s->robust, &attr);

    for (int i = 0; i < CHILDREN; i++) {
        fflush(stdout);
        if (fork() == 0) {
            for (int r = 0; r < ROUNDS; r++) {
                pthread_mutex_lock(&s->lock);
                long v = s->counter;
                if (r % 50 == 0)
                    sched_yield();  /* let the others contend for the lock */
                s->counter = v + 1;
                pthread_mutex_unlock(&s->lock);
            }
            pthread_mutex_lock(&s->lock);
            s->children_seen++;
            pthread_mutex_unlock(&s->lock);
            _exit(0);
        }
    }
    int status, clean = 0;
    for (int i = 0; i < CHILDREN; i++)
        if (wait(&status) > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            clean++;
    printf("children exited cleanly: %d\n", clean);
    printf("counter = %ld (expected %d)\n", s->counter, CHILDREN * ROUNDS);
    printf("children_seen = %d\n", s->children_seen);

    fflush(stdout);
    pid_t owner = fork();
    if (owner == 0) {
        pthread_mutex_lock(&s->robust);
        _exit(0);  /* dies holding it */
    }
    waitpid(owner, &status, 0);
    int rc = pthread_mutex_lock(&s->robust);
    printf("lock after owner died: %s\n", rc == EOWNERDEAD ? "EOWNERDEAD" : strerror(rc));
    if (rc == EOWNERDEAD)
        printf("consistent = %d\n", pthread_mutex_consistent(&s->robust));
    printf("unlock = %d\n", pthread_mutex_unlock(&s->robust));
    printf("relock = %d\n", pthread_mutex_lock(&s->robust));
    return 0;
}
