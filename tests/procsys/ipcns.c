/* A new IPC namespace is empty, natively as root and in a coffer: its only process
 * unshares CLONE_NEWIPC (so that nothing reaches the host's segments), makes a keyed
 * segment and a private one, attaches the private one and writes to it, then
 * unshares again. The namespace it left has no other process and goes: the key and
 * the ids name nothing in the new one, the attached memory stays readable, shmdt
 * detaches it, and the key can be made anew. */
#include "check.h"
#include <sched.h>
#include <sys/shm.h>

#define KEY 0x5eed
#define SIZE 4096

static void say(const char *what, long result)
{
    printf("%s: %s\n", what, result < 0 ? strerrorname_np(errno) : "ok");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    T(unshare(CLONE_NEWIPC));
    int keyed = shmget(KEY, SIZE, IPC_CREAT | IPC_EXCL | 0600);
    int private = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
    say("shmget keyed", keyed);
    say("shmget private", private);
    char *at = shmat(private, NULL, 0);
    say("shmat private", at == (void *)-1 ? -1 : 0);
    strcpy(at, "kept while attached");
    struct shmid_ds ds;
    say("IPC_STAT private", shmctl(private, IPC_STAT, &ds));
    printf("attaches %lu\n", (unsigned long)ds.shm_nattch);
    T(unshare(CLONE_NEWIPC));
    say("shmget keyed again", shmget(KEY, 0, 0));
    say("IPC_STAT keyed", shmctl(keyed, IPC_STAT, &ds));
    say("IPC_STAT private", shmctl(private, IPC_STAT, &ds));
    say("IPC_RMID private", shmctl(private, IPC_RMID, NULL));
    printf("memory: %s\n", at);
    say("shmdt", shmdt(at));
    say("shmdt again", shmdt(at));
    int fresh = shmget(KEY, SIZE, IPC_CREAT | IPC_EXCL | 0600);
    say("shmget keyed anew", fresh);
    struct shm_info info;
    printf("SHM_INFO used_ids %d\n", shmctl(0, SHM_INFO, (struct shmid_ds *)&info) < 0 ?
           -1 : info.used_ids);
    say("IPC_RMID anew", shmctl(fresh, IPC_RMID, NULL));
    return 0;
}
