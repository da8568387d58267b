/* flock and POSIX record locks between two processes, the way SQLite uses them:
 * a conflict is EAGAIN in the other process, released when the holder closes any
 * descriptor of the file or exits; F_GETLK names the holder; OFD locks. */
#include "check.h"
#include <sys/file.h>
#include <sys/wait.h>

static int lk(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl);
}

/* F_GETLK: print the conflicting lock, or "unlocked". */
static void getlk(const char *who, int fd, int cmd, short type, off_t start, off_t len,
                  pid_t holder)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    if (fcntl(fd, cmd, &fl) < 0) {
        printf("%s getlk = -1 %s\n", who, strerrorname_np(errno));
    } else if (fl.l_type == F_UNLCK) {
        printf("%s getlk [%ld,+%ld): unlocked\n", who, (long)start, (long)len);
    } else {
        printf("%s getlk [%ld,+%ld): type %s start %ld len %ld pid %s\n", who, (long)start,
               (long)len, fl.l_type == F_WRLCK ? "W" : "R", (long)fl.l_start, (long)fl.l_len,
               fl.l_pid == holder ? "holder" : fl.l_pid == -1 ? "-1" : "other");
    }
    fflush(stdout);
}

static void say(int fd, char c) { write(fd, &c, 1); }
static char hear(int fd) { char c = 0; read(fd, &c, 1); return c; }

