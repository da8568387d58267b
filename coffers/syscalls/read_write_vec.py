"""Vectors at a position: preadv, pwritev, preadv2 and pwritev2 (fs/read_write.c).

``preadv``/``pwritev`` are ``readv``/``writev`` at a file offset that the file's own
offset does not follow, as ``pread64``/``pwrite64`` are for one buffer. On x86-64
the offset is the fourth argument whole (the fifth, its high half on 32-bit
machines, is ignored). The ``2`` variants add per-call flags (``RWF_*``,
include/uapi/linux/fs.h) and take offset -1 as "the file's own offset", which
makes them ``readv``/``writev`` with flags. Checks run in Linux's order: a
negative offset (EINVAL), the descriptor (EBADF), a file without positioned I/O
(ESPIPE), the access mode (EBADF), the vector (EINVAL, EFAULT), then the flags:
one Linux does not know is EOPNOTSUPP. RWF_NOWAIT makes this one call
non-blocking (EAGAIN where it would wait, as O_NONBLOCK does). RWF_HIPRI (polled
I/O) and the sync flags change nothing for the coffer's in-memory files;
RWF_APPEND writes at the end of the file whatever the offset, as O_APPEND does.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from cofferos.coffers.files import InodeFile
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.read_write import (
    MAX_RW_COUNT,
    _iov_total,
    _page_cache,
    sys_readv,
    sys_writev,
)
from cofferos.coffers.syscalls.uaccess import (
    fd_arg,
    get_iovecs,
    read_to_user,
    signed,
    transfer_iovecs,
    write_from_user,
)

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# preadv2/pwritev2 flags (include/uapi/linux/fs.h).
RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT, RWF_APPEND = 0x1, 0x2, 0x4, 0x8, 0x10
RWF_SUPPORTED = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND
#: preadv2/pwritev2's offset that means "at the file's own offset, and move it".
CURRENT_POSITION = -1


def _check_flags(flags: int) -> int:
    """kiocb_set_rw_flags: 0, or the negative errno the flags earn."""
    return -errno.EOPNOTSUPP if flags & ~RWF_SUPPORTED else 0


def _at_current_position(task: Task, fd: int, flags: int, transfer: Callable[[], int]) -> int:
    """readv/writev with flags: RWF_NOWAIT as O_NONBLOCK for this call only."""
    file = fdget(task, fd_arg(fd))
    refused = _check_flags(flags)
    if refused:
        return refused
    if flags & RWF_APPEND and isinstance(file, InodeFile):
        file.pos = file.size()
    if not flags & RWF_NOWAIT or file.flags & os.O_NONBLOCK:
        return transfer()
    file.flags |= os.O_NONBLOCK
    try:
        return transfer()
    finally:
        file.flags &= ~os.O_NONBLOCK


def _preadv(task: Task, fd: int, iov: int, iovcnt: int, pos: int, flags: int) -> int:
    if pos < 0:
        return -errno.EINVAL
    file = fdget(task, fd_arg(fd))
    if not file.seekable:
        return -errno.ESPIPE
    file.check_readable()
    iovecs = get_iovecs(task, iov, signed(iovcnt, 32))
    total = min(_iov_total(iovecs), MAX_RW_COUNT)
    refused = _check_flags(flags)
    if refused:
        return refused
    done = transfer_iovecs(  # vector by vector and chunk by chunk, as pread64: never all at once
        iovecs, total, lambda base, want, at: read_to_user(
            task, base, want, lambda size, d: file.pread(size, pos + at + d), lambda _: None))
    _page_cache(task, file, pos, done)
    return done


def _pwritev(task: Task, fd: int, iov: int, iovcnt: int, pos: int, flags: int) -> int:
    if pos < 0:
        return -errno.EINVAL
    file = fdget(task, fd_arg(fd))
    if not file.seekable:
        return -errno.ESPIPE
    file.check_writable()
    iovecs = get_iovecs(task, iov, signed(iovcnt, 32))
    remaining = min(_iov_total(iovecs), MAX_RW_COUNT)
    refused = _check_flags(flags)
    if refused:
        return refused
    if file.discards_writes:
        return remaining
    if flags & RWF_APPEND:
        pos = file.size()
    if not remaining:
        return 0
    return transfer_iovecs(  # chunk by chunk, as pwrite64: never the whole vector at once
        iovecs, remaining, lambda base, take, at: write_from_user(
            task, base, take, lambda data, d: file.pwrite(data, pos + at + d)))


def sys_preadv(task: Task, fd: int, iov: int, iovcnt: int, pos_l: int, pos_h: int) -> int:
    return _preadv(task, fd, iov, iovcnt, signed(pos_l), 0)


def sys_pwritev(task: Task, fd: int, iov: int, iovcnt: int, pos_l: int, pos_h: int) -> int:
    return _pwritev(task, fd, iov, iovcnt, signed(pos_l), 0)


def sys_preadv2(task: Task, fd: int, iov: int, iovcnt: int, pos_l: int, pos_h: int,
                flags: int) -> int:
    flags &= 0xFFFF_FFFF
    if signed(pos_l) != CURRENT_POSITION:
        return _preadv(task, fd, iov, iovcnt, signed(pos_l), flags)
    return _at_current_position(task, fd, flags, lambda: sys_readv(task, fd, iov, iovcnt))


def sys_pwritev2(task: Task, fd: int, iov: int, iovcnt: int, pos_l: int, pos_h: int,
                 flags: int) -> int:
    flags &= 0xFFFF_FFFF
    if signed(pos_l) != CURRENT_POSITION:
        return _pwritev(task, fd, iov, iovcnt, signed(pos_l), flags)
    return _at_current_position(task, fd, flags, lambda: sys_writev(task, fd, iov, iovcnt))


def register(table: SyscallTable) -> None:
    table.add("preadv", sys_preadv, "fd", "ptr", "int", "off", "hex")
    table.add("pwritev", sys_pwritev, "fd", "ptr", "int", "off", "hex")
    table.add("preadv2", sys_preadv2, "fd", "ptr", "int", "off", "hex", "hex")
    table.add("pwritev2", sys_pwritev2, "fd", "ptr", "int", "off", "hex", "hex")
