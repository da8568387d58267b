"""Writing data back to storage: sync, syncfs, fsync, fdatasync, sync_file_range (fs/sync.c).

A coffer's files live in memory and there is no disk behind them, so there is
nothing to write back: these calls only check their arguments as Linux does and
succeed. fsync and fdatasync need a file that has an fsync operation, which on
Linux a regular file or directory has and a pipe, a FIFO, a character device or
a terminal has not (EINVAL); sync_file_range needs a file with pages (ESPIPE
otherwise).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from cofferos.coffers.files import OpenFile
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.uaccess import fd_arg, signed

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/linux/fs.h
SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4
SYNC_FILE_RANGE_VALID = (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE
                         | SYNC_FILE_RANGE_WAIT_AFTER)


def _has_pages(file: OpenFile) -> bool:
    """A regular file or directory of the coffer's filesystem (not a pipe, device, stream)."""
    inode = file.inode
    return inode is not None and (inode.is_reg() or inode.is_dir() or inode.is_symlink())


def sys_sync(task: Task) -> int:
    return 0


def sys_syncfs(task: Task, fd: int) -> int:
    fdget(task, fd_arg(fd))
    return 0


def sys_fsync(task: Task, fd: int) -> int:
    return 0 if _has_pages(fdget(task, fd_arg(fd))) else -errno.EINVAL


def sys_fdatasync(task: Task, fd: int) -> int:
    return sys_fsync(task, fd)


def sys_sync_file_range(task: Task, fd: int, offset: int, nbytes: int, flags: int) -> int:
    file = fdget(task, fd_arg(fd))
    offset, nbytes = signed(offset), signed(nbytes)
    if flags & ~SYNC_FILE_RANGE_VALID:
        return -errno.EINVAL
    if offset < 0 or offset + nbytes < 0 or nbytes < 0:
        return -errno.EINVAL
    return 0 if _has_pages(file) else -errno.ESPIPE


def register(table: SyscallTable) -> None:
    table.add("sync", sys_sync)
    table.add("syncfs", sys_syncfs, "fd")
    table.add("fsync", sys_fsync, "fd")
    table.add("fdatasync", sys_fdatasync, "fd")
    table.add("sync_file_range", sys_sync_file_range, "fd", "off", "off", "hex")
