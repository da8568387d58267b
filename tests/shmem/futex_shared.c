/* Shared futexes across fork: a child sleeps in FUTEX_WAIT on a word of a shared
 * page, at a different address in its own mapping than the parent's, and the
 * parent's FUTEX_WAKE (no FUTEX_PRIVATE_FLAG) reaches it; then the other way round. */
#include "check.h"
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

static long futex(volatile int *addr, int op, int val, const struct timespec *timeout)
{
    return syscall(SYS_futex, addr, op, val, timeout, NULL, 0);
}

int main(void)
{
    int fd = memfd_create("futexes", 0);
    ftruncate(fd, 4096);
    volatile int *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    struct timespec five = {5, 0};
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        /* The same page mapped a second time: another address, the same futex. */
        volatile int *b = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        while (b[0] == 0)
            if (futex(&b[0], FUTEX_WAIT, 0, &five) < 0 && errno == ETIMEDOUT)
                break;
        printf("child: woke with word %d\n", b[0]);
        fflush(stdout);
        b[1] = 1;
        futex(&b[1], FUTEX_WAKE, 1, NULL);
        _exit(0);
    }
    a[0] = 7;
    futex(&a[0], FUTEX_WAKE, 1, NULL);
    while (a[1] == 0)
        if (futex(&a[1], FUTEX_WAIT, 0, &five) < 0 && errno == ETIMEDOUT)
            break;
    printf("parent: answer %d\n", a[1]);
    int status;
    waitpid(child, &status, 0);
    printf("child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
