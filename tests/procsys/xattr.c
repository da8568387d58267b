/* Extended attributes on the files a program makes in its working directory (tmpfs in a
 * coffer, the host's filesystem natively): the set/get/list/remove calls and their l*
 * and f* forms, the flags, the size rules and the namespaces' permissions, as root and
 * as nobody. Lists are printed sorted (filesystems list in different orders). Needs
 * root natively. Cleans up after itself. */
#include "check.h"
#include <grp.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wstringop-overread"

#define NOBODY 65534

static char big[65537];

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void show_list(const char *what, ssize_t n, char *buf)
{
    char *names[64];
    int count = 0;
    if (n < 0) {
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
        return;
    }
    for (char *p = buf; p < buf + n && count < 64; p += strlen(p) + 1)
        names[count++] = p;
    qsort(names, count, sizeof *names, cmp);
    printf("%s = %zd:", what, n);
    for (int i = 0; i < count; i++)
        printf(" %s", names[i]);
    printf("\n");
}

#define L(call, buf) show_list(#call, call, buf)

static void get(const char *path, const char *name)
{
    char value[64];
    ssize_t n = getxattr(path, name, value, sizeof value - 1);
    if (n < 0)
        printf("getxattr(%s, %s) = -1 %s\n", path, name, strerrorname_np(errno));
    else
        printf("getxattr(%s, %s) = %zd \"%.*s\"\n", path, name, n, (int)n, value);
}

static void as_root(void)
{
    char buf[1024], name[300], small[2];
    T(close(open("f", O_CREAT | O_WRONLY, 0644)));
    T(mkdir("d", 0755));
    T(mkdir("sticky", 01777));
    T(chmod("sticky", 01777));
    T(symlink("f", "link"));
    T(mkfifo("fifo", 0666));
    T(setxattr("f", "user.a", "one", 3, 0));
    T(setxattr("f", "user.a", "two", 3, XATTR_CREATE));
    T(setxattr("f", "user.b", "x", 1, XATTR_REPLACE));
    T(setxattr("f", "user.a", "three", 5, XATTR_REPLACE));
    T(setxattr("f", "user.a", "three", 5, XATTR_CREATE | XATTR_REPLACE));
    T(setxattr("f", "user.b", "x", 1, XATTR_CREATE | XATTR_REPLACE));
    T(setxattr("f", "user.empty", NULL, 0, 0));
    T(setxattr("f", "trusted.t", "root only", 9, 0));
    T(setxattr("f", "security.s", "sec", 3, 0));
    T(setxattr("f", "user.c", "v", 1, 4));
    T(setxattr("f", "", "v", 1, 0));
    T(setxattr("f", "user.", "v", 1, 0));
    T(setxattr("f", "system.foo", "v", 1, 0));
    T(setxattr("f", "other.foo", "v", 1, 0));
    T(setxattr("f", "user.big", big, sizeof big, 0));
    T(setxattr("f", BAD_POINTER, "v", 1, 0));
    T(setxattr("f", "user.c", BAD_POINTER, 1, 0));
    T(setxattr("missing", "user.c", "v", 1, 0));
    memset(name, 'n', sizeof name);
    memcpy(name, "user.", 5);
    name[255] = '\0';
    T(setxattr("f", name, "v", 1, 0));
    T(removexattr("f", name));
    name[255] = 'n';
    name[256] = '\0';
    T(setxattr("f", name, "v", 1, 0));
    get("f", "user.a");
    get("f", "user.empty");
    get("f", "trusted.t");
    get("f", "security.s");
    get("f", "user.none");
    get("f", "system.foo");
    T(getxattr("f", "user.a", NULL, 0));
    T(getxattr("f", "user.a", small, sizeof small));
    T(getxattr("f", "user.a", BAD_POINTER, 16));
    L(listxattr("f", buf, sizeof buf), buf);
    T(listxattr("f", NULL, 0));
    T(listxattr("f", buf, 3));
    T(listxattr("f", BAD_POINTER, 100));
    L(listxattr("d", buf, sizeof buf), buf);
    /* symlinks: user.* only on regular files and directories; the l* forms act on the link */
    T(lsetxattr("link", "user.a", "v", 1, 0));
    T(lgetxattr("link", "user.a", buf, sizeof buf));
    T(lsetxattr("link", "trusted.l", "v", 1, 0));
    T(lgetxattr("link", "trusted.l", buf, sizeof buf));
    T(getxattr("link", "user.a", NULL, 0));
    L(llistxattr("link", buf, sizeof buf), buf);
    T(lremovexattr("link", "trusted.l"));
    T(setxattr("fifo", "user.a", "v", 1, 0));
    T(getxattr("fifo", "user.a", buf, sizeof buf));
    /* through descriptors */
    int fd = open("f", O_RDONLY), pipes[2];
    T(fsetxattr(fd, "user.fd", "by fd", 5, 0));
    T(fgetxattr(fd, "user.fd", buf, sizeof buf));
    L(flistxattr(fd, buf, sizeof buf), buf);
    T(fremovexattr(fd, "user.fd"));
    T(fremovexattr(fd, "user.fd"));
    T(close(fd));
    fd = open("f", O_PATH);
    T(fgetxattr(fd, "user.a", buf, sizeof buf));
    T(close(fd));
    T(fgetxattr(99, "user.a", buf, sizeof buf));
    T(pipe(pipes));
    T(fsetxattr(pipes[0], "user.a", "v", 1, 0));
    T(fgetxattr(pipes[0], "user.a", buf, sizeof buf));
    T(fgetxattr(pipes[0], "trusted.a", buf, sizeof buf));
    T(flistxattr(pipes[0], buf, sizeof buf));
    T(close(pipes[0]));
    T(close(pipes[1]));
    fd = open("/proc/self/status", O_RDONLY);
    T(fgetxattr(fd, "user.a", buf, sizeof buf));
    T(fsetxattr(fd, "user.a", "v", 1, 0));
    T(close(fd));
    T(removexattr("f", "user.empty"));
    T(removexattr("f", "user.empty"));
    T(removexattr("f", "user."));
    T(setxattr("sticky", "user.s", "root's", 6, 0));
    T(setxattr("d", "user.d", "dir", 3, 0));
}

static void as_nobody(void)
{
    char buf[1024];
    if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)) {
        perror("nobody");
        exit(1);
    }
    get("f", "user.a");
    get("f", "trusted.t");
    T(setxattr("f", "user.a", "mine", 4, 0));
    T(setxattr("f", "trusted.t", "mine", 4, 0));
    T(removexattr("f", "trusted.t"));
    T(setxattr("f", "security.n", "v", 1, 0));
    L(listxattr("f", buf, sizeof buf), buf);
    T(setxattr("sticky", "user.s", "mine", 4, 0));
    get("sticky", "user.s");
    T(setxattr("d", "user.d", "mine", 4, 0));
    T(close(open("sticky/own", O_CREAT | O_WRONLY, 0600)));
    T(setxattr("sticky/own", "user.o", "mine", 4, 0));
    get("sticky/own", "user.o");
    T(unlink("sticky/own"));
}

int main(void)
{
    as_root();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        as_nobody();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("nobody's child: %d\n", status);
    T(unlink("f"));
    T(unlink("link"));
    T(unlink("fifo"));
    T(rmdir("d"));
    T(rmdir("sticky"));
    return 0;
}
