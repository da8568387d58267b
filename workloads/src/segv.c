/* segv: a guest that writes through a NULL pointer and must die of SIGSEGV.
 *
 * Announces itself with a raw write(2), which stdio buffering cannot lose,
 * then stores through a volatile NULL pointer so the compiler keeps the store.
 * A correct kernel ends it with the signal (status 128+11 in a shell); if the
 * store somehow succeeds the program exits 1 so the failure is visible.
 */
#include <unistd.h>

static const char banner[] = "segv: writing through NULL\n";

int main(void)
{
    volatile int *volatile nowhere = NULL;

    if (write(STDOUT_FILENO, banner, sizeof banner - 1) < 0)
        return 1;
    *nowhere = 1;
    return 1;
}
