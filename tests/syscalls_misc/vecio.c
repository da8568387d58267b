/* Vectors at an offset (preadv, pwritev, preadv2, pwritev2) and the round-robin
 * interval, as CPython's test_posix uses them (test_preadv, test_pwritev,
 * test_preadv_flags, test_sched_rr_get_interval). Prints results, data and errno
 * names; the interval only as a relation, since it depends on the CPU count. */
#include "check.h"
#include <sched.h>
#include <time.h>

static char a[6], b[4], c[3];
static volatile int iov_bad = -1;  /* volatile: gcc must not see the bad values */
static struct iovec *volatile bad_iov = BAD_POINTER;

static struct iovec three[3] = {{a, 5}, {b, 3}, {c, 2}};
static struct iovec gaps[3] = {{a, 0}, {b, 3}, {c, 2}};  /* an empty vector first */

static void show_bufs(void)
{
    printf("bufs [%.5s] [%.3s] [%.2s]\n", a, b, c);
    memset(a, '.', sizeof a);
    memset(b, '.', sizeof b);
    memset(c, '.', sizeof c);
}

static void show_file(int fd)
{
    char all[64] = {0};
    long n = pread(fd, all, sizeof all - 1, 0);
    printf("file %ld [%s] pos %ld\n", n, all, (long)lseek(fd, 0, SEEK_CUR));
}

int main(void)
{
    struct iovec out[2] = {{"test1tt2", 8}, {"t3t5t6t6t8", 10}};
    struct timespec ts;
    int pipefd[2];
    int fd = T(open("data", O_RDWR | O_CREAT | O_TRUNC, 0600));
    T(pwritev(fd, out, 2, 0));
    show_file(fd);
    T(preadv(fd, three, 3, 3));
    show_bufs();
    T(lseek(fd, 0, SEEK_CUR));
    T(preadv2(fd, three, 3, 3, RWF_HIPRI));
    show_bufs();
    T(preadv2(fd, three, 3, 0, RWF_DSYNC | RWF_SYNC));
    show_bufs();
    T(preadv2(fd, three, 3, -1, 0));  /* the file's own offset, and it moves */
    show_bufs();
    T(lseek(fd, 0, SEEK_CUR));
    T(preadv(fd, gaps, 3, 1));  /* an empty vector is skipped, not the end */
    show_bufs();
    struct iovec holey[3] = {{"zz", 0}, {"XY", 2}, {"", 0}};
    T(pwritev(fd, holey, 3, 1));
    show_file(fd);
    T(preadv2(fd, three, 3, 16, 0));  /* short at the end of the file */
    show_bufs();
    T(preadv2(fd, three, 3, 100, 0));
    T(preadv2(fd, three, 3, 0, 0x10000));  /* a flag Linux does not know */
    T(preadv(fd, three, 3, -5));
    T(preadv(-1, three, 3, 0));
    T(preadv(fd, three, iov_bad, 0));
    T(preadv(fd, bad_iov, 1, 0));
    T(pwritev(fd, out, 1, 20));  /* past the end: a hole of zeros */
    T(pwritev2(fd, out, 1, 2, RWF_APPEND));  /* at the end whatever the offset */
    T(lseek(fd, 0, SEEK_SET));
    T(pwritev2(fd, out + 1, 1, -1, 0));
    show_file(fd);
    T(pwritev2(fd, out, 1, -1, RWF_APPEND));
    show_file(fd);
    T(pwritev2(fd, out, 1, 0, 0x10000));
    T(close(fd));
    fd = T(open("data", O_RDONLY));
    T(pwritev(fd, out, 1, 0));
    T(close(fd));
    T(unlink("data"));

    T(pipe(pipefd));
    T(preadv(pipefd[0], three, 3, 0));  /* ESPIPE */
    T(preadv2(pipefd[0], three, 3, -1, RWF_NOWAIT));  /* empty: EAGAIN, not a sleep */
    T(pwritev2(pipefd[1], out, 2, -1, RWF_NOWAIT));
    T(preadv2(pipefd[0], three, 3, -1, RWF_NOWAIT));
    show_bufs();
    T(fcntl(pipefd[0], F_GETFL) & O_NONBLOCK);  /* the flag was for one call only */

    T(sched_rr_get_interval(0, &ts));
    T(ts.tv_sec == 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
    T(sched_rr_get_interval(-1, &ts));
    T(sched_rr_get_interval(0x3fffff, &ts));
    T(sched_rr_get_interval(0, BAD_POINTER));
    struct sched_param fifo = {1};
    if (sched_setscheduler(0, SCHED_FIFO, &fifo) == 0) {  /* root: real-time classes */
        T(sched_rr_get_interval(0, &ts));
        printf("fifo %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
        T(sched_setscheduler(0, SCHED_RR, &fifo));
        T(sched_rr_get_interval(0, &ts));
        printf("rr %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    }
    return 0;
}
