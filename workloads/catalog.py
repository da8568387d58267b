"""The catalog of built-in guest workloads: one explicit entry per program.

Each :class:`Workload` names a source file in ``workloads/src/``, says what the
program exercises, which libc variants it builds with, and the arguments the
simulator passes when the user gives none. Nothing here walks a directory: a new
workload is a source file plus one entry in :data:`WORKLOADS`.

:mod:`cofferos.workloads.build` turns an entry into a static ELF (cached), and
the command line refers to it as ``@name`` or ``@name:libc``.

Every program prints a summary that depends only on its arguments, so a run
under the simulator can be compared with the same binary run natively.

    >>> WORKLOADS["asmloop"].expected_instructions == 1 + 2 * ASMLOOP_ITERATIONS + 3
    True
"""

from __future__ import annotations

from dataclasses import dataclass

#: Libc variants a workload may be built against (see :mod:`cofferos.workloads.build`).
GLIBC = "glibc"
MUSL = "musl"
GLIBC_PIE = "glibc-pie"
ALL_LIBCS: tuple[str, ...] = (GLIBC, MUSL, GLIBC_PIE)

#: The loop count fixed in ``src/asmloop.S`` (its ``ITERATIONS`` macro).
ASMLOOP_ITERATIONS = 1_000_000
#: Instructions before the loop: ``mov $ITERATIONS, %ecx``.
ASMLOOP_PROLOGUE = 1
#: Instructions per iteration: ``dec %ecx; jnz 1b``.
ASMLOOP_BODY = 2
#: Instructions after the loop, the syscall included: ``mov $60, %eax; xor %edi, %edi; syscall``.
ASMLOOP_EPILOGUE = 3


@dataclass(frozen=True)
class Workload:
    """One built-in guest program."""

    name: str
    """What the user types after ``@``."""
    source: str
    """File name under ``workloads/src/`` (``.c`` with libc, ``.S`` freestanding)."""
    description: str
    """One line: what the program does and which kernel paths it exercises."""
    default_args: tuple[str, ...] = ()
    """Arguments after argv[0] used when the user gives none: the program's own defaults."""
    libcs: tuple[str, ...] = ALL_LIBCS
    """Libc variants this program builds with."""
    expected_instructions: int | None = None
    """Exact number of guest instructions a full run executes, when that is known."""
    freestanding: bool = False
    """Linked with ``-nostdlib``: the source provides ``_start`` and makes raw system calls."""


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            name="hello",
            source="hello.c",
            description="prints 'hello from a coffer' and its argc; write and exit_group",
        ),
        Workload(
            name="compute",
            source="compute.c",
            description="CPU-bound xorshift checksum over N iterations (default 5000000)",
            default_args=("5000000",),
        ),
        Workload(
            name="nullsys",
            source="nullsys.c",
            description="N getppid system calls via syscall(2) (default 100000)",
            default_args=("100000",),
        ),
        Workload(
            name="fileio",
            source="fileio.c",
            description=(
                "mkdir/open/openat/write/read/pread64/lseek/fstat/stat/rename/getdents64/"
                "unlink/rmdir round trip of N 4 KiB chunks under the cwd (default 64)"
            ),
            default_args=("64",),
        ),
        Workload(
            name="memtouch",
            source="memtouch.c",
            description="malloc and mmap M MiB (default 8), touch every page, munmap, brk growth",
            default_args=("8",),
        ),
        Workload(
            name="exitcode",
            source="exitcode.c",
            description="exits with the status given as argv[1] (default 3)",
            default_args=("3",),
        ),
        Workload(
            name="segv",
            source="segv.c",
            description="writes through a NULL pointer; must die of SIGSEGV",
        ),
        Workload(
            name="asmloop",
            source="asmloop.S",
            description=(
                f"no libc, no arguments: a {ASMLOOP_ITERATIONS}-iteration dec/jnz loop, "
                "then exit(0); exact instruction count"
            ),
            expected_instructions=(
                ASMLOOP_PROLOGUE + ASMLOOP_BODY * ASMLOOP_ITERATIONS + ASMLOOP_EPILOGUE
            ),
            freestanding=True,
        ),
    )
}


def list_workloads() -> list[Workload]:
    """All built-in workloads, in catalog order."""
    return list(WORKLOADS.values())
