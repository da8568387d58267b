"""Lab 1's reference solution: ``nproc`` served by a personality and by the table."""

from __future__ import annotations

import errno
from typing import Any

from cofferos.personalities.base import NOT_HANDLED, Personality, SyscallContext

NPROC = 1001


def sys_nproc(task: Any, flags: int) -> int:
    if flags != 0:
        return -errno.EINVAL
    return len(task.coffer.processes)


class NprocPersonality(Personality):
    name = "nproc"
    description = "serves the nproc system call (1001)"

    def handle(self, ctx: SyscallContext) -> Any:
        if ctx.nr == NPROC:
            return sys_nproc(ctx.task, ctx.args[0])
        return NOT_HANDLED


def register(table: Any) -> None:
    table.add("nproc", sys_nproc, "int", nr=NPROC)
