/* lockobj: repeat one kind of kernel operation, for the lock-placement tests.
 *
 * usage: lockobj OP N     OP: none, create, cross, rename, mount, fork, socket
 *
 * Each copy works only on its own objects: files in the directory "own" under its cwd (on each
 * container's own tmpfs), its own mount point, its own children and sockets. "cross"
 * creates its files as "create" does, in a tmpfs mounted on "own" first (needs root), so
 * that each walk crosses a mount point.
 * Prints "OP ok" and exits 0 when every call succeeded.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void one(const char *op, int i)
{
    char name[64];
    if (strcmp(op, "create") == 0 || strcmp(op, "cross") == 0) {
        snprintf(name, sizeof name, "own/f%d", i);
        int fd = open(name, O_CREAT | O_WRONLY | O_EXCL, 0644);
        if (fd < 0)
            die("open");
        close(fd);
    } else if (strcmp(op, "rename") == 0) {
        if (rename(i % 2 ? "own/b" : "own/a", i % 2 ? "own/a" : "own/b"))
            die("rename");
    } else if (strcmp(op, "mount") == 0) {
        if (mount("none", "own", "tmpfs", 0, NULL) || umount("own"))
            die("mount");
    } else if (strcmp(op, "fork") == 0) {
        pid_t child = fork();
        if (child < 0)
            die("fork");
        if (child == 0)
            _exit(0);
        if (waitpid(child, NULL, 0) != child)
            die("waitpid");
    } else if (strcmp(op, "socket") == 0) {
        int sv[2];
        char byte = 'x';
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
            die("socketpair");
        if (send(sv[0], &byte, 1, 0) != 1 || recv(sv[1], &byte, 1, 0) != 1)
            die("send/recv");
        close(sv[0]);
        close(sv[1]);
    } else if (strcmp(op, "none") != 0) {
        fprintf(stderr, "lockobj: unknown op %s\n", op);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int n = atoi(argv[2]);
    if (mkdir("own", 0755) && strcmp(argv[1], "none") != 0)
        die("mkdir");
    if (strcmp(argv[1], "cross") == 0 && mount("none", "own", "tmpfs", 0, NULL))
        die("mount");
    if (strcmp(argv[1], "rename") == 0) {
        int fd = open("own/a", O_CREAT | O_WRONLY, 0644);
        if (fd < 0)
            die("open");
        close(fd);
    }
    for (int i = 0; i < n; i++)
        one(argv[1], i);
    printf("%s ok\n", argv[1]);
    return 0;
}
