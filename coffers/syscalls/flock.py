"""flock(2) and fcntl's record-lock commands (fs/locks.c).

The locks themselves, their owners and their release on close are
:mod:`cofferos.coffers.file_locks`; this module reads and checks the arguments and
turns a conflict into the errno Linux gives: EWOULDBLOCK (EAGAIN) for flock
with LOCK_NB and for F_SETLK, or a sleep on the inode's lock wait queue for a
blocking request, retried when a lock on the inode is dropped.

fcntl hands F_GETLK, F_SETLK, F_SETLKW and their F_OFD_* twins to
:func:`fcntl_lock` with the descriptor's open file; a range is given by
``struct flock`` relative to ``l_whence`` (the start of the file, the file's
offset, or its end), and a length of 0 means "to the end of the file, however
far it grows". Files with no inode in the coffer (pipes, the host's standard
streams) cannot be locked here: ENOLCK.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.file_locks import (
    F_RDLCK,
    F_UNLCK,
    F_WRLCK,
    OFFSET_MAX,
    FileLock,
    FileLockContext,
    LockWait,
    locks_inode_context,
    posix_locks_deadlock,
)
from cofferos.coffers.files import SEEK_CUR, SEEK_END, SEEK_SET, OpenFile
from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user, fd_arg
from cofferos.coffers.wait import Block

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# fcntl commands (include/uapi/asm-generic/fcntl.h; the *64 forms are the same on x86-64)
F_GETLK, F_SETLK, F_SETLKW = 5, 6, 7
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
LOCK_COMMANDS = frozenset({F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW})
OFD_COMMANDS = frozenset({F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW})
#: struct flock: l_type, l_whence (short), l_start, l_len (off_t), l_pid (pid_t).
FLOCK = struct.Struct("<hh4xqqi4x")
OFD_LOCK_PID = -1  #: what F_GETLK reports as the holder of an OFD lock
LOCK_TYPES = (F_RDLCK, F_WRLCK, F_UNLCK)

# flock(2) operations (include/uapi/asm-generic/fcntl.h)
LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN = 1, 2, 4, 8
LOCK_MAND = 32  #: removed from Linux: such requests are ignored and succeed
FLOCK_TYPES = {LOCK_SH: F_RDLCK, LOCK_EX: F_WRLCK, LOCK_UN: F_UNLCK}


def _lock_context(file: OpenFile) -> tuple[Inode, FileLockContext]:
    inode = file.inode
    if inode is None:
        raise FsError(errno.ENOLCK, "no inode to lock")
    return inode, locks_inode_context(inode)


def _posix_range(file: OpenFile, whence: int, start: int, length: int) -> tuple[int, int]:
    """[start, end] of a struct flock's range (flock_to_posix_lock_common)."""
    if whence == SEEK_SET:
        base = 0
    elif whence == SEEK_CUR:
        base = file.pos
    elif whence == SEEK_END:
        base = file.size()
    else:
        raise FsError(errno.EINVAL, "l_whence")
    if start > OFFSET_MAX - base:
        raise FsError(errno.EOVERFLOW)
    start += base
    if start < 0:
        raise FsError(errno.EINVAL, "lock starts before the file")
    if length > 0:
        if length - 1 > OFFSET_MAX - start:
            raise FsError(errno.EOVERFLOW)
        return start, start + length - 1
    if length < 0:
        end, start = start - 1, start + length
        if start < 0:
            raise FsError(errno.EINVAL, "lock starts before the file")
        return start, end
    return start, OFFSET_MAX


def fcntl_getlk(task: Task, file: OpenFile, cmd: int, arg: int) -> int:
    raw = copy_from_user(task, arg, FLOCK.size)
    l_type, whence, l_start, l_len, l_pid = FLOCK.unpack(raw)
    if l_type not in (F_RDLCK, F_WRLCK):
        return -errno.EINVAL
    start, end = _posix_range(file, whence, l_start, l_len)
    ofd = cmd == F_OFD_GETLK
    if ofd and l_pid != 0:
        return -errno.EINVAL
    _, ctx = _lock_context(file)
    request = FileLock(file if ofd else task.files, task.tgid, l_type, start, end)
    holder = ctx.posix_test(request)
    if holder is None:
        reply = (F_UNLCK, whence, l_start, l_len, l_pid)
    else:
        length = 0 if holder.end == OFFSET_MAX else holder.end - holder.start + 1
        reply = (holder.type, SEEK_SET, holder.start, length, holder.pid)
    copy_to_user(task, arg, FLOCK.pack(*reply))
    return 0


def fcntl_setlk(task: Task, file: OpenFile, cmd: int, arg: int) -> int:
    l_type, whence, l_start, l_len, l_pid = FLOCK.unpack(copy_from_user(task, arg, FLOCK.size))
    start, end = _posix_range(file, whence, l_start, l_len)
    if l_type not in LOCK_TYPES:
        return -errno.EINVAL
    access = file.flags & os.O_ACCMODE
    if (l_type == F_RDLCK and access == os.O_WRONLY) or (l_type == F_WRLCK
                                                          and access == os.O_RDONLY):
        return -errno.EBADF  # check_fmode_for_setlk
    ofd = cmd in OFD_COMMANDS
    if ofd and l_pid != 0:
        return -errno.EINVAL
    _, ctx = _lock_context(file)
    owner: object = file if ofd else task.files
    request = FileLock(owner, OFD_LOCK_PID if ofd else task.tgid, l_type, start, end)
    wait = task.files.lock_wait
    if isinstance(wait, LockWait) and wait.task is task:  # this attempt replaces it
        task.files.lock_wait = None
    if ctx.posix_set(request):
        return 0
    if cmd == F_OFD_SETLKW:
        raise Block([ctx.waiters])
    if cmd == F_SETLKW:
        holder = ctx.posix_test(request)
        if holder is not None and posix_locks_deadlock(owner, holder):
            return -errno.EDEADLK
        task.files.lock_wait = LockWait(task, ctx, request)
        raise Block([ctx.waiters])
    return -errno.EAGAIN


def fcntl_lock(task: Task, file: OpenFile, cmd: int, arg: int) -> int:
    """One of :data:`LOCK_COMMANDS` on ``file`` (fcntl_getlk / fcntl_setlk)."""
    if cmd in (F_GETLK, F_OFD_GETLK):
        return fcntl_getlk(task, file, cmd, arg)
    return fcntl_setlk(task, file, cmd, arg)


def sys_flock(task: Task, fd: int, cmd: int) -> int:
    if cmd & LOCK_MAND:
        return 0  # before even the descriptor is looked at, as Linux
    lock_type = FLOCK_TYPES.get(cmd & ~LOCK_NB & 0xFFFF_FFFF)
    if lock_type is None:
        return -errno.EINVAL
    file = task.files.get(fd_arg(fd))
    if file.flags & os.O_PATH:  # fdget: an O_PATH descriptor is no open file for this
        return -errno.EBADF
    _, ctx = _lock_context(file)
    if ctx.flock_set(FileLock(file, task.tgid, lock_type)):
        return 0
    if cmd & LOCK_NB:
        return -errno.EWOULDBLOCK
    raise Block([ctx.waiters])


def register(table: SyscallTable) -> None:
    table.add("flock", sys_flock, "fd", "int")
