/* A buffer the kernel has copied to and from before: read(2) and write(2) of a pipe and
 * a tmpfs file keep its view between calls (BlockMap.kept_view), and every change of its
 * pages must end that view as natively. The same two buffers, one inside a page and one
 * across the boundary of two, serve several rounds of calls; then the pages are made
 * read-only, PROT_NONE, unmapped, mapped again, and executable with code read into
 * them. Printed the same natively and in a coffer (tests/test_trap_path.py). */
#include "../syscalls_files/check.h"
#include <sys/mman.h>

#define PAGE 4096
#define CHUNK 16

typedef int (*function)(void);
static const unsigned char RETURN_42[CHUNK] = {0xb8, 42, 0, 0, 0, 0xc3}; /* mov eax, 42; ret */
static const unsigned char RETURN_7[CHUNK] = {0xb8, 7, 0, 0, 0, 0xc3};   /* mov eax, 7; ret */

static int w, r, p[2];

/* One round: each buffer written to the file and the pipe and read back from them
 * (the buffer across two pages to the file only when both pages are alike: a tmpfs
 * write from a buffer that runs into a bad page is short natively, 8 bytes here, and
 * EFAULT in a coffer, the general path's copy of the whole chunk, not the kept view's). */
static void round_trip(const char *label, char *inside, char *across, int file_across)
{
    printf("%s\n", label);
    T(write(w, inside, CHUNK));
    T(read(r, inside, CHUNK));
    T(write(p[1], across, CHUNK));
    T(read(p[0], across, CHUNK));
    if (file_across) {
        T(write(w, across, CHUNK));
        T(read(r, across, CHUNK));
    }
}

static void drain(void)
{
    char sink[256];
    while (read(p[0], sink, sizeof sink) > 0) {}
    lseek(r, 0, SEEK_END);
}

int main(void)
{
    char *area = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *inside = area + 64, *across = area + PAGE - CHUNK / 2;
    T(pipe2(p, O_NONBLOCK));
    w = open("kept.dat", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    r = open("kept.dat", O_RDONLY);
    T(unlink("kept.dat"));
    memcpy(inside, "0123456789abcdef", CHUNK);
    memcpy(across, "ghijklmnopqrstuv", CHUNK);
    for (int i = 0; i < 3; i++)
        round_trip("-- read-write pages", inside, across, 1);
    printf("held: %.16s %.16s\n", inside, across);

    T(mprotect(area, PAGE, PROT_READ));
    round_trip("-- the first page read-only", inside, across, 1);
    drain();
    T(mprotect(area, PAGE, PROT_READ | PROT_WRITE));
    round_trip("-- read-write again", inside, across, 1);
    T(mprotect(area + PAGE, PAGE, PROT_NONE));
    round_trip("-- the second page PROT_NONE", inside, across, 0);
    drain();
    T(mprotect(area, PAGE, PROT_NONE));
    round_trip("-- both PROT_NONE", inside, across, 1);
    drain();

    T(munmap(area, 2 * PAGE));
    round_trip("-- unmapped", inside, across, 1);
    drain();
    T(mmap(area, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
           -1, 0) == area);
    round_trip("-- mapped again (zeros)", inside, across, 1);
    printf("zeros: %d %d\n", inside[0], across[CHUNK - 1]);

    puts("-- code read into a page made executable");
    T(write(w, RETURN_42, CHUNK));
    T(read(r, inside, CHUNK));
    T(mprotect(area, PAGE, PROT_READ | PROT_EXEC));
    printf("runs: %d\n", ((function)(area + 64))());
    T(mprotect(area, PAGE, PROT_READ | PROT_WRITE));
    T(write(w, RETURN_7, CHUNK));
    T(read(r, inside, CHUNK));
    T(mprotect(area, PAGE, PROT_READ | PROT_EXEC));
    printf("runs: %d\n", ((function)(area + 64))());
    return 0;
}
