/* jumpout: a child jumps to the last address there is, 0xffffffffffffffff.
 *
 * On Linux the fetch faults (it is in the kernel's half) and the child dies of
 * SIGSEGV. The simulator's engine runs "until" that very address, so a guest that
 * went there once ran nothing, forever, on a core it never gave back.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        void (*nowhere)(void) = (void (*)(void))~0UL;
        nowhere();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child: %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return 0;
}
