"""Descriptor operations: fcntl, dup, dup2, dup3 (Linux's fs/fcntl.c and fs/file.c).

A descriptor is an index into the task's :class:`~cofferos.coffers.files.FdTable`;
``dup`` gives a second index to the same open file description, so both share the
offset and the status flags, while the close-on-exec flag belongs to each index.
The record-lock commands (F_GETLK, F_SETLK, F_SETLKW, F_OFD_*) are
:mod:`.locks`'s.

This module also holds the two ways every other family turns a descriptor number
into an open file, as fs/file.c does: :func:`fdget` refuses ``O_PATH``
descriptors (they only name a file: read, write, lseek, ioctl and getdents give
EBADF), :func:`fdget_raw` accepts them (fstat, fchdir, fcntl, dup, close, and a
*dirfd* argument).
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from cofferos.coffers.files import OpenFile
from cofferos.coffers.fs import FsError
from cofferos.coffers.syscalls.locks import LOCK_COMMANDS, fcntl_lock
from cofferos.coffers.syscalls.uaccess import fd_arg

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# fcntl commands (include/uapi/asm-generic/fcntl.h, linux/fcntl.h)
F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_DUPFD_CLOEXEC = 1030  # F_LINUX_SPECIFIC_BASE + 6
FD_CLOEXEC = 1

#: Status flags F_SETFL may change here (Linux's SETFL_MASK also has O_DIRECT, O_NOATIME).
SETFL_MASK = os.O_APPEND | os.O_NONBLOCK
#: Commands allowed on an O_PATH descriptor (check_fcntl_cmd in fs/fcntl.c).
O_PATH_COMMANDS = frozenset({F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL})


def fdget_raw(task: Task, fd: int) -> OpenFile:
    """The open file behind ``fd``, O_PATH descriptors included; EBADF if none."""
    return task.files.get(fd)


def fdget(task: Task, fd: int) -> OpenFile:
    """The open file behind ``fd`` for I/O; EBADF if none or if it is O_PATH."""
    file = task.files.get(fd)
    if file.flags & os.O_PATH:
        raise FsError(errno.EBADF, "O_PATH descriptor")
    return file


def sys_fcntl(task: Task, fd: int, cmd: int, arg: int) -> int:
    fd, cmd = fd_arg(fd), fd_arg(cmd)
    file = fdget_raw(task, fd)
    if file.flags & os.O_PATH and cmd not in O_PATH_COMMANDS:
        return -errno.EBADF
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        if arg >= task.files.limit:
            return -errno.EINVAL
        return task.files.install(file, cloexec=cmd == F_DUPFD_CLOEXEC, lowest=arg)
    if cmd == F_GETFD:
        return FD_CLOEXEC if task.files.is_cloexec(fd) else 0
    if cmd == F_SETFD:
        task.files.set_cloexec(fd, bool(arg & FD_CLOEXEC))
        return 0
    if cmd == F_GETFL:
        return file.flags
    if cmd == F_SETFL:
        file.flags = (file.flags & ~SETFL_MASK) | (arg & SETFL_MASK)
        return 0
    if cmd in LOCK_COMMANDS:
        return fcntl_lock(task, file, cmd, arg)
    return -errno.EINVAL  # leases, seals, pipe sizes: not modelled


def sys_dup(task: Task, oldfd: int) -> int:
    return task.files.install(fdget_raw(task, fd_arg(oldfd)))


def sys_dup2(task: Task, oldfd: int, newfd: int) -> int:
    oldfd, newfd = fd_arg(oldfd), fd_arg(newfd)
    file = fdget_raw(task, oldfd)
    if oldfd == newfd:
        return newfd
    return task.files.install_at(newfd, file)


def sys_dup3(task: Task, oldfd: int, newfd: int, flags: int) -> int:
    oldfd, newfd = fd_arg(oldfd), fd_arg(newfd)
    if flags & ~os.O_CLOEXEC:
        return -errno.EINVAL
    if oldfd == newfd:
        return -errno.EINVAL
    if newfd < 0 or newfd >= task.files.limit:
        return -errno.EBADF
    file = fdget_raw(task, oldfd)
    return task.files.install_at(newfd, file, cloexec=bool(flags & os.O_CLOEXEC))


def register(table: SyscallTable) -> None:
    table.add("fcntl", sys_fcntl, "fd", "int", "hex")
    table.add("dup", sys_dup, "fd")
    table.add("dup2", sys_dup2, "fd", "fd")
    table.add("dup3", sys_dup3, "fd", "fd", "oflags")
