/* A pty as a controlling terminal: forkpty's child is a session leader whose
 * terminal is the slave (setsid fails, /dev/tty opens, tcgetsid and tcgetpgrp name
 * it); ^C typed at the master interrupts its read with SIGINT; a line reaches it
 * with its echo; closing the master hangs it up with SIGHUP. */
#include "check.h"
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>

static int report[2];
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) { interrupted = 1; }
static void on_sighup(int sig)
{
    (void)!write(report[1], "hup\n", 4);
    _exit(7);
}

/* Read the master until `marker` has come, then print what came (CR LF as \n). */
static char pending[4096];
static size_t have;
static void expect(int master, const char *marker)
{
    while (!memmem(pending, have, marker, strlen(marker))) {
        ssize_t n = read(master, pending + have, sizeof pending - 1 - have);
        if (n <= 0) {
            printf("master read %zd %s\n", n, n ? strerrorname_np(errno) : "");
            return;
        }
        have += n;
    }
    char *end = (char *)memmem(pending, have, marker, strlen(marker)) + strlen(marker);
    printf("master: ");
    for (char *p = pending; p < end; p++)
        printf(*p == '\r' ? "<cr>" : *p == '\n' ? "<nl>" : "%c", *p);
    printf("\n");
    have -= end - pending;
    memmove(pending, end, have);
}

/* Wait until `pid` sleeps (its read of the terminal), so that ^C finds it there. */
static void wait_sleeping(pid_t pid)
{
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (;;) {
        FILE *f = fopen(path, "r");
        char *end = f && fgets(stat, sizeof stat, f) ? strrchr(stat, ')') : NULL;
        if (f)
            fclose(f);
        if (end && end[1] == ' ' && end[2] == 'S')
            return;
        usleep(1000);
    }
}

static void child(void)
{
    char line[64];
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;                 /* no SA_RESTART: read fails with EINTR */
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_sighup;
    sigaction(SIGHUP, &sa, NULL);
    setvbuf(stdout, NULL, _IONBF, 0);
    T(setsid());                               /* already a session leader: EPERM */
    T(isatty(1));
    T(tcgetsid(0) == getpid());
    T(tcgetpgrp(0) == getpid());
    int tty = T(open("/dev/tty", O_RDWR));
    T(write(tty, "via /dev/tty\n", 13));
    T(ioctl(0, TIOCSCTTY, 0));                 /* already ours: 0 */
    printf("ready\n");
    ssize_t n = read(0, line, sizeof line);
    printf("read %zd %s interrupted %d\n", n, n < 0 ? strerrorname_np(errno) : "",
           interrupted);
    n = read(0, line, sizeof line);
    printf("got %zd %.*s", n, (int)n, line);
    printf("waiting\n");
    for (;;)
        pause();
}

int main(void)
{
    int master, status;
    char buf[16];
    T(pipe(report));
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    if (pid == 0)
        child();
    T(pid > 0);
    expect(master, "ready\r\n");
    wait_sleeping(pid);
    T(write(master, "\003", 1));
    expect(master, "interrupted 1\r\n");
    T(write(master, "hello\n", 6));
    expect(master, "waiting\r\n");
    T(close(master));
    ssize_t n = read(report[0], buf, sizeof buf);
    printf("child says %.*s", (int)n, buf);
    T(waitpid(pid, &status, 0) == pid);
    printf("exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
    return 0;
}
