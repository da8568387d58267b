"""Signal frames the kernel cannot write or read back (found by the fuzzer).

A handler whose frame would go to an alternate stack in unmapped (or read-only)
memory, and an rt_sigreturn whose frame is unreadable, end the process with
SIGSEGV, as Linux's
``force_sigsegv`` and ``badframe`` paths do. Before, the first raised MemoryFault out
of the scheduler and stopped the whole simulator; the second returned -EFAULT and
let the task run on with whatever registers it had.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import Outcome, compile_guest, needs_gcc

SEGV_STATUS = 128 + signal.SIGSEGV

BAD_ALTSTACK = r"""
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void handler(int sig) { (void)sig; write(1, "handler ran\n", 12); }
/* A handler that never touches its stack: only a frame the kernel refused to write
 * keeps it from running (and exiting 42). */
void exit42(int);
__asm__(".text\n.globl exit42\nexit42:\n\tmov $60, %eax\n\tmov $42, %edi\n\tsyscall\n");

int main(int argc, char **argv) {
    /* A page-aligned stack that is then unmapped (or made read-only): writing a frame
     * there faults. */
    char *stack = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stack_t ss = {.ss_sp = stack, .ss_size = 65536, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) return 2;
    int read_only = argc > 1 && strcmp(argv[1], "read-only") == 0;
    if (read_only)
        mprotect(stack, 65536, PROT_READ);
    else
        munmap(stack, 65536);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = read_only ? exit42 : handler;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    if (argc > 1 && strcmp(argv[1], "segv-handler") == 0)
        sigaction(SIGSEGV, &sa, NULL);     /* on the same bad stack: fails too */
    printf("raising\n");
    fflush(stdout);
    raise(SIGUSR1);
    printf("survived\n");
    return 0;
}
"""

BAD_SIGRETURN = r"""
#include <stdio.h>

int main(void) {
    printf("sigreturn\n");
    fflush(stdout);
    /* rt_sigreturn with RSP 0: the frame cannot be read. Linux forces SIGSEGV; going
     * on instead reaches exit(7) without touching the stack. */
    __asm__ volatile("xor %%esp, %%esp\n\t"
                     "mov $15, %%eax\n\t"
                     "syscall\n\t"
                     "mov $60, %%eax\n\t"
                     "mov $7, %%edi\n\t"
                     "syscall" ::: "memory");
    return 0;
}
"""


def _both(tmp_path: Path, source: str, native: Callable[..., Outcome],
          in_coffer: Callable[..., Outcome], *args: str) -> tuple[Outcome, Outcome]:
    path = tmp_path / "guest.c"
    path.write_text(source)
    binary = compile_guest(path, tmp_path)
    return native(binary, list(args)), in_coffer(binary, list(args))


@needs_gcc
@pytest.mark.parametrize("variant", ["plain", "segv-handler", "read-only"])
def test_a_frame_on_an_unmapped_altstack_forces_sigsegv(
        tmp_path: Path, native: Callable[..., Outcome], in_coffer: Callable[..., Outcome],
        variant: str) -> None:
    real, simulated = _both(tmp_path, BAD_ALTSTACK, native, in_coffer, variant)
    assert real.status == SEGV_STATUS and real.stdout == b"raising\n"
    assert (simulated.status, simulated.stdout) == (real.status, real.stdout)
    assert simulated.result is not None and simulated.result.oopses == []


@needs_gcc
def test_an_unreadable_sigreturn_frame_forces_sigsegv(
        tmp_path: Path, native: Callable[..., Outcome], in_coffer: Callable[..., Outcome]) -> None:
    real, simulated = _both(tmp_path, BAD_SIGRETURN, native, in_coffer)
    assert real.status == SEGV_STATUS
    assert (simulated.status, simulated.stdout) == (real.status, real.stdout)
