/* hello: the smallest useful guest.
 *
 * Prints one fixed line and the argument count, then exits 0. The first thing
 * to run under a new loader or kernel: it needs only execve's initial stack,
 * write (through stdio) and exit_group.
 *
 * stdout is line-buffered, as it is on a terminal, so each line is its own
 * write(2) whatever stdout is: a debugger lesson can stop at the second write
 * (`coffersim run --break write:2 -- @hello`) in a pipe as in a terminal.
 */
#include <stdio.h>

int main(int argc, char **argv)
{
    (void)argv;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("hello from a coffer\n");
    printf("argc=%d\n", argc);
    return 0;
}
