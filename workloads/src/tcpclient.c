/* tcpclient: talks to tcpserver, line by line, and checks every reply.
 *
 * Kernel paths: socket(AF_INET, SOCK_STREAM), connect failing with
 * ECONNREFUSED while nobody listens (retried after a nanosleep), connect
 * succeeding, write and read on a connected stream, close (the FIN the server
 * reads as EOF).
 *
 *   tcpclient [HOST [PORT [LINES]]]   defaults 127.0.0.1, 7000, 100
 *
 * HOST is a numeric IPv4 address (no resolver in a static binary). Sends
 * LINES lines, waits for each reply, checks that it is the line upper-cased,
 * then prints a summary; exits 0 when every reply matched. The client may
 * start before the server listens: it retries the connect for a while.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 7000L
#define DEFAULT_LINES 100L
#define CONNECT_ATTEMPTS 100
#define RETRY_DELAY_NS 20000000L /* 20 ms: up to 2 s in all */
#define LINE_BYTES 128

static long parse(const char *text, long max, const char *prog) {
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < 1 || value > max) {
        fprintf(stderr, "usage: %s [host [port [lines]]]\n", prog);
        exit(2);
    }
    return value;
}

static int connect_with_retries(const struct sockaddr_in *addr, int *refused) {
    for (int attempt = 0; attempt < CONNECT_ATTEMPTS; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            perror("tcpclient: socket");
            exit(1);
        }
        if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0)
            return fd;
        int error = errno;
        close(fd); /* a failed connect leaves the socket unusable: start afresh */
        if (error != ECONNREFUSED) {
            errno = error;
            perror("tcpclient: connect");
            exit(1);
        }
        ++*refused;
        struct timespec delay = {0, RETRY_DELAY_NS};
        nanosleep(&delay, NULL);
    }
    fprintf(stderr, "tcpclient: connection refused %d times, giving up\n", CONNECT_ATTEMPTS);
    exit(1);
}

/* Read one reply line (up to and including '\n') byte by byte: simple, and
 * the server's reply never carries more than the one line we wait for. */
static ssize_t read_line(int fd, char *buf, size_t size) {
    size_t used = 0;
    while (used + 1 < size) {
        ssize_t n = read(fd, buf + used, 1);
        if (n <= 0)
            return n;
        if (buf[used++] == '\n')
            break;
    }
    buf[used] = '\0';
    return (ssize_t)used;
}

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : DEFAULT_HOST;
    long port = argc > 2 ? parse(argv[2], 65535, argv[0]) : DEFAULT_PORT;
    long lines = argc > 3 ? parse(argv[3], 1000000, argv[0]) : DEFAULT_LINES;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "tcpclient: %s is not a numeric IPv4 address\n", host);
        return 2;
    }
    int refused = 0;
    int fd = connect_with_retries(&addr, &refused);
    printf("tcpclient: connected\n");

    long matched = 0, sent_bytes = 0;
    for (long i = 0; i < lines; i++) {
        char line[LINE_BYTES], expect[LINE_BYTES], reply[LINE_BYTES];
        int len = snprintf(line, sizeof line, "line %ld of %ld: hello, coffer\n", i + 1, lines);
        for (int c = 0; c <= len; c++)
            expect[c] = (char)toupper((unsigned char)line[c]);
        if (write(fd, line, (size_t)len) != len) {
            perror("tcpclient: write");
            return 1;
        }
        sent_bytes += len;
        if (read_line(fd, reply, sizeof reply) <= 0) {
            fprintf(stderr, "tcpclient: the server closed early\n");
            return 1;
        }
        matched += strcmp(reply, expect) == 0;
    }
    close(fd);
    printf("tcpclient: sent %ld lines (%ld bytes), %ld replies upper-cased correctly\n", lines,
           sent_bytes, matched);
    return matched == lines ? 0 : 1;
}
