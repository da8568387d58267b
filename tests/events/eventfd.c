/* eventfd and eventfd2 (fs/eventfd.c): the counter, EFD_SEMAPHORE, EFD_NONBLOCK,
 * short buffers, the overflow limit, readiness for poll, and blocking reads and
 * writes that another process ends, across fork. */
#include "check.h"
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>

static void pause_ms(long ms)
{
    struct timespec delay = {0, ms * 1000000};
    nanosleep(&delay, NULL);
}

static int revents(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    poll(&p, 1, 0);
    return p.revents;
}

int main(void)
{
    uint64_t v = 0;
    int efd = T(eventfd(5, 0));
    printf("poll %#x\n", revents(efd));
    T(read(efd, &v, sizeof v));
    printf("read %llu\n", (unsigned long long)v);
    printf("poll %#x\n", revents(efd));
    v = 3;
    T(write(efd, &v, sizeof v));
    v = 4;
    T(write(efd, &v, sizeof v));
    char big[16] = {0};
    T(read(efd, big, sizeof big)); /* reads 8 bytes of a larger buffer */
    printf("read %llu\n", (unsigned long long)*(uint64_t *)big);
    T(read(efd, &v, 4));
    T(write(efd, &v, 4));
    v = UINT64_MAX;
    T(write(efd, &v, sizeof v));
    T(fcntl(efd, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
    T(lseek(efd, 10, SEEK_SET));
    T(pread(efd, &v, sizeof v, 0));
    T(syscall(SYS_eventfd2, 0, 0x4));
    T(syscall(SYS_eventfd2, 0, EFD_SEMAPHORE | 0x80));
    int raw = T(syscall(SYS_eventfd, 2));
    T(read(raw, &v, sizeof v));
    printf("raw eventfd read %llu\n", (unsigned long long)v);
    T(close(raw));

    int sem = T(eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC));
    T(fcntl(sem, F_GETFD));
    T(fcntl(sem, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
    T(read(sem, &v, sizeof v));
    printf("sem %llu\n", (unsigned long long)v);
    T(read(sem, &v, sizeof v));
    T(read(sem, &v, sizeof v));

    /* the overflow limit: the count stops at 2^64 - 2 */
    v = UINT64_MAX - 1;
    T(write(sem, &v, sizeof v));
    printf("poll at the limit %#x\n", revents(sem));
    v = 1;
    T(write(sem, &v, sizeof v));
    v = 0;
    T(write(sem, &v, sizeof v)); /* adding zero always fits */

    /* a blocking write at the limit waits for a reader in another process */
    int full = T(eventfd(0, 0));
    v = UINT64_MAX - 1;
    T(write(full, &v, sizeof v));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        pause_ms(10);
        uint64_t got;
        _exit(read(full, &got, sizeof got) == 8 && got == UINT64_MAX - 1 ? 0 : 1);
    }
    v = 9;
    T(write(full, &v, sizeof v));
    int status;
    waitpid(pid, &status, 0);
    printf("reader exited %d\n", WEXITSTATUS(status));
    T(read(full, &v, sizeof v));
    printf("after the wait %llu\n", (unsigned long long)v);

    /* a blocking read waits for a writer in another process */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        pause_ms(10);
        uint64_t one = 42;
        _exit(write(full, &one, sizeof one) == 8 ? 0 : 1);
    }
    T(read(full, &v, sizeof v));
    printf("read %llu from the child\n", (unsigned long long)v);
    waitpid(pid, &status, 0);
    printf("writer exited %d\n", WEXITSTATUS(status));
    T(close(efd));
    T(close(sem));
    T(close(full));
    T(read(full, &v, sizeof v));
    return 0;
}
