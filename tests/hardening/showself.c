/* What a program learns of its own path: /proc/self/cmdline, /proc/self/exe and
 * the names in /proc/self/maps (issue #13, item 6). */
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char buf[8192]; int fd; long n;
    fd = open("/proc/self/cmdline", O_RDONLY); n = read(fd, buf, sizeof buf);
    for (long i = 0; i < n; i++) if (!buf[i]) buf[i] = ' ';
    printf("cmdline: %.*s\n", (int)n, buf);
    n = readlink("/proc/self/exe", buf, sizeof buf); printf("exe: %.*s\n", (int)n, buf);
    fd = open("/proc/self/maps", O_RDONLY); n = read(fd, buf, sizeof buf); printf("%.*s", (int)n, buf);
    printf("argv0: %s\n", argv[0]);
    return 0;
}
