/* rwloop MODE N: N small write(2)+read(2) pairs; MODE pipe (through one pipe) or
 * file (a tmpfs file under /tmp: one descriptor writes, another reads behind it). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define CHUNK 16
int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: rwloop pipe|file N\n"); return 2; }
    long n = atol(argv[2]);
    int wfd, rfd, fds[2];
    if (strcmp(argv[1], "pipe") == 0) {
        if (pipe(fds) != 0) { perror("pipe"); return 1; }
        rfd = fds[0]; wfd = fds[1];
    } else {
        const char *path = "/tmp/rwloop.dat";
        wfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        rfd = open(path, O_RDONLY);
        if (wfd < 0 || rfd < 0) { perror("open"); return 1; }
        unlink(path);
    }
    char buf[CHUNK] = "0123456789abcdef";
    for (long i = 0; i < n; i++) {
        if (write(wfd, buf, CHUNK) != CHUNK || read(rfd, buf, CHUNK) != CHUNK) {
            perror("rw"); return 1;
        }
    }
    printf("rwloop: %ld pairs\n", n);
    return 0;
}
