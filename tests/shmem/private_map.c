/* MAP_PRIVATE file mappings as Linux has them (mm/memory.c do_cow_fault, mm/filemap.c):
 * a page reads the file until the process stores to it, when that page is copied;
 * a page not yet stored to sees later changes of the file, by write(2) and by
 * another process's MAP_SHARED mapping; a store never reaches the file; after
 * fork the child sees the parent's copies and the file's pages, and the two
 * copy apart; MADV_DONTNEED drops the copies; the tail of the last partial page
 * reads zeros; a page wholly past the end of the file is SIGBUS (BUS_ADRERR)
 * for reads and writes, and follows the file as it grows and shrinks. */
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

#define PROBE_BYTE 'w'
#include "fault_probe.h"

static char at(int fd, long offset) {
    char c = '?';
    if (pread(fd, &c, 1, offset) != 1) return '!';
    return c;
}

int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);

    char name[] = "private_map_XXXXXX";
    int fd = mkstemp(name);
    unlink(name);
    char *fill = malloc(3 * page);
    memset(fill, 'a', page);
    memset(fill + page, 'b', page);
    memset(fill + 2 * page, 'c', page);
    if (write(fd, fill, 2 * page + 100) != 2 * page + 100) return 1;  /* 3rd page partial */

    char *m = mmap(NULL, 5 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) return 2;
    printf("reads the file: %c %c %c, tail of the last page %d %d\n", m[0], m[page],
           m[2 * page + 99], m[2 * page + 100], m[3 * page - 1]);

    m[10] = 'P';  /* the first page is copied */
    printf("store: mapping %c, file %c\n", m[10], at(fd, 10));
    pwrite(fd, "WW", 2, 10);
    pwrite(fd, "XX", 2, page + 10);
    printf("after write(2): copied page %c%c, untouched page %c%c\n", m[10], m[11],
           m[page + 10], m[page + 11]);

    /* another process's shared mapping of the file */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *s = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (s == MAP_FAILED) _exit(3);
        s[page + 20] = 'S';
        s[30] = 'S';
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("after a shared store: untouched page %c, copied page %c, file %c\n",
           m[page + 20], m[30], at(fd, 30));

    /* fork: the child sees the parent's copies and the file, and they copy apart */
    m[page + 40] = 'Q';  /* the second page is copied too, after the shared store */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        printf("child sees: %c %c %c\n", m[10], m[page + 40], m[2 * page + 5]);
        m[10] = 'C';
        m[2 * page + 6] = 'C';
        pwrite(fd, "Z", 1, 2 * page + 7);
        printf("child after its stores: %c %c %c, file %c\n", m[10], m[2 * page + 6],
               m[2 * page + 7], at(fd, 2 * page + 6));
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    printf("parent after the child: %c %c %c %c\n", m[10], m[page + 40], m[2 * page + 6],
           m[2 * page + 7]);

    /* MADV_DONTNEED drops the copies: the file's bytes show again */
    madvise(m, 2 * page, MADV_DONTNEED);
    printf("after MADV_DONTNEED: %c%c %c %c\n", m[10], m[11], m[page + 40], m[page + 20]);

    /* past the end of the file */
    printf("fourth page read: %s\n", probe(m + 3 * page + 8, 0));
    printf("fifth page write: %s\n", probe(m + 4 * page, 1));
    errno = 0;
    ssize_t n = write(1, m + 3 * page, 4);
    printf("write(2) from past the end: %zd errno=%s\n", n,
           errno == EFAULT ? "EFAULT" : strerror(errno));
    ftruncate(fd, 4 * page + 1);
    printf("after growth: fourth page %s (%d), fifth %s\n", probe(m + 3 * page, 0),
           m[3 * page], probe(m + 4 * page + 1, 1));
    pwrite(fd, "G", 1, 3 * page + 2);
    printf("grown page follows the file: %c, fifth page kept its copy %c\n",
           m[3 * page + 2], m[4 * page + 1]);
    ftruncate(fd, page);
    printf("after truncation: second page %s, third %s\n", probe(m + page + 3, 0),
           probe(m + 2 * page, 1));

    ftruncate(fd, 5 * page);
    printf("grown again: the fifth page's copy went with the truncation: %d\n",
           m[4 * page + 1]);

    /* a read-only private mapping at an offset */
    ftruncate(fd, 3 * page);
    pwrite(fd, "offset", 6, 2 * page);
    char *r = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 2 * page);
    if (r == MAP_FAILED) return 4;
    printf("at an offset: %.6s, write: %s\n", r, probe(r, 1));
    pwrite(fd, "OFFSET", 6, 2 * page);
    printf("follows the file: %.6s\n", r);
    munmap(r, page);
    munmap(m, 5 * page);
    close(fd);
    free(fill);
    return 0;
}
