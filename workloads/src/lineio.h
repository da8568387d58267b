/* What the workloads that talk over sockets share: whole writes (agent.c,
 * modelserver.c, tcpserver.c, webserver.c), a line protocol (a buffered line reader,
 * exact reads) and a sleep that resumes after signals (agent.c, modelserver.c).
 *
 * The functions are static and marked unused, so each program keeps exactly the
 * code it calls. The build hashes the headers beside a source with it
 * (workloads/build.py), so a change here rebuilds every workload. */
#ifndef LINEIO_H
#define LINEIO_H

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096
#define NS_PER_S 1000000000LL

#define LINEIO_UNUSED __attribute__((unused))

/* Sleep ns nanoseconds, however many signals arrive meanwhile. */
LINEIO_UNUSED static void sleep_ns(long long ns) {
    if (ns <= 0)
        return;
    struct timespec ts = {.tv_sec = ns / NS_PER_S, .tv_nsec = ns % NS_PER_S};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Write all len bytes; -1 when the other side stops taking them. */
LINEIO_UNUSED static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A buffered line reader over a socket. */
struct conn {
    int fd;
    char buf[LINE_MAX_BYTES];
    size_t used;
};

/* The next line (without its newline) into out; 1, 0 at EOF, -1 on error. */
LINEIO_UNUSED static int read_line(struct conn *c, char *out, size_t size) {
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->used);
        if (nl != NULL) {
            size_t len = (size_t)(nl - c->buf);
            if (len >= size)
                len = size - 1;
            memcpy(out, c->buf, len);
            out[len] = '\0';
            size_t rest = c->used - (size_t)(nl - c->buf) - 1;
            memmove(c->buf, nl + 1, rest);
            c->used = rest;
            return 1;
        }
        if (c->used == sizeof c->buf)
            return -1;
        ssize_t n = read(c->fd, c->buf + c->used, sizeof c->buf - c->used);
        if (n <= 0)
            return n == 0 ? 0 : -1;
        c->used += (size_t)n;
    }
}

/* Exactly len bytes, the buffered ones first; -1 at EOF or on error. */
LINEIO_UNUSED static int read_exact(struct conn *c, char *out, size_t len) {
    size_t have = c->used < len ? c->used : len;
    memcpy(out, c->buf, have);
    memmove(c->buf, c->buf + have, c->used - have);
    c->used -= have;
    while (have < len) {
        ssize_t n = read(c->fd, out + have, len - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    return 0;
}

#endif
