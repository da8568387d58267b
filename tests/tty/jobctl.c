/* Job control and packet mode on a pty, as shells and terminal programs use them.
 * A session leader with the slave as its controlling terminal puts a child in a
 * background process group: the child's read gets SIGTTIN, its TIOCSPGRP and (with
 * TOSTOP) its write get SIGTTOU, EIO when SIGTTIN is ignored, and ignored SIGTTOU
 * lets the call through; a stopped child is seen by waitpid(WUNTRACED). On the
 * master, TIOCPKT prefixes each read with a status byte (TIOCPKT_DATA) and reports
 * flushes and flow-control changes; TIOCGPKT reads the mode back. Closing the
 * master sends SIGHUP to the session leader. */
#include "check.h"
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>

static volatile sig_atomic_t got;

static void on_signal(int sig)
{
    got = sig;
}

static void drain(int master)
{
    char buf[256];
    int flags = fcntl(master, F_GETFL);
    fcntl(master, F_SETFL, flags | O_NONBLOCK);
    ssize_t n = read(master, buf, sizeof buf);
    fcntl(master, F_SETFL, flags);
    printf("master reads %zd:", n);
    for (ssize_t i = 0; i < n; i++)
        printf(buf[i] > ' ' && buf[i] < 127 ? "%c" : "<%02x>", (unsigned char)buf[i]);
    printf("\n");
    fflush(stdout);
}

static int priority_ready(int fd)
{
    struct pollfd p = {fd, POLLPRI, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLPRI);
}

static const char *signame(int sig)
{
    return sig == SIGTTIN ? "SIGTTIN" : sig == SIGTTOU ? "SIGTTOU" : sig == SIGHUP ? "SIGHUP"
           : sig ? "other" : "none";
}

/* The background child: each call that touches the terminal, and the signal it got. */
static void background(int slave)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTTIN, &sa, NULL); /* no SA_RESTART: the call fails with EINTR */
    sigaction(SIGTTOU, &sa, NULL);
    char c;
    pid_t fg = getpgrp();
    got = 0;
    T(read(slave, &c, 1));
    printf("  got %s\n", signame(got));
    got = 0;
    T(ioctl(slave, TIOCSPGRP, &fg));
    printf("  got %s\n", signame(got));
    got = 0;
    T(write(slave, "bg\n", 3)); /* TOSTOP is off: allowed */
    printf("  got %s\n", signame(got));
    struct termios t;
    tcgetattr(slave, &t);
    t.c_lflag |= TOSTOP;
    got = 0;
    T(tcsetattr(slave, TCSANOW, &t)); /* a background change of settings */
    printf("  got %s\n", signame(got));
    signal(SIGTTOU, SIG_IGN);
    T(tcsetattr(slave, TCSANOW, &t)); /* ignored SIGTTOU: allowed */
    sigaction(SIGTTOU, &sa, NULL);
    got = 0;
    T(write(slave, "bg2\n", 4)); /* TOSTOP is on */
    printf("  got %s\n", signame(got));
    signal(SIGTTOU, SIG_IGN);
    T(write(slave, "bg3\n", 4));
    signal(SIGTTIN, SIG_IGN);
    T(read(slave, &c, 1)); /* ignored SIGTTIN: EIO */
    fflush(stdout);
}

int main(void)
{
    int master = T(posix_openpt(O_RDWR | O_NOCTTY));
    grantpt(master);
    unlockpt(master);
    char *name = ptsname(master);
    int mode = -1;

    /* packet mode, before any session: TIOCGPKT, the data byte, flushes, flow */
    T(ioctl(master, TIOCGPKT, &mode));
    printf("packet mode %d\n", mode);
    int one = 1;
    T(ioctl(master, TIOCPKT, &one));
    T(ioctl(master, TIOCGPKT, &mode));
    printf("packet mode %d\n", mode);
    int slave = T(open(name, O_RDWR | O_NOCTTY));
    struct termios t;
    tcgetattr(slave, &t);
    t.c_oflag &= ~OPOST;
    t.c_lflag &= ~ECHO;
    tcsetattr(slave, TCSANOW, &t);
    drain(master);
    T(write(slave, "hi", 2));
    drain(master);
    printf("POLLPRI %d\n", priority_ready(master));
    T(tcflush(slave, TCIFLUSH));
    printf("POLLPRI %d\n", priority_ready(master));
    drain(master);
    T(tcflush(slave, TCOFLUSH));
    drain(master);
    T(tcflush(slave, TCIOFLUSH));
    drain(master);
    t.c_iflag &= ~IXON;
    T(tcsetattr(slave, TCSANOW, &t));
    drain(master);
    t.c_iflag |= IXON;
    T(tcsetattr(slave, TCSANOW, &t));
    drain(master);
    T(write(slave, "x", 1));
    drain(master);
    T(ioctl(slave, TIOCPKT, &one));
    T(ioctl(slave, TIOCGPKT, &mode));
    int zero = 0;
    T(ioctl(master, TIOCPKT, &zero));
    T(write(slave, "y", 1));
    drain(master);
    close(slave);

    /* a session with the slave as its terminal, and a background job */
    int ready[2];
    pipe(ready);
    fflush(stdout);
    pid_t leader = fork();
    if (leader == 0) {
        close(master); /* the parent's close hangs the terminal up */
        T(setsid() == getpid());
        int tty = T(open(name, O_RDWR));
        pid_t me = getpid(), fg = -1;
        T(ioctl(tty, TIOCGPGRP, &fg));
        printf("foreground is the leader: %d\n", fg == me);
        fflush(stdout);
        pid_t job = fork();
        if (job == 0) {
            setpgid(0, 0);
            background(tty);
            _exit(0);
        }
        setpgid(job, job);
        int status;
        waitpid(job, &status, 0);
        printf("job exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        /* a background job that does not catch SIGTTIN stops */
        job = fork();
        if (job == 0) {
            setpgid(0, 0);
            char c;
            read(tty, &c, 1);
            _exit(7);
        }
        setpgid(job, job);
        T(waitpid(job, &status, WUNTRACED) == job);
        printf("stopped %d by %s\n", WIFSTOPPED(status),
               signame(WIFSTOPPED(status) ? WSTOPSIG(status) : 0));
        fflush(stdout);
        kill(job, SIGKILL);
        waitpid(job, &status, 0);
        /* the leader hears of the master's close */
        signal(SIGHUP, on_signal);
        got = 0;
        write(ready[1], "r", 1);
        while (!got)
            pause();
        printf("leader got %s\n", signame(got));
        T(read(tty, &fg, 1));
        fflush(stdout);
        _exit(0);
    }
    char r;
    T(read(ready[0], &r, 1));
    close(master); /* no line here: the leader prints at once, in either order natively */
    int status;
    T(waitpid(leader, &status, 0) == leader);
    printf("leader exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
