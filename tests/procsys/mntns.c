/* Mount and IPC namespaces of one process among others, bind mounts and moves, as
 * `unshare -r -m` from a shell makes them, natively as root and in a coffer. The
 * parent makes the directories and a System V segment and forks; the child becomes
 * nobody, makes a user, mount and IPC namespace of its own while its parent lives,
 * mounts a tmpfs, binds a directory and a file, makes the bind read-only, moves the
 * tmpfs, and is refused what Linux refuses (a bind over a file of a directory, a
 * non-recursive bind of "/" with its locked mounts, a move of /proc or into
 * itself). The parent, in the first namespace, sees none of it, and its segment
 * stays. Then a child cloned with CLONE_NEWNS | CLONE_NEWIPC mounts in its own
 * namespace as root, unseen. */
#include "check.h"
#include <grp.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define NOBODY 65534
#define KEY 0x4d4e5453

static int to_parent[2], to_child[2];

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));
    printf("write %s: %s\n", path, n < 0 ? strerrorname_np(errno) : "ok");
    if (fd >= 0)
        close(fd);
}

static void look(const char *who, const char *path)
{
    struct stat st, here;
    char buf[32] = "";
    if (stat(path, &st) < 0 || stat(".", &here) < 0) {
        printf("%s: %s: %s\n", who, path, strerrorname_np(errno));
        return;
    }
    if (S_ISREG(st.st_mode)) {
        int fd = open(path, O_RDONLY);
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[n > 0 ? n : 0] = 0;
    }
    printf("%s: %s: %s%s%s\n", who, path, S_ISDIR(st.st_mode) ? "dir" : "file",
           st.st_dev == here.st_dev ? "" : ", another filesystem", buf);
}

/* Whether /proc/self/mountinfo lists NAME (under the cwd) as a mount point. */
static void listed(const char *who, const char *name)
{
    char cwd[4096], want[4200], line[8192];
    if (!getcwd(cwd, sizeof cwd))
        return;
    snprintf(want, sizeof want, " %s/%s ", cwd, name);
    FILE *f = fopen("/proc/self/mountinfo", "r");
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found += strstr(line, want) != NULL;
    if (f)
        fclose(f);
    printf("%s: %s listed %d time(s)\n", who, name, found);
}

static void signal_and_wait(int out, int in)
{
    char c = 0;
    fflush(stdout);
    if (write(out, &c, 1) != 1 || read(in, &c, 1) != 1)
        exit(2);
}

static void child(void)
{
    if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
        exit(1);
    T(prctl(PR_SET_DUMPABLE, 1));
    T(unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC));
    write_file("/proc/self/uid_map", "0 65534 1\n");
    write_file("/proc/self/setgroups", "deny\n");
    write_file("/proc/self/gid_map", "0 65534 1\n");
    T(shmget(KEY, 0, 0));  /* the parent's segment is in the namespace left */
    T(mount("none", "a", "tmpfs", 0, "size=64k"));
    write_file("a/inside", "tmpfs\n");
    T(mount("src", "b", NULL, MS_BIND, NULL));
    look("child", "b/sub");
    T(mount("f1", "f2", NULL, MS_BIND, NULL));
    look("child", "f2");
    T(mount("f1", "b", NULL, MS_BIND, NULL));
    T(mount("src", "f2", NULL, MS_BIND, NULL));
    T(mount("nosuch", "b", NULL, MS_BIND, NULL));
    T(mount("", "b", NULL, MS_BIND, NULL));
    T(mount(NULL, "b", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
    write_file("b/new", "x\n");
    write_file("b/sub/kept", "overwritten\n");
    look("child", "src/sub/kept");
    T(mkdir("b/d", 0755));
    T(unlink("b/sub/kept"));
    T(chmod("b/sub/kept", 0644));
    T(chmod("src/sub/kept", 0666));
    T(access("b/sub/kept", W_OK));
    T(access("src/sub/kept", W_OK));
    T(utimes("b/sub/kept", NULL));
    write_file("src/new", "x\n");
    T(unlink("src/new"));
    T(mount("/", "c", NULL, MS_BIND, NULL));  /* /proc and the rest under it are locked */
    T(mount("a", "m", NULL, MS_MOVE, NULL));
    look("child", "a/inside");
    look("child", "m/inside");
    T(mkdir("m/deeper", 0755));
    T(mount("m", "m/deeper", NULL, MS_MOVE, NULL));
    T(mount("src", "m/deeper", NULL, MS_MOVE, NULL));  /* not a mount's root */
    T(mount("/proc", "c", NULL, MS_MOVE, NULL));
    T(mount("none", "m/deeper", "tmpfs", 0, NULL));
    T(rmdir("m/deeper"));  /* a mount point */
    T(umount2("m/deeper", 0));
    T(rmdir("m/deeper"));
    listed("child", "b");
    listed("child", "m");
    signal_and_wait(to_parent[1], to_child[0]);
    T(umount2("f2", 0));
    look("child", "f2");
    T(umount2("b", 0));
    T(umount2("m", 0));
    _exit(0);
}

static int cloned(void *unused)
{
    (void)unused;
    T(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));  /* nothing reaches the host */
    T(mount("none", "a", "tmpfs", 0, NULL));
    look("clone", "a");
    T(shmget(KEY, 0, 0));
    fflush(stdout);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    T(mkdir("a", 0777));
    T(mkdir("b", 0777));
    T(mkdir("c", 0777));
    T(mkdir("m", 0777));
    T(mkdir("src", 0777));
    T(mkdir("src/sub", 0777));
    write_file("src/sub/kept", "kept\n");
    write_file("f1", "f1\n");
    write_file("f2", "f2\n");
    T(chmod("f2", 0666));
    T(chmod("src/sub/kept", 0666));
    int id = shmget(KEY, 4096, IPC_CREAT | 0600);
    printf("shmget: %s\n", id < 0 ? strerrorname_np(errno) : "ok");
    if (pipe(to_parent) || pipe(to_child))
        return 1;
    pid_t pid = fork();
    if (pid == 0)
        child();
    char c;
    if (read(to_parent[0], &c, 1) != 1)
        return 1;
    look("parent", "a");
    look("parent", "a/inside");
    look("parent", "m/inside");
    look("parent", "b/sub");
    look("parent", "f2");
    listed("parent", "b");
    listed("parent", "m");
    printf("parent: shmget %s\n", shmget(KEY, 0, 0) == id ? "same segment" : "other");
    if (write(to_child[1], &c, 1) != 1)
        return 1;
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", WEXITSTATUS(status));
    static char stack[65536];
    pid = clone(cloned, stack + sizeof stack, CLONE_NEWNS | CLONE_NEWIPC | SIGCHLD, NULL);
    waitpid(pid, &status, 0);
    printf("clone status %d\n", WEXITSTATUS(status));
    look("parent", "a");
    T(shmctl(id, IPC_RMID, NULL));
    T(unlink("f1"));
    T(unlink("f2"));
    T(unlink("src/sub/kept"));
    T(rmdir("src/sub"));
    T(rmdir("src"));
    T(rmdir("a"));
    T(rmdir("b"));
    T(rmdir("c"));
    T(rmdir("m"));
    return 0;
}
