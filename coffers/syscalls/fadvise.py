"""posix_fadvise (mm/fadvise.c): access-pattern hints, accepted and checked.

A coffer's files are all in memory, as on tmpfs, whose backing device takes no
read-ahead or write-back hints: Linux then only checks the arguments, and so
does this. A FIFO or pipe (and the host's streams, which look like one) is
ESPIPE; a negative length or an unknown advice is EINVAL.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.uaccess import fd_arg, signed

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/linux/fadvise.h: NORMAL, RANDOM, SEQUENTIAL, WILLNEED, DONTNEED, NOREUSE
POSIX_FADV_NORMAL, POSIX_FADV_NOREUSE = 0, 5


def sys_fadvise64(task: Task, fd: int, offset: int, length: int, advice: int) -> int:
    file = fdget(task, fd_arg(fd))
    inode = file.inode
    if inode is None or inode.is_fifo():
        return -errno.ESPIPE
    if signed(length) < 0:
        return -errno.EINVAL
    if not POSIX_FADV_NORMAL <= signed(advice, 32) <= POSIX_FADV_NOREUSE:
        return -errno.EINVAL
    return 0


def register(table: SyscallTable) -> None:
    table.add("fadvise64", sys_fadvise64, "fd", "off", "size", "int")
