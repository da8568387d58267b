/* threads: POSIX threads sharing one address space.
 *
 * Kernel paths: clone(CLONE_VM|CLONE_THREAD|CLONE_SETTLS|CLONE_CHILD_CLEARTID
 * |CLONE_PARENT_SETTID) (or clone3), set_robust_list, the FS base of each
 * thread's TLS block, futex(FUTEX_WAIT/FUTEX_WAKE, private) behind contended
 * mutexes and condition variables, and the CLONE_CHILD_CLEARTID futex wake
 * that pthread_join waits on, then exit (one thread) vs exit_group.
 *
 *   1. N workers (argv[1], default 4) each add 1 to a shared counter
 *      INCREMENTS times under one mutex, yielding now and then so the lock is
 *      contended; each also counts in a __thread variable and checks that no
 *      other thread disturbed it. pthread_join collects each worker's return
 *      value, a function of its index.
 *   2. A producer thread hands M items (argv[2], default 1000) to a consumer
 *      thread through a bounded queue guarded by a mutex and two condition
 *      variables; the consumer checks the order and sums the items.
 *   3. The main thread's own __thread variable is checked last.
 *
 * Every printed line depends only on N and M: no thread ids, no timings, no
 * interleaving.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_WORKERS 4L
#define DEFAULT_ITEMS 1000L
#define MAX_WORKERS 64
#define INCREMENTS 10000
#define YIELD_EVERY 1000
#define QUEUE_SLOTS 8
#define MAIN_TLS_VALUE 7

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static __thread long tls_increments;
static __thread int tls_index = -1;

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    long items[QUEUE_SLOTS];
    int head, count;
    int closed;
};

static struct queue queue = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .not_empty = PTHREAD_COND_INITIALIZER,
    .not_full = PTHREAD_COND_INITIALIZER,
};

struct consumer_result {
    long received, sum;
    int in_order;
};

static long parse(const char *text, const char *prog, long max) {
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < 1 || value > max) {
        fprintf(stderr, "usage: %s [workers 1..%d] [items]\n", prog, MAX_WORKERS);
        exit(2);
    }
    return value;
}

/* A worker's value for pthread_join: distinct per index, easy to total. */
static long join_value(long index) { return index * index + 1; }

static void *worker(void *arg) {
    long index = (long)arg;
    tls_index = (int)index;
    for (int i = 0; i < INCREMENTS; i++) {
        pthread_mutex_lock(&counter_lock);
        counter++;
        pthread_mutex_unlock(&counter_lock);
        tls_increments++;
        if (i % YIELD_EVERY == 0)
            sched_yield();
    }
    /* Another thread writing our TLS would show up here. */
    if (tls_increments != INCREMENTS || tls_index != index)
        return (void *)-1L;
    return (void *)join_value(index);
}

static void *producer(void *arg) {
    long items = (long)arg;
    for (long item = 1; item <= items; item++) {
        pthread_mutex_lock(&queue.lock);
        while (queue.count == QUEUE_SLOTS)
            pthread_cond_wait(&queue.not_full, &queue.lock);
        queue.items[(queue.head + queue.count) % QUEUE_SLOTS] = item;
        queue.count++;
        pthread_cond_signal(&queue.not_empty);
        pthread_mutex_unlock(&queue.lock);
    }
    pthread_mutex_lock(&queue.lock);
    queue.closed = 1;
    pthread_cond_broadcast(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
    return NULL;
}

static void *consumer(void *arg) {
    struct consumer_result *result = arg;
    long expected = 1;
    result->in_order = 1;
    for (;;) {
        pthread_mutex_lock(&queue.lock);
        while (queue.count == 0 && !queue.closed)
            pthread_cond_wait(&queue.not_empty, &queue.lock);
        if (queue.count == 0) { /* closed and drained */
            pthread_mutex_unlock(&queue.lock);
            return result;
        }
        long item = queue.items[queue.head];
        queue.head = (queue.head + 1) % QUEUE_SLOTS;
        queue.count--;
        pthread_cond_signal(&queue.not_full);
        pthread_mutex_unlock(&queue.lock);
        result->in_order &= item == expected++;
        result->received++;
        result->sum += item;
    }
}

int main(int argc, char **argv) {
    long workers = argc > 1 ? parse(argv[1], argv[0], MAX_WORKERS) : DEFAULT_WORKERS;
    long items = argc > 2 ? parse(argv[2], argv[0], 100000000L) : DEFAULT_ITEMS;
    pthread_t threads[MAX_WORKERS];
    tls_index = MAIN_TLS_VALUE;

    for (long i = 0; i < workers; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)i) != 0) {
            perror("pthread_create");
            return 1;
        }
    long join_sum = 0, tls_ok = 0;
    printf("threads: join values");
    for (long i = 0; i < workers; i++) {
        void *value;
        pthread_join(threads[i], &value);
        printf(" %ld", (long)value);
        tls_ok += (long)value == join_value(i);
        join_sum += (long)value;
    }
    printf(" (sum %ld)\n", join_sum);
    printf("threads: %ld workers x %d increments, counter %ld\n", workers, INCREMENTS, counter);
    printf("threads: tls ok in %ld of %ld workers\n", tls_ok, workers);

    pthread_t prod, cons;
    struct consumer_result result = {0};
    void *returned;
    pthread_create(&cons, NULL, consumer, &result);
    pthread_create(&prod, NULL, producer, (void *)items);
    pthread_join(prod, NULL);
    pthread_join(cons, &returned);
    printf("threads: queue of %d slots passed %ld of %ld items, sum %ld, in order %s\n",
           QUEUE_SLOTS, result.received, items, result.sum, result.in_order ? "yes" : "no");
    printf("threads: consumer returned its result %s\n", returned == &result ? "yes" : "no");
    printf("threads: main tls %d, increments %ld\n", tls_index, tls_increments);

    int ok = counter == workers * INCREMENTS && tls_ok == workers && result.in_order &&
             result.received == items && result.sum == items * (items + 1) / 2 &&
             tls_index == MAIN_TLS_VALUE && tls_increments == 0;
    return ok ? 0 : 1;
}
