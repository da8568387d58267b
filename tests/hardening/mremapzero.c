/* mremapzero: the two mremap calls a 1,000,000-call fuzz campaign found oopsing.
 *
 * Each asked the engine to drop translated code over an empty range (UC_ERR_ARG):
 * a same-size mremap of the last page below the stack, and a zero-length source
 * moved with MREMAP_MAYMOVE|MREMAP_FIXED onto a mapped page.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static void show(const char *what, void *got)
{
    if (got == MAP_FAILED)
        printf("%s: %s\n", what, strerrorname_np(errno));
    else
        printf("%s: ok\n", what);
}

int main(void)
{
    char *area = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    area[0] = 1;
    show("same size", mremap(area + 0xf000, 0x1000, 0x1000, 0));
    show("zero length, fixed", mremap(area, 0, 0x8000, MREMAP_MAYMOVE | MREMAP_FIXED,
                                      area + 0x8000));
    char *shared = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    show("shared zero length, fixed", mremap(shared, 0, 0x4000, MREMAP_MAYMOVE | MREMAP_FIXED,
                                             area + 0x8000));
    printf("first byte %d\n", area[0]);
    return 0;
}
