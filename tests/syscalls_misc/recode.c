/* Code replaced by read(2): a page runs a function, is made writable, read(2) stores a
 * new function into it from a pipe (a store by the kernel, not by the guest), and it is
 * made executable again and run. The new code must run, not the code translated from
 * the page before (the coffer's kernel stores small copies straight into host memory). */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*function)(void);
static const unsigned char RETURN_42[] = {0xb8, 42, 0, 0, 0, 0xc3}; /* mov eax, 42; ret */
static const unsigned char RETURN_7[] = {0xb8, 7, 0, 0, 0, 0xc3};   /* mov eax, 7; ret */

int main(void)
{
    long page_size = sysconf(_SC_PAGESIZE);
    unsigned char *page = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fds[2];
    if (page == MAP_FAILED || pipe(fds) != 0) { perror("setup"); return 1; }
    memcpy(page, RETURN_42, sizeof RETURN_42);
    if (mprotect(page, page_size, PROT_READ | PROT_EXEC) != 0) { perror("mprotect"); return 1; }
    int before = ((function)page)();
    if (mprotect(page, page_size, PROT_READ | PROT_WRITE) != 0) { perror("mprotect"); return 1; }
    if (write(fds[1], RETURN_7, sizeof RETURN_7) != sizeof RETURN_7
        || read(fds[0], page, sizeof RETURN_7) != sizeof RETURN_7) { perror("rw"); return 1; }
    if (mprotect(page, page_size, PROT_READ | PROT_EXEC) != 0) { perror("mprotect"); return 1; }
    int after = ((function)page)();
    printf("before %d, after %d\n", before, after);
    return 0;
}
