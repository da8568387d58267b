/* A sparse 6 GiB file, as test_mmap's LargeMmapTests make one: bytes written at 0,
 * 3 GiB and 6 GiB hold a page each (st_blocks), the holes read as zeros, SEEK_DATA
 * and SEEK_HOLE find them, a shared mapping of 64 KiB near the end and a private
 * one in the middle read the data, the whole file mapped shared (past a coffer's
 * memory limit) holds only the pages touched, by the program or by read(2) into
 * it, as does a private mapping of 3 GiB, a punched page gives its block back,
 * and truncation drops what lies past the new end. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GIB (1L << 30)

static void show(int fd, const char *when) {
    struct stat st;
    fstat(fd, &st);
    printf("%s: size %ld, blocks %ld\n", when, (long)st.st_size, (long)st.st_blocks);
}

static void seeks(int fd) {
    off_t at = 0;
    printf("  runs:");
    for (int i = 0; i < 8; i++) {
        off_t data = lseek(fd, at, SEEK_DATA);
        if (data < 0) break;
        off_t hole = lseek(fd, data, SEEK_HOLE);
        printf(" data@%ld hole@%ld", (long)data, (long)hole);
        at = hole;
    }
    printf("\n");
}

int main(void) {
    char name[] = "sparse_XXXXXX";
    int fd = mkstemp(name);
    unlink(name);
    if (pwrite(fd, "head", 4, 0) != 4 || pwrite(fd, "middle", 6, 3 * GIB + 100) != 6
        || pwrite(fd, "tail", 4, 6 * GIB) != 4) {
        perror("pwrite");
        return 1;
    }
    show(fd, "written");
    seeks(fd);
    char buf[16] = {0};
    pread(fd, buf, 12, 3 * GIB + 96);
    printf("around the middle:");
    for (int i = 0; i < 12; i++)
        printf(" %02x", (unsigned char)buf[i]);
    printf("\n");

    char *shared = mmap(NULL, 64 << 10, PROT_READ, MAP_SHARED, fd, 6 * GIB - (32 << 10));
    char *private = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 3 * GIB);
    if (shared == MAP_FAILED || private == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    printf("shared: %.4s, byte before %d; private: %.6s\n", shared + (32 << 10),
           shared[(32 << 10) - 1], private + 100);
    private[100] = 'M';
    pread(fd, buf, 6, 3 * GIB + 100);
    printf("private store: %.6s, file %.6s\n", private + 100, buf);
    munmap(shared, 64 << 10);
    munmap(private, 64 << 10);

    /* the whole file mapped shared (more than a coffer's 4 GiB memory limit): only
     * what is touched, by the program or by a system call, becomes present */
    long size = 6 * GIB + 4;
    char *whole = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (whole == MAP_FAILED) {
        perror("mmap of the whole file");
        return 3;
    }
    whole[2 * GIB + 1] = 'S';
    int devnull = open("/dev/null", O_WRONLY);
    printf("whole: %.4s %d %.4s; write(2) from a hole: %ld; ", whole, whole[GIB],
           whole + 6 * GIB, (long)write(devnull, whole + 4 * GIB, 16));
    close(devnull);
    long got = pread(fd, whole + 5 * GIB, 4, 0);
    pread(fd, buf, 1, 2 * GIB + 1);
    printf("read(2) into a hole: %ld %.4s; file sees %c\n", got, whole + 5 * GIB, buf[0]);
    munmap(whole, size);
    char *copy = mmap(NULL, 3 * GIB + 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    if (copy == MAP_FAILED) {
        perror("private mmap of 3 GiB");
        return 4;
    }
    printf("private 3 GiB: %.4s %.6s %c\n", copy, copy + 3 * GIB + 100, copy[2 * GIB + 1]);
    munmap(copy, 3 * GIB + 4096);
    show(fd, "touched");
    seeks(fd);

    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * GIB, 4096) != 0)
        perror("fallocate");
    show(fd, "punched");
    seeks(fd);
    ftruncate(fd, 3 * GIB);
    show(fd, "truncated");
    seeks(fd);
    close(fd);
    return 0;
}
