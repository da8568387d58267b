/* A python3-sized process forks many children that stay alive together.
 *
 * forkmany N MIB COPY: the parent writes MIB MiB of private memory and reserves
 * 64 MiB PROT_NONE (glibc's arena for a second thread, as a python3 that has run
 * a thread holds: about 24 MiB written and 64 MiB reserved), then forks N
 * children. Each child stores to COPY of its MiB (a page if COPY is 0), so the
 * host copies that much of its memory on write, tells the parent it is ready,
 * and waits until the parent lets it go. The parent waits for all of them,
 * releases them, reaps them, and says how each ended. Natively (and under
 * Linux's memory cgroups) a child costs only the pages it copies. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1u << 20)
#define PAGE 4096u
#define ARENA (64u * MIB)

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int n = atoi(argv[1]);
    size_t size = (size_t)atoi(argv[2]) * MIB;
    size_t copy = (size_t)atoi(argv[3]) * MIB;
    char *heap = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *arena = mmap(NULL, ARENA, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (heap == MAP_FAILED || arena == MAP_FAILED)
        return 3;
    memset(heap, 1, size);
    int ready[2], go[2];
    if (pipe(ready) || pipe(go))
        return 4;
    int forked = 0;
    for (; forked < n; forked++) {
        pid_t pid = fork();
        if (pid < 0) {
            printf("fork %d: %s\n", forked, strerror(errno));
            break;
        }
        if (pid == 0) {
            close(ready[0]);
            close(go[1]);
            for (size_t at = 0; at < (copy ? copy : 1); at += PAGE)
                heap[at] = 2;
            char c = 'r';
            write(ready[1], &c, 1);
            read(go[0], &c, 1);  /* end of file: the parent let everyone go */
            _exit(heap[0] == 2 && heap[size - 1] == 1 ? 0 : 1);
        }
    }
    close(ready[1]);
    close(go[0]);
    int readied = 0;
    char c;
    while (readied < forked && read(ready[0], &c, 1) == 1)
        readied++;
    printf("forked %d, %d ready together\n", forked, readied);
    close(go[1]);
    int exited = 0, failed = 0, killed = 0, status;
    while (wait(&status) > 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            exited++;
        else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            killed++;
        else
            failed++;
    }
    printf("exited %d, killed %d, failed %d\n", exited, killed, failed);
    printf("parent's memory %s\n", heap[0] == 1 && heap[size - 1] == 1 ? "intact" : "changed");
    return 0;
}
