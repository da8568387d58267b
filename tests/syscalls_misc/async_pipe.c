/* Signal-driven I/O on a pipe: with O_ASYNC and an owner, each write tells the
 * read end's owner (SIGIO, or the F_SETSIG signal with si_code POLL_IN, si_fd and
 * si_band), each read tells the write end's (POLL_OUT), and the last close of one
 * side tells both. F_GETFL shows O_ASYNC, also on a regular file. */
#include "check.h"
#include <signal.h>

static volatile sig_atomic_t count, last_sig, last_code, last_fd;
static volatile long last_band;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    count++;
    last_sig = sig;
    last_code = si->si_code;
    last_fd = si->si_fd;
    last_band = si->si_band;
}

static void report(const char *what)
{
    printf("%s: %d signal(s), last %s code %#x", what, (int)count,
           last_sig == SIGIO ? "SIGIO" : last_sig == SIGRTMIN + 2 ? "SIGRTMIN+2" : "none",
           (unsigned)last_code);
    if (last_sig != SIGIO)
        printf(" fd %d band %#lx", (int)last_fd, last_band);
    printf("\n");
    fflush(stdout);
    count = last_sig = last_code = last_fd = last_band = 0;
}

int main(void)
{
    struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO};
    sigaction(SIGIO, &sa, NULL);
    sigaction(SIGRTMIN + 2, &sa, NULL);
    int p[2];
    pipe(p);
    char buf[16];

    T(write(p[1], "a", 1)); /* no O_ASYNC yet */
    report("plain write");
    T(fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK));
    T((fcntl(p[0], F_GETFL) & (O_ASYNC | O_NONBLOCK)) == (O_ASYNC | O_NONBLOCK));
    T(write(p[1], "b", 1)); /* O_ASYNC but no owner */
    report("no owner");
    T(fcntl(p[0], F_SETOWN, getpid()));
    T(write(p[1], "c", 1));
    report("owner, SIGIO");
    T(fcntl(p[0], F_SETSIG, SIGRTMIN + 2));
    T(write(p[1], "de", 2));
    report("F_SETSIG");
    T(read(p[0], buf, sizeof buf)); /* the write end is not O_ASYNC */
    report("read");
    T(fcntl(p[1], F_SETFL, O_ASYNC));
    T(fcntl(p[1], F_SETOWN, getpid()));
    T(fcntl(p[1], F_SETSIG, SIGRTMIN + 2));
    T(write(p[1], "f", 1));
    report("write, both ends async");
    T(read(p[0], buf, sizeof buf));
    report("read, both ends async");
    T(fcntl(p[0], F_SETFL, O_NONBLOCK));
    T(write(p[1], "g", 1));
    report("read end no longer async");
    T(fcntl(p[0], F_SETFL, O_ASYNC));
    T(close(p[1]));
    report("writer closed");

    int fd = open("f", O_CREAT | O_RDWR, 0600);
    T(fcntl(fd, F_SETFL, O_ASYNC));
    T((fcntl(fd, F_GETFL) & O_ASYNC) != 0);
    T(unlink("f"));
    return 0;
}
