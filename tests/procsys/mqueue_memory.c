/* Message queues cannot take the host's memory: with RLIMIT_MSGQUEUE lifted (root may),
 * the guest makes the smallest queues it can until mq_open fails, removes them, then
 * the largest, each filled to the brim, until mq_open fails; in a coffer the memory limit ends it (ENOMEM), counted per queue as Linux's
 * mq_bytes, before the host notices. Run in a coffer only (natively Linux would let
 * root's queues grow to the machine's memory). */
#include "check.h"
#include <mqueue.h>
#include <sys/resource.h>

#define QUEUES_AT_MOST 100000

int main(void)
{
    struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    T(setrlimit(RLIMIT_MSGQUEUE, &unlimited));
    /* the smallest queues, each closed at once: as many as the memory limit allows */
    struct mq_attr tiny = {.mq_maxmsg = 1, .mq_msgsize = 1};
    int small = 0;
    for (; small < QUEUES_AT_MOST; small++) {
        char name[32];
        snprintf(name, sizeof name, "/t%d", small);
        mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &tiny);
        if (q < 0) {
            printf("tiny queue %d: %s\n", small, strerrorname_np(errno));
            break;
        }
        mq_close(q);
    }
    for (int i = 0; i < small; i++) {
        char name[32];
        snprintf(name, sizeof name, "/t%d", i);
        mq_unlink(name);
    }
    printf("made %d tiny queues\n", small);

    struct mq_attr attr = {.mq_maxmsg = 64, .mq_msgsize = 65536};
    static char message[65536];
    memset(message, 'm', sizeof message);
    int made = 0;
    for (; made < QUEUES_AT_MOST; made++) {
        char name[32];
        snprintf(name, sizeof name, "/q%d", made);
        mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK, 0600, &attr);
        if (q < 0) {
            printf("queue %d: %s\n", made, strerrorname_np(errno));
            break;
        }
        while (mq_send(q, message, sizeof message, 0) == 0)
            ;
        if (errno != EAGAIN)
            printf("send: %s\n", strerrorname_np(errno));
    }
    printf("made %d full queues\n", made);
    return 0;
}