int main(void)
{
    int fd = open("db", O_CREAT | O_RDWR | O_TRUNC, 0644);
    int fd2 = open("db", O_RDWR);
    int to_child[2], to_parent[2];
    pipe(to_child);
    pipe(to_parent);
    pid_t parent = getpid();

    /* Argument checks. */
    T(lk(fd, F_SETLK, 7, 0, 1));
    struct flock bad = {.l_type = F_WRLCK, .l_whence = 9};
    T(fcntl(fd, F_SETLK, &bad));
    T(lk(fd, F_SETLK, F_WRLCK, -5, 1));
    T(lk(fd, F_SETLK, F_WRLCK, 5, -10));
    T(fcntl(fd, F_GETLK, BAD_POINTER));
    int wronly = open("db", O_WRONLY);
    int rdonly = open("db", O_RDONLY);
    T(lk(wronly, F_SETLK, F_RDLCK, 0, 1));
    T(lk(rdonly, F_SETLK, F_WRLCK, 0, 1));
    T(lk(rdonly, F_SETLK, F_UNLCK, 0, 1));
    getlk("self", fd, F_GETLK, F_UNLCK, 0, 1, parent);
    struct flock ofd = {.l_type = F_WRLCK, .l_pid = 1};
    T(fcntl(fd, F_OFD_SETLK, &ofd));
    T(lk(99, F_SETLK, F_WRLCK, 0, 1));
    int opath = open("db", O_PATH);
    T(lk(opath, F_SETLK, F_WRLCK, 0, 1));
    close(wronly);
    close(rdonly);

    /* SQLite's pattern: a shared lock on the PENDING/SHARED bytes, an exclusive one on
     * a range; the parent's own locks never conflict with each other. */
    T(lk(fd, F_SETLK, F_RDLCK, 1073741824, 1));
    T(lk(fd, F_SETLK, F_WRLCK, 0, 100));
    T(lk(fd2, F_SETLK, F_WRLCK, 50, 100));  /* same process: no conflict, merged */
    T(lk(fd, F_SETLK, F_UNLCK, 20, 10));    /* split [0,150) into [0,20) and [30,150) */
    getlk("self", fd, F_GETLK, F_WRLCK, 0, 10, parent);

    pid_t child = fork();
    if (child == 0) {
        T(lk(fd, F_SETLK, F_WRLCK, 0, 1));
        T(lk(fd, F_SETLK, F_RDLCK, 10, 5));
        T(lk(fd, F_SETLK, F_WRLCK, 20, 10)); /* the hole */
        T(lk(fd, F_SETLK, F_RDLCK, 1073741824, 1)); /* shared with shared */
        T(lk(fd, F_SETLK, F_WRLCK, 1073741824, 1));
        getlk("child", fd, F_GETLK, F_WRLCK, 0, 0, parent);
        getlk("child", fd, F_GETLK, F_WRLCK, 25, 2, parent);
        getlk("child", fd, F_GETLK, F_RDLCK, 35, 2, parent);
        getlk("child", fd, F_GETLK, F_RDLCK, 1073741824, 1, parent);
        getlk("child", fd, F_GETLK, F_WRLCK, 1073741824, 1, parent);
        getlk("child", fd, F_GETLK, F_WRLCK, 200, 0, parent);
        say(to_parent[1], 'a');
        hear(to_child[0]);  /* the parent closed fd2: all its locks on db are gone */
        getlk("child", fd, F_GETLK, F_WRLCK, 0, 0, parent);
        T(lk(fd, F_SETLK, F_WRLCK, 0, 0));
        say(to_parent[1], 'b');
        hear(to_child[0]);
        _exit(0);  /* exiting releases the child's lock */
    }
    hear(to_parent[0]);
    T(close(fd2));  /* closing ANY descriptor of the file drops the process's locks */
    say(to_child[1], 'x');
    hear(to_parent[0]);
    getlk("parent", fd, F_GETLK, F_RDLCK, 0, 1, child);
    T(lk(fd, F_SETLK, F_RDLCK, 0, 1));
    say(to_child[1], 'y');
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", status);
    T(lk(fd, F_SETLK, F_WRLCK, 0, 0));

    /* F_SETLKW waits until the holder unlocks. */
    child = fork();
    if (child == 0) {
        say(to_parent[1], 'w');
        T(lk(fd, F_SETLKW, F_WRLCK, 0, 10));
        puts("child got the lock after the parent unlocked");
        fflush(stdout);
        _exit(0);
    }
    hear(to_parent[0]);
    usleep(20000);
    puts("parent unlocking");
    fflush(stdout);
    T(lk(fd, F_SETLK, F_UNLCK, 0, 0));
    waitpid(child, &status, 0);
    printf("child status %d\n", status);

    /* OFD locks belong to the open file description: two opens conflict. */
    int a = open("db", O_RDWR), b = open("db", O_RDWR);
    struct flock o = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    T(fcntl(a, F_OFD_SETLK, &o));
    T(fcntl(b, F_OFD_SETLK, &o));
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
    T(fcntl(b, F_OFD_GETLK, &q));
    printf("ofd getlk type %s start %ld len %ld pid %d\n", q.l_type == F_WRLCK ? "W" : "?",
           (long)q.l_start, (long)q.l_len, q.l_pid);
    T(close(a));
    T(fcntl(b, F_OFD_SETLK, &o));
    close(b);

    /* flock: per open file description, shared by dup and fork, LOCK_NB. */
    int f1 = open("db", O_RDONLY), f2 = open("db", O_RDONLY);
    T(flock(f1, LOCK_EX));
    T(flock(f2, LOCK_EX | LOCK_NB));
    T(flock(f2, LOCK_SH | LOCK_NB));
    int f1dup = dup(f1);
    T(flock(f1dup, LOCK_EX | LOCK_NB));
    T(flock(f1, LOCK_SH));
    T(flock(f2, LOCK_SH | LOCK_NB));
    T(flock(f1, LOCK_EX | LOCK_NB));  /* the upgrade drops f1's shared lock first */
    T(flock(f2, LOCK_UN));
    T(flock(f1, LOCK_EX | LOCK_NB));
    child = fork();
    if (child == 0) {
        T(flock(f1, LOCK_EX | LOCK_NB));  /* inherited: the same open file */
        close(f1);
        close(f1dup);
        int f3 = open("db", O_RDONLY);
        T(flock(f3, LOCK_SH | LOCK_NB));
        say(to_parent[1], 'f');
        T(flock(f3, LOCK_SH));  /* waits until the parent closes its last f1 descriptor */
        puts("child flock shared after parent closed");
        fflush(stdout);
        _exit(0);
    }
    hear(to_parent[0]);
    usleep(20000);
    close(f1dup);
    puts("parent closed f1");
    fflush(stdout);
    close(f1);
    waitpid(child, &status, 0);
    printf("child status %d\n", status);
    T(flock(f2, 99));
    T(flock(f2, LOCK_NB));
    T(flock(77, LOCK_SH));
    T(flock(opath, LOCK_SH));
    unlink("db");
    return 0;
}
