/* Directory notification, fcntl(F_NOTIFY): which changes to a directory's names and
 * files signal the watcher, with which signal and siginfo, a one-shot request used
 * up by its first event, DN_MULTISHOT kept, and the requests' errors. The signals
 * are blocked and collected with sigtimedwait after each change (dnotify sends them
 * from inside the call that made the change). */
#include "check.h"
#include <signal.h>
#include <time.h>

static int dfd;

/* Every signal queued so far, one line each: which, si_code, whether si_fd is dfd. */
static void collect(const char *after)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGIO);
    sigaddset(&set, SIGRTMIN + 1);
    struct timespec zero = {0, 0};
    siginfo_t si;
    int n = 0;
    int sig;
    while ((sig = sigtimedwait(&set, &si, &zero)) > 0) {
        printf("  after %s: %s code %d fd %s\n", after,
               sig == SIGIO ? "SIGIO" : "SIGRTMIN+1", si.si_code,
               sig == SIGIO ? "-" : (si.si_fd == dfd ? "dir" : "other"));
        n++;
    }
    printf("after %s: %d signal(s)\n", after, n);
    fflush(stdout);
}

int main(void)
{
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGIO);
    sigaddset(&block, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    T(mkdir("dn", 0755));
    dfd = open("dn", O_RDONLY | O_DIRECTORY);
    int ffd = T(open("dn-file", O_CREAT | O_RDWR, 0644));

    /* errors, and a request of DN_MULTISHOT alone (or 0): cancel */
    T(fcntl(ffd, F_NOTIFY, DN_CREATE));
    T(fcntl(dfd, F_NOTIFY, DN_MULTISHOT));
    T(fcntl(dfd, F_NOTIFY, 0));
    printf("owner before is none: %d\n", fcntl(dfd, F_GETOWN) == 0);

    /* plain SIGIO, multishot create and delete */
    T(fcntl(dfd, F_NOTIFY, DN_CREATE | DN_DELETE | DN_MULTISHOT));
    printf("owner is us: %d\n", fcntl(dfd, F_GETOWN) == getpid());
    close(T(open("dn/a", O_CREAT | O_WRONLY, 0644)));
    collect("create a");
    T(mkdir("dn/sub", 0755));
    collect("mkdir sub");
    T(rename("dn/a", "dn/b"));
    collect("rename (not asked)");
    T(unlink("dn/b"));
    collect("unlink b");
    T(rmdir("dn/sub"));
    collect("rmdir sub");

    /* F_SETSIG's signal with siginfo; requests add up; one-shot */
    T(fcntl(dfd, F_SETSIG, SIGRTMIN + 1));
    T(fcntl(dfd, F_NOTIFY, 0));
    T(fcntl(dfd, F_NOTIFY, DN_RENAME));
    T(fcntl(dfd, F_NOTIFY, DN_ATTRIB));
    close(T(open("dn/c", O_CREAT | O_WRONLY, 0644)));
    collect("create c (not asked)");
    T(chmod("dn/c", 0600));
    collect("chmod c");
    T(rename("dn/c", "dn/d"));
    collect("rename after the one shot");

    /* modify and access of a file in it, a rename out of it */
    T(fcntl(dfd, F_NOTIFY, DN_MODIFY | DN_ACCESS | DN_RENAME | DN_MULTISHOT));
    int fd = T(open("dn/d", O_RDWR));
    T(write(fd, "hello", 5));
    collect("write");
    char buf[8];
    T(pread(fd, buf, sizeof buf, 0));
    collect("pread");
    T(ftruncate(fd, 1));
    collect("ftruncate");
    close(fd);
    T(rename("dn/d", "dn-moved"));
    collect("rename out");
    T(unlink("dn-moved"));
    collect("unlink outside");

    /* closing the descriptor ends its requests */
    T(close(dfd));
    close(T(open("dn/e", O_CREAT | O_WRONLY, 0644)));
    T(rename("dn/e", "dn/f"));
    collect("rename after close");
    T(unlink("dn/f"));
    T(rmdir("dn"));
    close(ffd);
    T(unlink("dn-file"));
    return 0;
}
