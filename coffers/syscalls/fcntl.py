"""Descriptor operations: fcntl, dup, dup2, dup3 (Linux's fs/fcntl.c and fs/file.c).

A descriptor is an index into the task's :class:`~cofferos.coffers.fdtable.FdTable`;
``dup`` gives a second index to the same open file description, so both share the
offset and the status flags, while the close-on-exec flag belongs to each index.
The record-lock commands (F_GETLK, F_SETLK, F_SETLKW, F_OFD_*) are
:mod:`.flock`'s.

This module also holds the two ways every other family turns a descriptor number
into an open file, as fs/file.c does: :func:`fdget` refuses ``O_PATH``
descriptors (they only name a file: read, write, lseek, ioctl and getdents give
EBADF), :func:`fdget_raw` accepts them (fstat, fchdir, fcntl, dup, close, and a
*dirfd* argument).
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_RESOURCE
from cofferos.coffers.files import OpenFile
from cofferos.coffers.fown import (
    F_OWNER_PGRP,
    F_OWNER_PID,
    F_OWNER_TID,
    FileOwner,
    owner_alive,
    pid_exists,
)
from cofferos.coffers.fs import FsError
from cofferos.coffers.leases import fcntl_getlease, fcntl_setlease
from cofferos.coffers.pipe import PipeEnd, pipe_fasync, pipe_set_size
from cofferos.coffers.signals import NSIG
from cofferos.coffers.syscalls.flock import LOCK_COMMANDS, fcntl_lock
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user, fd_arg, signed
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# fcntl commands (include/uapi/asm-generic/fcntl.h, linux/fcntl.h)
F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG = 8, 9, 10, 11
F_SETOWN_EX, F_GETOWN_EX = 15, 16
F_SETLEASE, F_GETLEASE = 1024, 1025  # F_LINUX_SPECIFIC_BASE + 0, 1
F_NOTIFY = 1026  # F_LINUX_SPECIFIC_BASE + 2
F_DUPFD_CLOEXEC = 1030  # F_LINUX_SPECIFIC_BASE + 6
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032  # F_LINUX_SPECIFIC_BASE + 7, 8
FD_CLOEXEC = 1
#: struct f_owner_ex: int type; pid_t pid.
F_OWNER_EX = struct.Struct("<ii")
INT_MIN = -(1 << 31)
UINT_MASK = 0xFFFF_FFFF  #: fcntl hands pipe_fcntl its argument as an unsigned int

#: Status flags F_SETFL may change here (Linux's SETFL_MASK also has O_DIRECT, O_NOATIME).
#: O_ASYNC is not among them: a file's ->fasync sets it, and only pipes have one here.
SETFL_MASK = os.O_APPEND | os.O_NONBLOCK
#: Commands allowed on an O_PATH descriptor (check_fcntl_cmd in fs/fcntl.c).
O_PATH_COMMANDS = frozenset({F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL})


def fdget_raw(task: Task, fd: int) -> OpenFile:
    """The open file behind ``fd``, O_PATH descriptors included; EBADF if none."""
    return task.files.get(fd)


def fdget(task: Task, fd: int) -> OpenFile:
    """The open file behind ``fd`` for I/O; EBADF if none or if it is O_PATH."""
    entry = task.files.fds.get(fd)  # FdTable.get, without a call: every read and write
    if entry is None:
        raise FsError(errno.EBADF)
    file = entry.file
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
        if (arg ^ file.flags) & os.O_ASYNC and isinstance(file, PipeEnd):
            on = bool(arg & os.O_ASYNC)  # pipe_fasync, which sets or clears FASYNC
            pipe_fasync(file, fd, task.coffer if on else None)
            file.flags = file.flags | os.O_ASYNC if on else file.flags & ~os.O_ASYNC
        file.flags = (file.flags & ~SETFL_MASK) | (arg & SETFL_MASK)
        return 0
    if cmd in LOCK_COMMANDS:
        return fcntl_lock(task, file, cmd, arg)
    if cmd in OWNER_COMMANDS:
        return OWNER_COMMANDS[cmd](task, file, arg)
    if cmd == F_SETLEASE:
        return fcntl_setlease(task, file, fd, signed(arg, 32))
    if cmd == F_GETLEASE:
        return fcntl_getlease(task, file)
    if cmd in (F_SETPIPE_SZ, F_GETPIPE_SZ):
        return pipe_fcntl(task, file, cmd, arg)
    if cmd == F_NOTIFY:
        return task.coffer.dnotify.fcntl(task, file, fd, arg)
    return -errno.EINVAL  # seals: not modelled


# -- the file's owner and its signal (f_setown, f_getown, F_SETSIG in fs/fcntl.c) ---------
def _set_owner(task: Task, file: OpenFile, kind: int, pid: int) -> int:
    if pid and not pid_exists(task.coffer, pid):
        return -errno.ESRCH
    signum = file.owner.signum if file.owner is not None else 0
    file.owner = FileOwner(kind, pid, signum)
    return 0


def f_setown(task: Task, file: OpenFile, arg: int) -> int:
    who = signed(arg, 32)
    if who == INT_MIN:
        return -errno.EINVAL
    return _set_owner(task, file, F_OWNER_PGRP if who < 0 else F_OWNER_PID, abs(who))


def f_getown(task: Task, file: OpenFile, arg: int) -> int:
    owner = file.owner
    if owner is None or not owner_alive(task.coffer, owner):
        return 0
    return -owner.pid if owner.kind == F_OWNER_PGRP else owner.pid


def f_setown_ex(task: Task, file: OpenFile, arg: int) -> int:
    kind, pid = F_OWNER_EX.unpack(copy_from_user(task, arg, F_OWNER_EX.size))
    if kind not in (F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP):
        return -errno.EINVAL
    return _set_owner(task, file, kind, pid)


def f_getown_ex(task: Task, file: OpenFile, arg: int) -> int:
    owner = file.owner or FileOwner()
    pid = owner.pid if owner.pid and owner_alive(task.coffer, owner) else 0
    copy_to_user(task, arg, F_OWNER_EX.pack(owner.kind, pid))
    return 0


def f_setsig(task: Task, file: OpenFile, arg: int) -> int:
    signum = signed(arg, 32)
    if not 0 <= signum <= NSIG:  # valid_signal; 0 goes back to plain SIGIO
        return -errno.EINVAL
    owner = file.owner or FileOwner()
    file.owner = FileOwner(owner.kind, owner.pid, signum)
    return 0


def f_getsig(task: Task, file: OpenFile, arg: int) -> int:
    return file.owner.signum if file.owner is not None else 0


OWNER_COMMANDS = {F_SETOWN: f_setown, F_GETOWN: f_getown, F_SETOWN_EX: f_setown_ex,
                  F_GETOWN_EX: f_getown_ex, F_SETSIG: f_setsig, F_GETSIG: f_getsig}


def pipe_fcntl(task: Task, file: OpenFile, cmd: int, arg: int) -> int:
    """F_SETPIPE_SZ and F_GETPIPE_SZ on a pipe or FIFO; EBADF on anything else."""
    if not isinstance(file, PipeEnd):
        return -errno.EBADF
    if cmd == F_GETPIPE_SZ:
        return file.pipe.capacity
    privileged = ns_capable(task.creds, None, CAP_SYS_RESOURCE)  # capable(): the initial ns
    return pipe_set_size(file.pipe, arg & UINT_MASK, privileged)


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
