/* hello: the smallest useful guest.
 *
 * Prints one fixed line and the argument count, then exits 0. The first thing
 * to run under a new loader or kernel: it needs only execve's initial stack,
 * write (through stdio) and exit_group.
 */
#include <stdio.h>

int main(int argc, char **argv)
{
    (void)argv;
    printf("hello from a coffer\n");
    printf("argc=%d\n", argc);
    return 0;
}
