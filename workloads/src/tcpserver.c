/* tcpserver: a one-connection TCP line server that answers in upper case.
 *
 * Kernel paths: socket(AF_INET, SOCK_STREAM), setsockopt(SO_REUSEADDR), bind
 * to 0.0.0.0:PORT, listen, accept4 (accept) blocking until a peer connects,
 * read of partial lines from a stream, write of the replies, EOF when the
 * peer closes, close. Pair it with tcpclient.
 *
 *   tcpserver [PORT]       PORT defaults to 7000
 *
 * Serves exactly one connection: each line read is sent back upper-cased;
 * when the client closes its end the server prints how many lines and bytes
 * it served and exits 0. The port is not printed, so a run on another port
 * prints the same.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lineio.h" /* write_all */

#define DEFAULT_PORT 7000L
#define BACKLOG 4
#define BUF_BYTES 4096

int main(int argc, char **argv) {
    long port = DEFAULT_PORT;
    if (argc > 1) {
        char *end;
        port = strtol(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
            fprintf(stderr, "usage: %s [port]\n", argv[0]);
            return 2;
        }
    }
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) {
        perror("tcpserver: socket");
        return 1;
    }
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                               .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, BACKLOG) != 0) {
        perror("tcpserver: bind/listen");
        return 1;
    }
    struct sockaddr_in peer;
    socklen_t peer_len = sizeof peer;
    int conn = accept(listener, (struct sockaddr *)&peer, &peer_len);
    if (conn < 0) {
        perror("tcpserver: accept");
        return 1;
    }
    close(listener);
    printf("tcpserver: accepted a connection from %s\n",
           peer.sin_family == AF_INET ? "an IPv4 peer" : "an unexpected family");

    /* Lines may arrive split across reads: keep the unfinished tail. */
    char buf[BUF_BYTES];
    size_t used = 0;
    long lines = 0, bytes = 0;
    ssize_t n;
    while ((n = read(conn, buf + used, sizeof buf - used)) > 0) {
        used += (size_t)n;
        bytes += n;
        char *start = buf, *newline;
        while ((newline = memchr(start, '\n', used - (size_t)(start - buf))) != NULL) {
            for (char *c = start; c < newline; c++)
                *c = (char)toupper((unsigned char)*c);
            if (write_all(conn, start, (size_t)(newline - start + 1)) != 0) {
                perror("tcpserver: write");
                return 1;
            }
            lines++;
            start = newline + 1;
        }
        used -= (size_t)(start - buf);
        memmove(buf, start, used);
        if (used == sizeof buf) {
            fprintf(stderr, "tcpserver: line longer than %d bytes\n", BUF_BYTES);
            return 1;
        }
    }
    if (n < 0) {
        perror("tcpserver: read");
        return 1;
    }
    close(conn);
    printf("tcpserver: served %ld lines, %ld bytes, %zu left unterminated\n", lines, bytes, used);
    return used == 0 ? 0 : 1;
}
