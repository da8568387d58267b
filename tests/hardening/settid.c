/* clone with CLONE_PARENT_SETTID or CLONE_CHILD_SETTID pointing at unmapped memory.
 * Linux ignores a failed store of the TID (kernel/fork.c: kernel_clone's put_user,
 * schedule_tail's put_user): the child is created and runs. A kernel that returns
 * EFAULT after registering the child leaves a child that never runs, and a parent
 * that waits for it forever. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void try(const char *name, unsigned long flag) {
    void *bad = (void *)8; /* below vm.mmap_min_addr: never mapped */
    long pid = syscall(SYS_clone, SIGCHLD | flag, 0, bad, bad, 0);
    if (pid == 0)
        syscall(SYS_exit, 7);
    if (pid < 0) {
        printf("%s: clone failed\n", name);
        return;
    }
    int status = 0;
    long got = waitpid((pid_t)pid, &status, 0);
    printf("%s: child ran: %s, exit %d\n", name, got == pid ? "yes" : "no",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(void) {
    try("CLONE_PARENT_SETTID", CLONE_PARENT_SETTID);
    try("CLONE_CHILD_SETTID", CLONE_CHILD_SETTID);
    return 0;
}
