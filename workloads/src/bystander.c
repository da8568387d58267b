/* bystander: a container that needs each kernel resource a little, and says if it got it.
 *
 * usage: bystander [ROUNDS [GAP_MS [DELAY_MS]]]     defaults 5, 10, 0
 *
 * After DELAY_MS, ROUNDS times, GAP_MS apart: fork a child that exits at once
 * and wait for it (a task slot), open FILES descriptors and close them, mmap
 * MAP_MIB MiB and touch every page, write WRITE_KIB KiB to /tmp/bystander.<pid>
 * and unlink it (disk space). A failure is printed once per resource as
 *
 *   bystander: round R: RESOURCE failed: ERRNO
 *
 * and the program exits 1 if anything failed, else prints
 * "bystander: ROUNDS rounds, fork files memory disk all granted" and exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ROUNDS 5L
#define DEFAULT_GAP_MS 10L
#define FILES 8
#define MAP_MIB 1L
#define PAGE_BYTES 4096L
#define MIB (1L << 20)
#define WRITE_KIB 64L
#define KIB 1024L
#define NS_PER_MS 1000000L
#define MS_PER_S 1000L

enum { FORK, OPEN, MEMORY, DISK, RESOURCES };
static const char *resource_names[RESOURCES] = {"fork", "files", "memory", "disk"};
static int failed[RESOURCES];

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / MS_PER_S, .tv_nsec = (ms % MS_PER_S) * NS_PER_MS};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void fail(long round, int resource)
{
    if (!failed[resource]++)
        printf("bystander: round %ld: %s failed: %s\n", round, resource_names[resource],
               strerror(errno));
}

static void one_round(long round, const char *path)
{
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    if (child < 0)
        fail(round, FORK);
    else
        waitpid(child, NULL, 0);

    int fds[FILES], opened = 0;
    for (; opened < FILES; opened++) {
        fds[opened] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fds[opened] < 0) {
            fail(round, OPEN);
            break;
        }
    }
    while (opened > 0)
        close(fds[--opened]);

    char *p = mmap(NULL, MAP_MIB * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) {
        fail(round, MEMORY);
    } else {
        for (long off = 0; off < MAP_MIB * MIB; off += PAGE_BYTES)
            p[off] = (char)round;
        munmap(p, MAP_MIB * MIB);
    }

    static char chunk[WRITE_KIB * KIB];
    memset(chunk, 'b', sizeof chunk);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    ssize_t got = 0, total = 0;
    while (fd >= 0 && total < (ssize_t)sizeof chunk &&
           (got = write(fd, chunk + total, sizeof chunk - total)) > 0)
        total += got; /* a short write: the next one says why */
    if (fd < 0 || got < 0)
        fail(round, DISK);
    if (fd >= 0)
        close(fd);
    unlink(path);
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_ROUNDS;
    long gap_ms = argc > 2 ? strtol(argv[2], NULL, 10) : DEFAULT_GAP_MS;
    long delay_ms = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
    if (rounds < 1 || gap_ms < 0 || delay_ms < 0) {
        fprintf(stderr, "usage: %s [rounds >= 1 [gap_ms [delay_ms]]]\n", argv[0]);
        return 2;
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/bystander.%ld", (long)getpid());
    sleep_ms(delay_ms);
    for (long round = 1; round <= rounds; round++) {
        if (round > 1)
            sleep_ms(gap_ms);
        errno = 0;
        one_round(round, path);
    }
    int any = 0;
    for (int r = 0; r < RESOURCES; r++)
        any |= failed[r];
    if (any)
        return 1;
    printf("bystander: %ld rounds, fork files memory disk all granted\n", rounds);
    return 0;
}
