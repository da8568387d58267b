/* POSIX record-lock deadlocks: F_SETLKW fails with EDEADLK when sleeping would
 * close a cycle of processes waiting for each other's locks - two processes, then
 * a cycle through three - and sleeps as usual when the chain has no cycle. */
#include "check.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static int lk(int fd, int cmd, short type, off_t start)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = 1};
    return fcntl(fd, cmd, &fl);
}

static void settle(void) { nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL); }

/* Wait until `pid` sleeps (its next sleep after saying it is ready is in F_SETLKW). */
static void wait_asleep(pid_t pid)
{
    char path[64], text[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (;;) {
        int fd = open(path, O_RDONLY);
        ssize_t n = read(fd, text, sizeof text - 1);
        close(fd);
        text[n > 0 ? n : 0] = 0;
        char *end = strrchr(text, ')');
        if (end && end[1] == ' ' && end[2] == 'S')
            return;
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    }
}

static void on_usr1(int sig) {}

static void say(int fd) { write(fd, "x", 1); }
static void hear(int fd) { char c; read(fd, &c, 1); }

int main(void)
{
    int fd = open("db", O_CREAT | O_RDWR | O_TRUNC, 0644);
    int ready[2];
    pipe(ready);

    /* Two processes: each holds one byte and wants the other's. */
    T(lk(fd, F_SETLK, F_WRLCK, 0));
    pid_t b = fork();
    if (b == 0) {
        lk(fd, F_SETLK, F_WRLCK, 1);
        say(ready[1]);
        int r = lk(fd, F_SETLKW, F_WRLCK, 0); /* sleeps until the parent gives way */
        _exit(r == 0 ? 0 : errno);
    }
    hear(ready[0]);
    wait_asleep(b);
    T(lk(fd, F_SETLKW, F_WRLCK, 1));
    T(lk(fd, F_SETLK, F_WRLCK, 1)); /* without waiting: a plain conflict */
    T(lk(fd, F_SETLKW, F_RDLCK, 5)); /* no conflict, no deadlock */
    T(lk(fd, F_SETLK, F_UNLCK, 0));
    int status;
    waitpid(b, &status, 0);
    printf("b status %d\n", status);

    /* Three: c holds 2 and waits for our 0, b holds 1 and waits for c's 2; we ask for 1. */
    T(lk(fd, F_SETLK, F_WRLCK, 0));
    pid_t c = fork();
    if (c == 0) {
        lk(fd, F_SETLK, F_WRLCK, 2);
        say(ready[1]);
        int r = lk(fd, F_SETLKW, F_WRLCK, 0);
        _exit(r == 0 ? 0 : errno);
    }
    hear(ready[0]);
    b = fork();
    if (b == 0) {
        lk(fd, F_SETLK, F_WRLCK, 1);
        say(ready[1]);
        int r = lk(fd, F_SETLKW, F_WRLCK, 2);
        _exit(r == 0 ? 0 : errno);
    }
    hear(ready[0]);
    wait_asleep(c);
    wait_asleep(b);
    T(lk(fd, F_SETLKW, F_WRLCK, 1));
    T(lk(fd, F_SETLK, F_UNLCK, 0)); /* c takes 0, ends; then b takes 2, ends */
    waitpid(c, &status, 0);
    printf("c status %d\n", status);
    waitpid(b, &status, 0);
    printf("b status %d\n", status);

    /* No cycle: the holder waits for nothing, so we sleep until it lets go. */
    pid_t d = fork();
    if (d == 0) {
        lk(fd, F_SETLK, F_WRLCK, 9);
        say(ready[1]);
        settle();
        _exit(0);
    }
    hear(ready[0]);
    T(lk(fd, F_SETLKW, F_WRLCK, 9));
    waitpid(d, &status, 0);
    printf("d status %d\n", status);
    /* A waiter interrupted by a signal waits no more: no deadlock through it. */
    pid_t e = fork();
    if (e == 0) {
        struct sigaction sa = {.sa_handler = on_usr1}; /* no SA_RESTART: EINTR */
        sigaction(SIGUSR1, &sa, NULL);
        lk(fd, F_SETLK, F_WRLCK, 1);
        say(ready[1]);
        int r = lk(fd, F_SETLKW, F_WRLCK, 0);
        int why = r == 0 ? 0 : errno;
        say(ready[1]);
        settle();
        _exit(why == EINTR ? 0 : 1);
    }
    T(lk(fd, F_SETLK, F_WRLCK, 0));
    hear(ready[0]);
    wait_asleep(e);
    kill(e, SIGUSR1);
    hear(ready[0]);
    T(lk(fd, F_SETLKW, F_WRLCK, 1)); /* sleeps until e exits */
    waitpid(e, &status, 0);
    printf("e status %d\n", status);
    close(fd);
    unlink("db");
    return 0;
}
