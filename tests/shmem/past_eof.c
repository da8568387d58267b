/* SIGBUS past the end of a shared file mapping (mm/filemap.c, shmem_fault):
 * a page wholly past the file's last page raises SIGBUS with BUS_ADRERR and the
 * faulting address; the last partial page reads zeros past the end; growing the
 * file with ftruncate or write(2) makes the pages reachable, truncating fences
 * them again, in a forked child's mapping too; the kernel's own copy through such
 * a pointer is EFAULT; a write to a read-only mapping there is SIGSEGV
 * (SEGV_ACCERR) first. (MAP_PRIVATE file mappings: private_map.c.) */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_probe.h"

int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);

    char name[] = "past_eof_XXXXXX";
    int fd = mkstemp(name);
    unlink(name);
    if (write(fd, "hello", 5) != 5) return 1;
    char *m = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return 2;
    printf("first page: %s, tail byte %d\n", probe(m + 100, 0), m[page - 1]);
    printf("second page read: %s\n", probe(m + page + 8, 0));
    printf("third page write: %s\n", probe(m + 2 * page, 1));
    errno = 0;
    ssize_t n = write(1, m + page, 4);
    printf("write(2) from past the end: %zd errno=%s\n", n,
           errno == EFAULT ? "EFAULT" : strerror(errno));

    ftruncate(fd, page + 1);
    printf("after growth, second page: %s, third: %s\n", probe(m + page, 1),
           probe(m + 2 * page, 0));
    char buf[2 * 4096] = {0};
    pwrite(fd, buf, sizeof buf, page);  /* the file now ends inside the third page */
    printf("after write(2), third page: %s\n", probe(m + 2 * page + 16, 1));

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        ftruncate(fd, 10);
        printf("child after truncate: %s\n", probe(m + page, 0));
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("parent after child's truncate: %s, first page %s\n", probe(m + page + 4, 1),
           probe(m, 1));

    char *ro = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd, 0);
    printf("read-only mapping written past the end: %s\n", probe(ro + page, 1));

    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGBUS, &dfl, NULL);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        (void)*(volatile char *)(m + 2 * page);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    printf("default action: %s %d\n", WIFSIGNALED(status) ? "killed by" : "exited",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return 0;
}
