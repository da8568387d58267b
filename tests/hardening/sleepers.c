/* sleepers: fork N children that sleep until killed, then say how many it made.
 *
 * A guest that keeps processes asleep holds one emulator engine per process in
 * the simulator; tests/test_hardening_memory.py measures what each costs the host.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int wanted = argc > 1 ? atoi(argv[1]) : 10, made = 0;
    for (int i = 0; i < wanted; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            pause();
            _exit(0);
        }
        if (pid < 0)
            break;
        made++;
    }
    printf("made %d\n", made);
    fflush(stdout);
    signal(SIGTERM, SIG_IGN);
    kill(0, SIGTERM);  /* the children die; the parent ignores it */
    return 0;
}
