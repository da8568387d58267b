/* fcntl's owner, signal and pipe-size commands: F_SETOWN / F_GETOWN (raw, as glibc
 * turns F_GETOWN into F_GETOWN_EX), F_SETOWN_EX / F_GETOWN_EX, F_SETSIG /
 * F_GETSIG, and F_SETPIPE_SZ / F_GETPIPE_SZ, whose new size really bounds what a
 * write can put in the pipe; EPERM past pipe-max-size once root has given up its
 * capabilities. */
#include "check.h"
#include <signal.h>
#include <sys/wait.h>

static long raw_fcntl(int fd, int cmd, long arg) { return syscall(SYS_fcntl, fd, cmd, arg); }

/* F_GETOWN_EX, then the raw F_GETOWN - except for a process group: its negative
 * answer reads as an error when the group's id is below 4096 (an errno's range). */
static void show_owner(int fd)
{
    struct f_owner_ex ex = {.type = 99, .pid = 99};
    long r = raw_fcntl(fd, F_GETOWN_EX, (long)&ex);
    printf("getown_ex = %ld type %d pid %s\n", r, ex.type, ex.pid == getpid() ? "self"
           : ex.pid == getpgrp() ? "pgrp" : ex.pid == 0 ? "0" : "other");
    if (ex.type != F_OWNER_PGRP) {
        long own = raw_fcntl(fd, F_GETOWN, 0);
        printf("getown = %s\n", own == getpid() ? "self" : own == 0 ? "0" : "other");
    }
    fflush(stdout);
}

/* Fill a non-blocking pipe and say how much it took. */
static long fill(int rd, int wr)
{
    static char chunk[4096];
    long total = 0;
    for (;;) {
        ssize_t n = write(wr, chunk, sizeof chunk);
        if (n < 0)
            break;
        total += n;
    }
    char sink[4096];
    while (read(rd, sink, sizeof sink) > 0)
        ;
    return total;
}

int main(void)
{
    int p[2];
    pipe2(p, O_NONBLOCK);
    int file = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);

    /* Owner. */
    show_owner(file);
    T(raw_fcntl(file, F_SETOWN, getpid()));
    show_owner(file);
    T(raw_fcntl(file, F_SETOWN, -getpgrp()));
    show_owner(file);
    T(raw_fcntl(file, F_SETOWN, 999999));
    T(raw_fcntl(file, F_SETOWN, -2147483647 - 1));
    struct f_owner_ex ex = {.type = F_OWNER_TID, .pid = getpid()};
    T(raw_fcntl(file, F_SETOWN_EX, (long)&ex));
    show_owner(file);
    ex.type = 7;
    T(raw_fcntl(file, F_SETOWN_EX, (long)&ex));
    ex.type = F_OWNER_PID;
    ex.pid = 999999;
    T(raw_fcntl(file, F_SETOWN_EX, (long)&ex));
    T(raw_fcntl(file, F_SETOWN_EX, (long)BAD_POINTER));
    T(raw_fcntl(file, F_GETOWN_EX, (long)BAD_POINTER));
    T(raw_fcntl(file, F_SETOWN, 0));
    show_owner(file);
    T(fcntl(p[0], F_SETOWN, getpid()));
    T(fcntl(p[0], F_GETOWN) == getpid());

    /* The signal. */
    T(fcntl(file, F_GETSIG));
    T(fcntl(file, F_SETSIG, SIGRTMIN + 1) );
    T(fcntl(file, F_GETSIG) == SIGRTMIN + 1);
    T(fcntl(file, F_SETSIG, 65));
    T(fcntl(file, F_SETSIG, -1));
    T(fcntl(file, F_SETSIG, 64));
    T(fcntl(file, F_GETSIG));
    T(fcntl(file, F_SETSIG, 0));
    T(fcntl(file, F_GETSIG));
    int dup = fcntl(file, F_DUPFD, 10);
    T(fcntl(file, F_SETSIG, SIGUSR1));
    T(fcntl(dup, F_GETSIG)); /* one open file description, one signal */
    int other = open("f", O_RDONLY);
    T(fcntl(other, F_GETSIG));

    /* Pipe sizes. */
    T(fcntl(p[0], F_GETPIPE_SZ));
    T(fcntl(p[1], F_GETPIPE_SZ));
    T(fcntl(file, F_GETPIPE_SZ));
    T(fcntl(file, F_SETPIPE_SZ, 8192));
    T(fill(p[0], p[1]));
    T(fcntl(p[1], F_SETPIPE_SZ, 0));
    T(fill(p[0], p[1]));
    T(fcntl(p[1], F_SETPIPE_SZ, 5000));
    T(fcntl(p[0], F_GETPIPE_SZ));
    T(fill(p[0], p[1]));
    T(fcntl(p[1], F_SETPIPE_SZ, 100000));
    T(fill(p[0], p[1]));
    T(write(p[1], "x", 1) + write(p[1], (char[8192]){0}, 8192));
    T(fcntl(p[1], F_SETPIPE_SZ, 4096));  /* the data takes three pages */
    T(fcntl(p[1], F_SETPIPE_SZ, 16384));
    T(fill(p[0], p[1]));
    T(fcntl(p[1], F_SETPIPE_SZ, 3000000000UL));
    T(fcntl(p[1], F_SETPIPE_SZ, 1048576));
    T(fcntl(p[1], F_SETPIPE_SZ, 65536));
    fflush(stdout);

    pid_t child = fork();
    if (child == 0) { /* without CAP_SYS_RESOURCE: pipe-max-size is the limit */
        if (setuid(65534) != 0)
            _exit(3);
        T(fcntl(p[1], F_SETPIPE_SZ, 1048576));
        T(fcntl(p[1], F_SETPIPE_SZ, 1048577));
        T(fcntl(p[1], F_SETPIPE_SZ, 4096));  /* shrinking is always allowed */
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", status);
    T(fcntl(p[0], F_GETPIPE_SZ));
    unlink("f");
    return 0;
}
