/* Isolation probe: a server that binds names, and a client that tries to reach them.
 *
 *   probe serve PATH NAME PORT MS    bind PATH and the abstract NAME (AF_UNIX
 *                                    streams), listen on TCP 0.0.0.0:PORT, then
 *                                    sleep MS milliseconds (MS < 0: accept forever)
 *   probe connect PATH NAME ADDR PORT
 *                                    sleep 100 ms, then connect to each and print
 *                                    the result; on TCP success send "hi" */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static socklen_t unix_addr(struct sockaddr_un *a, const char *name, int abstract) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path + abstract, name);
    return (socklen_t)(sizeof a->sun_family + abstract + strlen(name) + !abstract);
}

static void report(const char *what, int result) {
    printf("%s: %s\n", what, result == 0 ? "connected" : strerrorname_np(errno));
}

static void nap(long ms) {
    struct timespec t = {ms / 1000, ms % 1000 * 1000000L};
    nanosleep(&t, NULL);
}

int main(int argc, char **argv) {
    if (argc != 6)
        return 2;
    struct sockaddr_un path, name;
    socklen_t plen = unix_addr(&path, argv[2], 0), nlen = unix_addr(&name, argv[3], 1);
    if (strcmp(argv[1], "serve") == 0) {
        int p = socket(AF_UNIX, SOCK_STREAM, 0), n = socket(AF_UNIX, SOCK_STREAM, 0);
        int t = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[4]))};
        if (bind(p, (struct sockaddr *)&path, plen) || listen(p, 4) ||
            bind(n, (struct sockaddr *)&name, nlen) || listen(n, 4) ||
            bind(t, (struct sockaddr *)&any, sizeof any) || listen(t, 4)) {
            perror("serve");
            return 1;
        }
        printf("serving\n");
        fflush(stdout);
        long ms = atol(argv[5]);
        if (ms < 0)
            accept(t, NULL, NULL);
        else
            nap(ms);
        return 0;
    }
    nap(100);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    report("path", connect(fd, (struct sockaddr *)&path, plen));
    close(fd);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    report("abstract", connect(fd, (struct sockaddr *)&name, nlen));
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[5]))};
    inet_pton(AF_INET, argv[4], &to.sin_addr);
    int r = connect(fd, (struct sockaddr *)&to, sizeof to);
    report("tcp", r);
    if (r == 0)
        printf("sent %zd\n", write(fd, "hi", 2));
    close(fd);
    return 0;
}
