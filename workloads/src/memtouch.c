/* memtouch: page faults, mmap/munmap and heap growth.
 *
 * Allocates a region of M MiB (argv[1], default 8) with malloc and another with
 * mmap, writes one byte in every page of each (through volatile pointers, so the
 * compiler cannot drop the stores), checks that fresh anonymous pages read as
 * zero, sums what it wrote, unmaps and frees. Then it makes many small mallocs,
 * which grow the heap with brk, fills and sums them. The checksum printed
 * depends only on M, never on addresses, so native and simulated runs agree.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEFAULT_MIB 8L
#define BYTES_PER_MIB (1024L * 1024L)
#define SMALL_COUNT 8192
#define SMALL_BYTES 48
#define MIX UINT64_C(0x100000001B3)

static long parse_count(int argc, char **argv, long fallback)
{
    if (argc < 2)
        return fallback;
    char *end;
    errno = 0;
    long value = strtol(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || end == argv[1] || value < 1) {
        fprintf(stderr, "usage: %s [MiB >= 1]\n", argv[0]);
        exit(2);
    }
    return value;
}

/* Write one byte per page, read it back, fold it into the checksum. */
static uint64_t touch_pages(volatile unsigned char *base, long bytes, long page, uint64_t sum,
                            long *nonzero)
{
    for (long off = 0; off < bytes; off += page) {
        long index = off / page;
        if (nonzero != NULL && base[off] != 0)
            (*nonzero)++;
        base[off] = (unsigned char)(index * 7 + 1);
        sum = (sum ^ base[off]) * MIX;
    }
    return sum;
}

int main(int argc, char **argv)
{
    long mib = parse_count(argc, argv, DEFAULT_MIB);
    long bytes = mib * BYTES_PER_MIB;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t sum = 0;
    long nonzero = 0;

    unsigned char *heap = malloc((size_t)bytes);
    if (heap == NULL) {
        perror("malloc");
        return 1;
    }
    sum = touch_pages(heap, bytes, page, sum, NULL);
    free(heap);

    unsigned char *region = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    sum = touch_pages(region, bytes, page, sum, &nonzero);
    if (munmap(region, (size_t)bytes) != 0) {
        perror("munmap");
        return 1;
    }

    static unsigned char *small[SMALL_COUNT];
    for (int i = 0; i < SMALL_COUNT; i++) {
        small[i] = malloc(SMALL_BYTES);
        if (small[i] == NULL) {
            perror("malloc small");
            return 1;
        }
        memset(small[i], i & 0xff, SMALL_BYTES);
    }
    for (int i = 0; i < SMALL_COUNT; i++) {
        volatile unsigned char *block = small[i];
        sum = (sum ^ block[i % SMALL_BYTES]) * MIX;
        free(small[i]);
    }

    long pages = 2 * (bytes / page);
    printf("memtouch: %ld MiB malloc + %ld MiB mmap, %ld pages touched, %d small blocks\n", mib,
           mib, pages, SMALL_COUNT);
    printf("memtouch: fresh mmap pages not zero: %ld\n", nonzero);
    printf("memtouch: checksum %016" PRIx64 "\n", sum);
    return nonzero == 0 ? 0 : 1;
}
