/* zlib_loop: N iterations of deflating a 4 KiB block of text at level 6 and inflating
 * it back (Debian's static libz), for the mca cycle model's validation
 * (benchmarks/uarch_validate.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define BLOCK 4096
#define LEVEL 6

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100;
    static unsigned char text[BLOCK], packed[2 * BLOCK], back[BLOCK];
    unsigned long seed = 12345;
    static const char *const words[] = {"coffer ", "kernel ", "state ", "object ", "page ",
                                        "fault ", "system ", "call ", "the ", "a "};
    for (size_t at = 0; at < BLOCK;) {
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        const char *w = words[(seed >> 33) % 10];
        for (; *w && at < BLOCK; w++)
            text[at++] = (unsigned char)*w;
    }
    unsigned long check = 0;
    for (long i = 0; i < n; i++) {
        text[i % BLOCK] ^= (unsigned char)i; /* each round deflates different input */
        uLongf packed_size = sizeof packed, back_size = sizeof back;
        if (compress2(packed, &packed_size, text, BLOCK, LEVEL) != Z_OK ||
            uncompress(back, &back_size, packed, packed_size) != Z_OK ||
            back_size != BLOCK || memcmp(back, text, BLOCK) != 0)
            return 1;
        check = adler32(check, packed, (uInt)packed_size);
    }
    printf("%lu\n", check);
    return 0;
}
