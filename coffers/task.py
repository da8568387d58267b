"""A task: one thread of a guest process, with the per-process state it points to.

As in Linux's ``task_struct``, a :class:`Task` holds its identity (pid, tgid,
parent), its registers (the :class:`~cofferos.isa.cpu.Cpu`), and references to
state shared with other tasks of the same process: the address space
(:class:`~cofferos.coffers.mm.AddressSpace`), the descriptor table
(:class:`~cofferos.coffers.files.FdTable`) and the filesystem context (cwd,
umask). A task belongs to exactly one :class:`~cofferos.coffers.coffer.Coffer`
and reaches kernel-wide state only through it.
"""

from __future__ import annotations

import enum
import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.files import FdTable
from cofferos.coffers.fs import Inode
from cofferos.coffers.mm import AddressSpace
from cofferos.isa.cpu import Cpu

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer

DEFAULT_UMASK = 0o022
TASK_COMM_LEN = 16  #: Linux keeps 15 characters of the command name plus NUL


RLIM_INFINITY = (1 << 64) - 1
STACK_LIMIT = 8 << 20  # the 8 MiB RLIMIT_STACK most distributions set


def default_rlimits(nofile: int) -> dict[int, tuple[int, int]]:
    """Resource limits of a new process: (soft, hard) by RLIMIT_* number."""
    return {
        resource.RLIMIT_STACK: (STACK_LIMIT, RLIM_INFINITY),
        resource.RLIMIT_NOFILE: (nofile, nofile),
        resource.RLIMIT_CORE: (0, RLIM_INFINITY),
    }


class TaskState(enum.Enum):
    RUNNABLE = "R"
    EXITED = "Z"


@dataclass
class FsContext:
    """The filesystem view of a process (``fs_struct``): cwd and umask."""

    cwd: Inode
    umask: int = DEFAULT_UMASK


@dataclass(frozen=True)
class Credentials:
    uid: int = 0
    euid: int = 0
    gid: int = 0
    egid: int = 0


@dataclass
class ExitStatus:
    """How a task ended: a normal exit code, or the signal that killed it."""

    code: int = 0
    signal: int = 0
    core_dumped: bool = False

    @property
    def shell_status(self) -> int:
        """The status a shell reports: the code, or 128 + the signal."""
        return 128 + self.signal if self.signal else self.code

    @property
    def wait_status(self) -> int:
        """The status word wait4(2) stores (see <bits/waitstatus.h>)."""
        if self.signal:
            return self.signal | (0x80 if self.core_dumped else 0)
        return (self.code & 0xFF) << 8


class Task:
    """One guest thread and the process state it shares."""

    def __init__(self, coffer: Coffer, pid: int, ppid: int, cpu: Cpu, mm: AddressSpace,
                 files: FdTable, fs: FsContext, creds: Credentials, comm: str) -> None:
        self.coffer = coffer
        self.pid = pid
        self.tgid = pid
        self.ppid = ppid
        self.cpu = cpu
        self.mm = mm
        self.files = files
        self.fs = fs
        self.creds = creds
        self.comm = comm[: TASK_COMM_LEN - 1]
        self.state = TaskState.RUNNABLE
        self.exit_status: ExitStatus | None = None
        self.clear_child_tid = 0
        self.robust_list = 0
        self.rseq_area = 0
        self.rlimits: dict[int, tuple[int, int]] = default_rlimits(files.limit)
        self.kernel_cycles = 0
        self.exe_path = ""
        self.argv: list[bytes] = []
        self.envp: list[bytes] = []

    @property
    def alive(self) -> bool:
        return self.state is not TaskState.EXITED

    def exit(self, status: ExitStatus) -> None:
        """End the task: record its status and stop its CPU at the next instruction."""
        self.exit_status = status
        self.state = TaskState.EXITED
        self.cpu.stop()

    def charge(self, cycles: int) -> None:
        """Add kernel work done on this task's behalf (beyond the call's base cost)."""
        self.kernel_cycles += cycles
        self.coffer.stats.kernel_cycles += cycles

    def __repr__(self) -> str:
        return f"<Task pid={self.pid} {self.comm!r} {self.state.value}>"
