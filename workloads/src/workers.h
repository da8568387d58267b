/* What the scalability workloads (fxmark.c, wis.c, mosbench.c) share: their error
 * exit, their argument check, and the operation marks they write to the coffer's
 * ops device (/dev/coffer/ops; natively it is absent and nothing is marked).
 *
 * Define WORKLOAD_NAME (the name error messages start with) before including this.
 * The build hashes the headers beside a source with it (workloads/build.py), so a
 * change here rebuilds every workload that includes it. */
#ifndef WORKERS_H
#define WORKERS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OPS_DEVICE "/dev/coffer/ops"
#define OPS_MARK_FORMAT "w%ld\n" /* one operation done by worker %ld */
#define OPS_LABEL_ROOM 32
#define SETTLE_NS 1000000L /* 1 ms: the parent's pause before it releases the workers */

static int ops_fd = -1; /* the ops device, or -1 (natively): no marks */

static void die(const char *what, const char *detail)
{
    fprintf(stderr, WORKLOAD_NAME ": %s %s: %s\n", what, detail, strerror(errno));
    exit(1);
}

/* A count argument in 1..max, or exit 2 with a message naming it. */
static long parse_count(const char *text, long max, const char *what)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || end == text || value < 1 || value > max) {
        fprintf(stderr, WORKLOAD_NAME ": %s must be 1..%ld, not %s\n", what, max, text);
        exit(2);
    }
    return value;
}

/* One operation of worker w is done: the coffer's throughput and latency count it. */
static void mark(long w)
{
    char label[OPS_LABEL_ROOM];
    int len = snprintf(label, sizeof label, OPS_MARK_FORMAT, w);
    if (ops_fd >= 0 && write(ops_fd, label, len) != len)
        die("write", OPS_DEVICE);
}

#endif
