"""Lab 1: the system call ``nproc`` (number 1001), served two ways.

Fill in the three TODOs; README.md says what each must do.
``coffersim lab check 1 .`` grades this file.
"""

from __future__ import annotations

import errno
from typing import Any

from cofferos.personalities.base import NOT_HANDLED, Personality, SyscallContext

#: The new call's number: the first free number of the range reserved for new calls.
NPROC = 1001


def sys_nproc(task: Any, flags: int) -> int:
    """The number of processes in the caller's coffer; -EINVAL for any flag but 0."""
    # TODO: count the processes of task's coffer (task.coffer.processes).
    return -errno.ENOSYS


class NprocPersonality(Personality):
    """Serves NPROC in a coffer whose kernel table does not have it."""

    name = "nproc"
    description = "serves the nproc system call (1001)"

    def handle(self, ctx: SyscallContext) -> Any:
        # TODO: serve the call numbered NPROC with sys_nproc; leave every other call
        # to the kernel.
        return NOT_HANDLED


def register(table: Any) -> None:
    """Add nproc to a kernel's system call table (a SyscallTable)."""
    # TODO: one table.add line (see cofferos/coffers/syscalls/table.py).
    return None
