/* System V shared memory between processes: shmget (IPC_PRIVATE and a key, CREAT
 * and EXCL), shmat, shmdt, shmctl (IPC_STAT, IPC_SET, IPC_RMID) and their errors. */
#include "check.h"
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>

int main(void)
{
    key_t key = 0x5c000000 | (getpid() & 0xffff);
    int id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
    printf("shmget private ok %d\n", id >= 0);
    char *p = shmat(id, NULL, 0);
    printf("shmat ok %d aligned %d\n", p != (void *)-1, ((long)p & 4095) == 0);
    struct shmid_ds ds;
    T(shmctl(id, IPC_STAT, &ds));
    printf("segsz %zu nattch %lu cpid is me %d mode %o\n", ds.shm_segsz,
           (unsigned long)ds.shm_nattch, ds.shm_cpid == getpid(), ds.shm_perm.mode & 0777);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        struct shmid_ds cds;
        shmctl(id, IPC_STAT, &cds);
        printf("in child nattch %lu\n", (unsigned long)cds.shm_nattch);
        strcpy(p, "from the child");
        char *again = shmat(id, NULL, SHM_RDONLY);
        printf("child second attach sees [%s]\n", again);
        shmctl(id, IPC_STAT, &cds);
        printf("in child nattch %lu\n", (unsigned long)cds.shm_nattch);
        fflush(stdout);
        T(shmdt(again));
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("parent sees [%s]\n", p);
    T(shmctl(id, IPC_STAT, &ds));
    printf("nattch %lu lpid is child %d\n", (unsigned long)ds.shm_nattch, ds.shm_lpid == child);
    ds.shm_perm.mode = 0640;
    T(shmctl(id, IPC_SET, &ds));
    T(shmctl(id, IPC_STAT, &ds));
    printf("mode %o\n", ds.shm_perm.mode & 0777);

    int kid = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600) >= 0;
    printf("shmget key excl ok %d\n", kid);
    int k = shmget(key, 4096, 0600);
    printf("same id by key %d\n", kid && k >= 0 && k == shmget(key, 0, 0));
    T(shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600));
    T(shmget(key, 8192, 0600));
    T(shmget(key ^ 0x00ff0000, 4096, 0600));
    T(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
    T(shmctl(k, IPC_RMID, NULL));
    T(shmget(key, 4096, 0600));

    T((long)shmat(-1, NULL, 0));
    T((long)shmat(id, (void *)0x10001, 0));
    T(shmdt(p + 4096));
    T(shmdt(p));
    T(shmdt(p));
    T(shmctl(id, IPC_RMID, NULL));
    T(shmctl(id, IPC_STAT, &ds));
    T(shmctl(id, 12345, &ds));
    return 0;
}
