/* A parent that stores here and there between forks, with all its children alive
 * at once, as a python3 running multiprocessing does. Each child maps the parent's
 * memory copy-on-write. Natively each process has its own budget of mappings; in a
 * coffer every guest process's are the simulator's (the host's vm.max_map_count,
 * 65,530 by default), so the runs a child maps must stay few (isa/cowmem.py): with
 * one run per page this guest's children would need about 80,000 of them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 1024 /* 4 MiB */
#define STRIDE 16  /* pages between the stores of one fork: too far apart to bridge */
#define CHILDREN 80

int main(void)
{
    char *heap = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (heap == MAP_FAILED)
        return 1;
    memset(heap, 1, PAGES * PAGE);
    int gate[2];
    if (pipe(gate))
        return 1;
    pid_t pids[CHILDREN];
    int made = 0;
    for (int i = 0; i < CHILDREN; i++) {
        for (int p = i % STRIDE; p < PAGES; p += STRIDE)
            heap[p * PAGE] = (char)(i + 2);
        pid_t pid = fork();
        if (pid == 0) {
            char c;
            close(gate[1]);
            if (read(gate[0], &c, 1) != 0) /* until the parent closes the gate */
                _exit(255);
            unsigned sum = 0;
            for (int p = 0; p < PAGES; p++)
                sum = sum * 31 + (unsigned char)heap[p * PAGE];
            _exit(sum % 251);
        }
        if (pid < 0) {
            printf("fork %d: %s\n", i, strerrorname_np(errno));
            break;
        }
        pids[made++] = pid;
    }
    close(gate[1]);
    printf("children %d\n", made);
    for (int i = 0; i < made; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        printf("%d", WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
        putchar(i % 16 == 15 ? '\n' : ' ');
    }
    return 0;
}
