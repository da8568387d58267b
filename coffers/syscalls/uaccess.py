"""Moving data between guest memory and the kernel: Linux's ``uaccess`` helpers.

Every handler that touches a guest pointer goes through these, so that the rules
are in one place: a bad pointer raises :class:`~cofferos.isa.cpu.MemoryFault`
(the dispatcher turns it into -EFAULT), a path longer than PATH_MAX is
ENAMETOOLONG, and copies are charged to the task at the cost model's per-byte rate.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.ktime import InvalidTime, timespec_to_ktime, timespec_valid
from cofferos.coffers.wait import Block
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

PATH_MAX = 4096  # include/uapi/linux/limits.h, including the NUL
U64 = struct.Struct("<Q")
I64 = struct.Struct("<q")
I32 = struct.Struct("<i")
TIMESPEC = struct.Struct("<qq")  # struct __kernel_timespec: tv_sec, tv_nsec
IOVEC = struct.Struct("<QQ")  # struct iovec: iov_base, iov_len
IOV_MAX = 1024  # UIO_MAXIOV
#: Large transfers move between guest memory and a file this many bytes at a time, as
#: Linux's copy_from_user and copy_to_user go page by page: whatever count a guest
#: passes, the kernel holds at most one chunk of it (the size of a pipe's buffer).
TRANSFER_CHUNK = 64 * 1024


def copy_from_user(task: Task, address: int, size: int) -> bytes:
    data = task.cpu.read(address, size)
    task.charge(task.coffer.dispatcher.costs.copy(size))
    return data


def copy_to_user(task: Task, address: int, data: bytes) -> None:
    task.cpu.write(address, data)
    task.charge(task.coffer.dispatcher.costs.copy(len(data)))


def write_from_user(task: Task, address: int, count: int,
                    sink: Callable[[bytes, int], int]) -> int:
    """Feed ``count`` guest bytes at ``address`` to ``sink(data, done)`` chunk by chunk.

    Returns the bytes the sink took. It stops at a short write. A fault, a block or
    an error after some bytes went through ends the call with that short count, as
    Linux's write returns what it wrote; before any, it propagates.
    """
    done = 0
    while True:  # a zero count still reaches the file (/dev/full answers ENOSPC)
        size = min(count - done, TRANSFER_CHUNK)
        try:
            taken = sink(copy_from_user(task, address + done, size) if size else b"", done)
        except (MemoryFault, FsError, Block):
            if done:
                return done
            raise
        done += taken
        if taken < size or done >= count:
            return done


def read_to_user(task: Task, address: int, count: int, source: Callable[[int, int], bytes],
                 unread: Callable[[int], None]) -> int:
    """Copy up to ``count`` bytes from ``source(size, done)`` to the guest, chunk by chunk.

    Stops at a short read (end of file, a pipe drained). When a chunk cannot be
    stored (a bad buffer), ``unread(n)`` gives its ``n`` bytes back to the file and
    the call returns what was stored before it, or propagates the fault if nothing was.
    """
    done = 0
    while True:  # a zero count still asks the file (a directory answers EISDIR)
        size = min(count - done, TRANSFER_CHUNK)
        try:
            data = source(size, done)
        except (FsError, Block):
            if done:
                return done
            raise
        try:
            copy_to_user(task, address + done, data)
        except MemoryFault:
            unread(len(data))
            if done:
                return done
            raise
        done += len(data)
        if len(data) < size or done >= count:
            return done


def strncpy_from_user(task: Task, address: int, limit: int = PATH_MAX) -> bytes:
    """A NUL-terminated string; ENAMETOOLONG if it does not end within ``limit``."""
    try:
        return task.cpu.read_cstring(address, limit)
    except ValueError:
        raise FsError(errno.ENAMETOOLONG) from None


def get_path(task: Task, address: int) -> str:
    """A path argument, decoded as the kernel sees it (bytes; surrogates kept)."""
    if address == 0:
        raise FsError(errno.EFAULT)
    raw = strncpy_from_user(task, address, PATH_MAX)
    return raw.decode("utf-8", "surrogateescape")


def get_timespec(task: Task, address: int) -> int:
    """A ``struct timespec`` timeout or time, in nanoseconds saturated at KTIME_MAX.

    The one reader every timed call uses (``get_timespec64`` then
    ``timespec64_to_ktime``): raises :class:`~cofferos.coffers.ktime.InvalidTime`
    (EINVAL) for a negative tv_sec or a tv_nsec outside [0, 1e9).
    """
    return timespec_to_ktime(*get_timespec64(task, address))


def get_timespec64(task: Task, address: int) -> tuple[int, int]:
    """A valid ``struct timespec`` as (seconds, nanoseconds), not saturated: select's
    family keeps its end time as a timespec64 (``poll_select_set_timeout``)."""
    seconds, ns = TIMESPEC.unpack(copy_from_user(task, address, TIMESPEC.size))
    if not timespec_valid(seconds, ns):
        raise InvalidTime(seconds, ns)
    return seconds, ns


def put_u64(task: Task, address: int, value: int) -> None:
    task.cpu.write(address, U64.pack(value & ((1 << 64) - 1)))


def put_i32(task: Task, address: int, value: int) -> None:
    task.cpu.write(address, I32.pack(value))


def get_iovecs(task: Task, address: int, count: int) -> list[tuple[int, int]]:
    """The (base, length) pairs of a readv/writev vector; EINVAL past IOV_MAX."""
    if count < 0 or count > IOV_MAX:
        raise FsError(errno.EINVAL)
    raw = task.cpu.read(address, IOVEC.size * count) if count else b""
    return [IOVEC.unpack_from(raw, i * IOVEC.size) for i in range(count)]


def signed(value: int, bits: int = 64) -> int:
    """Reinterpret a register value as a signed integer of ``bits`` bits."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def fd_arg(value: int) -> int:
    """A file descriptor argument: the low 32 bits, signed (AT_FDCWD is -100)."""
    return signed(value, 32)
