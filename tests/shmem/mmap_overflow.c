/* mmap of a file at offsets near the largest file size: file_mmap_ok's EOVERFLOW when
 * the mapping would end past MAX_LFS_FILESIZE, and a mapping that ends just inside it
 * (a page wholly past EOF: SIGBUS on access, not tried here). The fuzzer's mmap at an
 * offset near 2^64 once oopsed the coffer's kernel. */
#include "check.h"
#include <sys/mman.h>

int main(void)
{
    int fd = T(open("f", O_RDWR | O_CREAT | O_TRUNC, 0600));
    T(ftruncate(fd, 4096));
    long page = 4096;
    off_t last = (off_t)((~0ULL >> 1) & ~(unsigned long long)(page - 1)); /* 2^63 - 4096 */
    void *p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, last - page);
    printf("mmap just inside: %s\n", p == MAP_FAILED ? strerror(errno) : "mapped");
    if (p != MAP_FAILED)
        T(munmap(p, page));
    p = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd, last);
    printf("mmap past the largest file: %s\n", p == MAP_FAILED ? strerrorname_np(errno) : "mapped");
    p = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, (off_t)0xfffffffffffff000ULL);
    printf("mmap at 2^64 - 4096: %s\n", p == MAP_FAILED ? strerrorname_np(errno) : "mapped");
    T(close(fd));
    T(unlink("f"));
    return 0;
}
