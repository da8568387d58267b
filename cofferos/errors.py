"""The simulator's one exception hierarchy, drawn here so every layer raises the same kinds.

    SimError                 anything the user should see as a clear one-line message
     ├── ProgramError        the guest program cannot be found or run
     │    └── ElfError       not an ELF, malformed, 32-bit, another machine, dynamically linked
     ├── WorkloadError       unknown built-in workload, or no compiler to build it
     └── ConfigError         a bad option, value or configuration file

Guest faults are *not* exceptions of the simulator: a guest that touches unmapped
memory gets SIGSEGV and ends with status 128+11, exactly as on Linux. Kernel
handlers signal failure with negative errno values (``-errno.EBADF``), or, deep in a
subsystem, by raising :class:`cofferos.coffers.fs.FsError` which the handler converts.

This module imports nothing from the project, so every layer may use it.
"""

from __future__ import annotations

import errno


class SimError(Exception):
    """Base of every error the command line reports as a message instead of a traceback."""

    exit_status: int = 2


class ProgramError(SimError):
    """The guest program cannot be found, read or started."""


class ElfError(ProgramError):
    """The file is not a static x86-64 ELF executable this simulator can run.

    Inside a coffer, ``execve`` of such a file fails as Linux's does: with
    :attr:`errno` when Linux refuses it before the point of no return, or, when
    Linux finds the fault only after it (a segment it cannot map), by killing the
    process with :attr:`fatal_signal`. The simulator checks everything first, so
    only the outcome, never the order, differs.
    """

    def __init__(self, message: str, *, err: int = errno.ENOEXEC,
                 fatal_signal: int | None = None) -> None:
        super().__init__(message)
        self.errno = err
        self.fatal_signal = fatal_signal


class WorkloadError(SimError):
    """A built-in workload is unknown or cannot be built on this machine."""


class ConfigError(SimError):
    """An option, value or configuration file is wrong."""
