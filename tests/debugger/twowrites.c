/* twowrites: two write(2) calls with an unimplemented call (uselib) between them,
 * for the debugger's and the trace's tests (tests/test_debugger.py). */
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    if (write(1, "one\n", 4) != 4)
        return 1;
    syscall(SYS_uselib, 0); /* ENOSYS on x86-64 Linux, and in a coffer */
    if (write(1, "two\n", 4) != 4)
        return 1;
    return 0;
}
