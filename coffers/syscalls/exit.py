"""Leaving: exit and exit_group (kernel/exit.c).

The task records its status and its CPU stops; the coffer's run loop notices.
With one thread per process (threads arrive with the process model), ``exit``
and ``exit_group`` end the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofferos.coffers.task import ExitStatus

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

EXIT_CODE_MASK = 0xFF  # only the low 8 bits of the status reach the parent


def sys_exit_group(task: Task, status: int) -> None:
    task.exit(ExitStatus(code=status & EXIT_CODE_MASK))


def sys_exit(task: Task, status: int) -> None:
    task.exit(ExitStatus(code=status & EXIT_CODE_MASK))


def register(table: SyscallTable) -> None:
    table.add("exit", sys_exit, "int")
    table.add("exit_group", sys_exit_group, "int")
