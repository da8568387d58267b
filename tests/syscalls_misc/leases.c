/* File leases: who may take one, and a break by another process's open. The
 * holder hears of the break by its F_SETSIG signal (si_code POLL_MSG, si_fd, si_band),
 * F_GETLEASE already shows what the lease will become, a non-blocking opener fails
 * with EWOULDBLOCK, and a blocking one waits until the holder gives way. */
#include "check.h"
#include <signal.h>
#include <sys/wait.h>

static volatile sig_atomic_t got, got_code, got_fd;
static volatile long got_band;

static void on_break(int sig, siginfo_t *si, void *uc)
{
    got = sig;
    got_code = si->si_code;
    got_fd = si->si_fd;
    got_band = si->si_band;
}

/* Wait for the break's signal, and for the opener to finish if it does not block. */
static void wait_break(sigset_t *old, int fd, pid_t opener)
{
    while (!got)
        sigsuspend(old);
    if (opener)
        waitpid(opener, NULL, 0);
    printf("signal %s code %d fd %s band %#lx\n", got == SIGUSR1 ? "SIGUSR1" : "other",
           (int)got_code, got_fd == fd ? "lease fd" : "other", got_band);
    got = 0;
    fflush(stdout);
}

int main(void)
{
    int rw = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(rw, "data", 4);
    int p[2];
    pipe(p);
    struct sigaction sa = {.sa_sigaction = on_break, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);

    /* Who may take which lease. */
    T(fcntl(rw, F_GETLEASE));
    T(fcntl(rw, F_SETLEASE, 7));
    T(fcntl(p[0], F_SETLEASE, F_RDLCK));
    T(fcntl(rw, F_SETLEASE, F_UNLCK));
    T(fcntl(rw, F_SETLEASE, F_RDLCK)); /* its own descriptor writes */
    T(fcntl(rw, F_SETLEASE, F_WRLCK)); /* the only open file: granted */
    T(fcntl(rw, F_SETLEASE, F_UNLCK));
    int ro = open("f", O_RDONLY);
    T(fcntl(ro, F_SETLEASE, F_RDLCK)); /* rw is still open for writing */
    T(fcntl(rw, F_SETLEASE, F_WRLCK)); /* ro is another open file */
    close(rw);
    T(fcntl(ro, F_SETLEASE, F_RDLCK));
    T(fcntl(ro, F_GETLEASE));
    int ro2 = open("f", O_RDONLY);  /* readers do not break a read lease */
    T(fcntl(ro2, F_SETLEASE, F_RDLCK)); /* and may take one too */
    T(fcntl(ro2, F_SETLEASE, F_UNLCK));
    T(fcntl(ro, F_SETLEASE, F_WRLCK)); /* ro2 is open */
    close(ro2);
    T(fcntl(ro, F_SETLEASE, F_WRLCK)); /* an upgrade, now that ro is alone */
    T(fcntl(ro, F_GETLEASE));
    T(fcntl(ro, F_SETSIG, SIGUSR1));
    T(fcntl(ro, F_GETOWN) == getpid());

    /* A non-blocking writer: EWOULDBLOCK, and the break has begun. */
    pid_t child = fork();
    if (child == 0) {
        close(ro); /* else the lease's open file lives on in the child too */
        T(open("f", O_WRONLY | O_NONBLOCK));
        _exit(0);
    }
    wait_break(&old, ro, child);
    T(fcntl(ro, F_GETLEASE)); /* going to F_UNLCK */
    T(fcntl(ro, F_SETLEASE, F_RDLCK)); /* a downgrade does not end the unlock pending */
    T(fcntl(ro, F_GETLEASE));
    T(fcntl(ro, F_SETLEASE, F_UNLCK));
    T(fcntl(ro, F_GETLEASE));
    T(fcntl(ro, F_GETSIG)); /* giving a lease up resets the owner and its signal */
    T(fcntl(ro, F_GETOWN));

    /* A blocking reader against a write lease: it waits for the downgrade. */
    T(fcntl(ro, F_SETLEASE, F_WRLCK));
    T(fcntl(ro, F_SETSIG, SIGUSR1));
    child = fork();
    if (child == 0) {
        close(ro);
        _exit(open("f", O_RDONLY) >= 0 ? 0 : errno); /* the parent prints when it is done */
    }
    wait_break(&old, ro, 0);
    T(fcntl(ro, F_GETLEASE)); /* going to F_RDLCK */
    T(fcntl(ro, F_SETLEASE, F_RDLCK));
    int status;
    waitpid(child, &status, 0);
    printf("child opened for reading: status %d\n", status);
    T(fcntl(ro, F_GETLEASE));

    /* A blocking writer against the read lease: it waits until the lease goes. */
    child = fork();
    if (child == 0) {
        close(ro);
        _exit(open("f", O_WRONLY) >= 0 ? 0 : errno); /* the parent prints when it is done */
    }
    wait_break(&old, ro, 0);
    T(fcntl(ro, F_GETLEASE));
    T(close(ro)); /* closing the file gives the lease up too */
    waitpid(child, &status, 0);
    printf("child opened for writing: status %d\n", status);

    /* truncate(2) breaks a lease as an open for writing does. */
    ro = open("f", O_RDONLY);
    T(fcntl(ro, F_SETLEASE, F_RDLCK));
    T(fcntl(ro, F_SETSIG, SIGUSR1));
    child = fork();
    if (child == 0) {
        close(ro);
        _exit(truncate("f", 1) == 0 ? 0 : errno);
    }
    wait_break(&old, ro, 0);
    T(fcntl(ro, F_GETLEASE));
    T(fcntl(ro, F_SETLEASE, F_UNLCK));
    waitpid(child, &status, 0);
    printf("child truncated: status %d\n", status);
    struct stat st;
    fstat(ro, &st);
    printf("size %ld\n", (long)st.st_size);
    unlink("f");
    return 0;
}
