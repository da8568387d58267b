/* POSIX shared memory: shm_open on /dev/shm, ftruncate, mmap MAP_SHARED in two
 * processes; the child's stores are seen by the parent through its own mapping
 * and through read(2); the parent's write(2) is seen through the child's mapping. */
#include "check.h"
#include <sys/mman.h>
#include <sys/wait.h>

int main(void)
{
    char name[64];
    snprintf(name, sizeof name, "/coffer-shm-test-%d", (int)getpid());
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    printf("shm_open ok %d\n", fd >= 0);
    if (fd < 0)
        return 1;
    T(ftruncate(fd, 8192));
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return 1;
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        int cfd = shm_open(name, O_RDWR, 0);
        char *q = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
        strcpy(q + 4096, "written by the child through its own mapping");
        strcpy(p, "written by the child through the inherited mapping");
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child exit %d\n", WEXITSTATUS(status));
    printf("parent sees [%s]\n", p);
    printf("parent sees [%s]\n", p + 4096);
    char buf[64] = {0};
    T(pread(fd, buf, 20, 4096));
    printf("read(2) gives [%s]\n", buf);

    T(pwrite(fd, "WRITE", 5, 0));
    fflush(stdout);
    child = fork();
    if (child == 0) {
        printf("child sees [%.20s]\n", p);
        fflush(stdout);
        _exit(0);
    }
    waitpid(child, &status, 0);
    struct stat st;
    fstat(fd, &st);
    printf("size %ld\n", (long)st.st_size);
    T(munmap(p, 8192));
    T(shm_unlink(name));
    T(shm_open(name, O_RDWR, 0));
    return 0;
}
