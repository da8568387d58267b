/* Private memory across fork, copy-on-write underneath: each side's stores stay its
 * own, before and after the other side stores, across a grandchild, a munmap and
 * a new mapping at the same place (zeros), and a fork loop. */
#include "check.h"
#include <sys/mman.h>
#include <sys/wait.h>

#define SIZE (4 << 20)

static unsigned long sum(const unsigned char *p, size_t n)
{
    unsigned long s = 0;
    for (size_t i = 0; i < n; i += 61)
        s = s * 31 + p[i];
    return s;
}

int main(void)
{
    unsigned char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < SIZE; i++)
        p[i] = (unsigned char)(i * 7);
    unsigned long original = sum(p, SIZE);
    printf("original %lx\n", original);
    int go[2], done[2];
    pipe(go);
    pipe(done);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        char c;
        read(go[0], &c, 1);  /* the parent has stored by now */
        printf("child sees the original: %d\n", sum(p, SIZE) == original);
        memset(p + SIZE / 2, 0x55, SIZE / 4);
        unsigned long mine = sum(p, SIZE);
        fflush(stdout);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            printf("grandchild sees the child's stores: %d\n", sum(p, SIZE) == mine);
            memset(p, 0x11, SIZE);
            fflush(stdout);
            _exit(0);
        }
        waitpid(grandchild, NULL, 0);
        printf("child unchanged by the grandchild: %d\n", sum(p, SIZE) == mine);
        fflush(stdout);
        write(done[1], "x", 1);
        _exit(0);
    }
    memset(p, 0xAA, SIZE / 4);
    unsigned long stored = sum(p, SIZE);
    write(go[1], "x", 1);
    char c;
    read(done[0], &c, 1);
    waitpid(child, NULL, 0);
    printf("parent keeps its own stores: %d changed %d\n", sum(p, SIZE) == stored,
           stored != original);

    munmap(p, SIZE);
    unsigned char *q = mmap(p, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    size_t nonzero = 0;
    for (size_t i = 0; i < SIZE; i++)
        nonzero += q[i] != 0;
    printf("remapped at the same place %d, nonzero bytes %zu\n", q == p, nonzero);

    unsigned long total = 0;
    for (int i = 0; i < 20; i++) {
        q[i * 4096] = (unsigned char)i;
        fflush(stdout);
        pid_t k = fork();
        if (k == 0)
            _exit(q[i * 4096] + (i > 0 ? q[(i - 1) * 4096] : 0));
        int status;
        waitpid(k, &status, 0);
        total += WEXITSTATUS(status);
        q[i * 4096] = 0;  /* the next child must not see this page's old value */
    }
    printf("fork loop total %lu\n", total);
    return 0;
}
