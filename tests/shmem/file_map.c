/* A file mapped MAP_SHARED: what one process stores through its mapping another
 * reads with read(2), and write(2) is seen through the mapping; the same for a
 * memfd; msync's checks. */
#include "check.h"
#include <sys/mman.h>
#include <sys/wait.h>

static void shared_file(int fd, const char *what)
{
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        printf("%s: mmap failed %s\n", what, strerrorname_np(errno));
        return;
    }
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        memcpy(p + 100, "stored by the child", 19);
        msync(p, 4096, MS_SYNC);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    char buf[32] = {0};
    fflush(stdout);
    if (fork() == 0) {  /* a third process reads it with read(2) */
        pread(fd, buf, 19, 100);
        printf("%s: another process reads [%s]\n", what, buf);
        fflush(stdout);
        _exit(0);
    }
    wait(&status);
    pwrite(fd, "WRITTEN", 7, 0);
    printf("%s: the mapping shows [%.7s]\n", what, p);
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("%s: a private mapping starts with [%.7s] [%.19s]\n", what, ro, ro + 100);
    munmap(ro, 4096);
    munmap(p, 4096);
}

int main(void)
{
    int fd = open("mapped", O_CREAT | O_RDWR | O_TRUNC, 0600);
    T(ftruncate(fd, 4096));
    shared_file(fd, "file");
    struct stat st;
    fstat(fd, &st);
    printf("file size %ld\n", (long)st.st_size);
    close(fd);
    fd = open("mapped", O_RDONLY);
    char buf[8] = {0};
    read(fd, buf, 7);
    printf("reopened file starts [%s]\n", buf);
    T((long)mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    close(fd);
    unlink("mapped");

    int mfd = memfd_create("shared", 0);
    printf("memfd ok %d\n", mfd >= 0);
    T(ftruncate(mfd, 4096));
    shared_file(mfd, "memfd");

    /* Truncating and growing a shared file: the cut bytes read as zeros. */
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    T(ftruncate(mfd, 50));
    T(ftruncate(mfd, 4096));
    printf("after truncate: [%.7s] byte 100 = %d\n", p, p[100]);

    /* DONTNEED drops only this mapping's view of shared pages; REMOVE frees them. */
    memcpy(p, "kept", 4);
    T(madvise(p, 4096, MADV_DONTNEED));
    printf("after DONTNEED: [%.4s]\n", p);
    T(madvise(p, 4096, MADV_REMOVE));
    printf("after REMOVE: byte 0 = %d\n", p[0]);

    T(msync(p, 4096, MS_SYNC));
    T(msync(p, 4096, MS_ASYNC | MS_INVALIDATE));
    T(msync(p + 1, 4096, MS_SYNC));
    T(msync(p, 4096, MS_SYNC | MS_ASYNC));
    T(msync(p, 4096, 0x80));
    T(munmap(p, 4096));
    T(msync(p, 4096, MS_SYNC));
    return 0;
}
