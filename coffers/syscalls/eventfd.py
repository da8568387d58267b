"""eventfd and eventfd2 (fs/eventfd.c). The counter itself is :mod:`cofferos.coffers.eventfd`."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from cofferos.coffers.eventfd import EFD_SEMAPHORE, EventFd

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

EFD_CLOEXEC, EFD_NONBLOCK = os.O_CLOEXEC, os.O_NONBLOCK
EFD_FLAGS_SET = EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK
UINT_MASK = 0xFFFF_FFFF  #: the initial count is an unsigned int


def sys_eventfd2(task: Task, count: int, flags: int) -> int:
    flags &= UINT_MASK
    if flags & ~EFD_FLAGS_SET:
        return -errno.EINVAL
    return task.files.install(EventFd(count & UINT_MASK, flags),
                              cloexec=bool(flags & EFD_CLOEXEC))


def sys_eventfd(task: Task, count: int) -> int:
    return sys_eventfd2(task, count, 0)


def register(table: SyscallTable) -> None:
    table.add("eventfd", sys_eventfd, "uint")
    table.add("eventfd2", sys_eventfd2, "uint", "hex")
