/* Message queues cannot take the host's memory: with RLIMIT_MSGQUEUE lifted (root may),
 * the guest makes the largest queues it can, each filled to the brim, until mq_open
 * fails; in a coffer the memory limit ends it (ENOMEM), counted per queue as Linux's
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
