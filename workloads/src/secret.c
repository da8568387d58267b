/* secret: a container whose activity is the secret, quiet or busy.
 *
 * usage: secret quiet|busy [DATAFILE [HOLD_US]]
 *        DATAFILE default /data/pages.bin, HOLD_US default 5000
 *
 * The sender half of the differential information-flow check
 * (cofferos.sim.isolation.infoflow). Both modes live HOLD_US and exit 0, so the
 * container exists for the same time either way; only what it does differs:
 *
 *   quiet  sleeps HOLD_US.
 *   busy   maps MAP_MIB MiB (touching one page in TOUCH_STRIDE), opens OPEN_FILES
 *          descriptors, reads DATAFILE whole (into the kernel's page cache), forks
 *          SLEEPERS children that sleep HOLD_US and SPINNERS children that stat("/tmp")
 *          in a loop until HOLD_US has passed, then waits for them all.
 *
 * It prints "secret MODE" at the end; nothing it prints depends on the machine.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DATA "/data/pages.bin"
#define DEFAULT_HOLD_US 5000L
#define MAP_MIB 64
#define TOUCH_STRIDE (1 << 20) /* one page per MiB: a few faults, the whole map charged */
#define OPEN_FILES 32
#define SLEEPERS 6
#define SPINNERS 2
#define NS_PER_US 1000L
#define NS_PER_S 1000000000L
#define READ_CHUNK 4096

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void hold(long hold_us) {
    struct timespec ts = {hold_us * NS_PER_US / NS_PER_S, hold_us * NS_PER_US % NS_PER_S};
    nanosleep(&ts, 0);
}

static void read_whole(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    char chunk[READ_CHUNK];
    while (read(fd, chunk, sizeof chunk) > 0)
        ;
    close(fd);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "quiet";
    const char *data = argc > 2 ? argv[2] : DEFAULT_DATA;
    long hold_us = argc > 3 ? atol(argv[3]) : DEFAULT_HOLD_US;
    if (strcmp(mode, "busy") != 0) {
        hold(hold_us);
        printf("secret quiet\n");
        return 0;
    }
    long long deadline = now_ns() + hold_us * NS_PER_US;
    size_t size = (size_t)MAP_MIB << 20;
    char *map = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map != MAP_FAILED)
        for (size_t off = 0; off < size; off += TOUCH_STRIDE)
            map[off] = 1;
    for (int i = 0; i < OPEN_FILES; i++)
        open("/dev/null", O_RDONLY);
    read_whole(data);
    fflush(stdout);
    for (int i = 0; i < SLEEPERS + SPINNERS; i++) {
        if (fork() != 0)
            continue;
        if (i < SLEEPERS) {
            hold(hold_us);
        } else {
            struct stat st;
            while (now_ns() < deadline)
                stat("/tmp", &st);
        }
        _exit(0);
    }
    hold(hold_us);
    while (wait(0) > 0)
        ;
    printf("secret busy\n");
    return 0;
}
