/* threads: N threads alive at once, then joined.
 *
 * Each thread's stack is a mapping with a PROT_NONE guard page below it; every
 * worker blocks on a mutex the main thread holds until all N exist, so all N
 * stacks (and guards) are mapped at the same time. The sum of the values the
 * workers return shows each one ran.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define SMALL_STACK 16384

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    return arg;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    pthread_t *ids = calloc(n, sizeof *ids);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, SMALL_STACK);
    pthread_mutex_lock(&gate);
    for (long i = 0; i < n; i++)
        if (pthread_create(&ids[i], &attr, worker, (void *)i)) return 1;
    pthread_mutex_unlock(&gate);
    long sum = 0;
    for (int i = 0; i < n; i++) {
        void *value;
        pthread_join(ids[i], &value);
        sum += (long)value;
    }
    printf("%d threads, sum %ld\n", n, sum);
    return 0;
}
