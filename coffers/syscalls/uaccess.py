"""Moving data between guest memory and the kernel: Linux's ``uaccess`` helpers.

Every handler that touches a guest pointer goes through these, so that the rules
are in one place: a bad pointer raises :class:`~cofferos.isa.faults.MemoryFault`
(the dispatcher turns it into -EFAULT), a path longer than PATH_MAX is
ENAMETOOLONG, and copies are charged to the task at the cost model's per-byte rate.

What is a bad pointer is decided here too, by :func:`access_ok`, from the
protection of each page (not from what the engine happens to allow: Unicorn's own
``mem_write`` stores into read-only pages): the kernel reads only memory the guest
could read and writes only memory the guest could write, so a PROT_NONE or unmapped
buffer is EFAULT either way, ``write(2)`` from a PROT_READ buffer works, and
``read(2)`` into one is EFAULT, as in Linux, whose copies fault where the guest would.
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
PAGE_SIZE = 4096
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
#: Bytes a string argument is read at a time, never across a page: most paths and
#: names end within the first, and reading to the page's end copied up to 4 KiB.
STRING_CHUNK = 256
FD_SIGN_BIT = 1 << 31  #: register values below it are their own 32-bit signed fd


def user_prefix(task: Task, address: int, size: int, writing: bool = False) -> int:
    """How many bytes from ``address`` on the guest may read (or write): where a
    page-by-page copy of ``size`` bytes would stop."""
    return task.cpu.memory_map.accessible(address, size, writing)


def access_ok(task: Task, address: int, size: int, writing: bool = False) -> None:
    """:class:`MemoryFault` unless the guest itself may read (or write) every byte of
    [address, +size): the one check behind every copy to or from the guest."""
    if size > 0 and task.cpu.memory_map.accessible(address, size, writing) < size:
        raise MemoryFault(address, size)


def copy_from_user(task: Task, address: int, size: int) -> bytes:
    data = task.cpu.read(address, size)  # access_ok: MemoryFault unless the guest may read
    task.charge(task.coffer.dispatcher.costs.copy(size))
    return data


def copy_to_user(task: Task, address: int, data: bytes) -> None:
    task.cpu.write_user(address, data)  # access_ok: MemoryFault unless the guest may write
    task.charge(task.coffer.dispatcher.costs.copy(len(data)))


def read_user(task: Task, address: int, size: int) -> bytes:
    """Guest bytes the kernel inspects without charging a copy (argv, names, traces).

    A few readable pages of one block (every path argument's chunk) are read in one
    look at their protections, :meth:`BlockMap.user_view`'s, which asks what
    :func:`access_ok` would for a read (mapped, not PROT_NONE): one walk of the pages
    instead of two, per path argument (issue #17)."""
    view = task.cpu.memory_map.user_view(address, size)
    if view is not None:
        return bytes(view)
    access_ok(task, address, size)
    return task.cpu.read(address, size)


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


def transfer_iovecs(iovecs: list[tuple[int, int]], total: int,
                    transfer: Callable[[int, int, int], int]) -> int:
    """Move up to ``total`` bytes through a vector, one (base, length) pair at a time,
    as Linux's iov_iter does: ``transfer(base, count, done)`` moves ``count`` bytes of
    one vector (chunk by chunk: :func:`read_to_user`, :func:`write_from_user`) and
    returns how many it moved. Empty vectors are skipped; a short transfer ends the
    call. A fault or error after some bytes went through ends it with that count;
    before any, it propagates."""
    done = 0
    for base, length in iovecs:
        if done >= total:
            break
        want = min(length, total - done)
        if not want:
            continue
        try:
            moved = transfer(base, want, done)
        except (MemoryFault, FsError, Block):
            if done:
                break
            raise
        done += moved
        if moved < want:
            break
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
            copy_to_user(task, address + done, data)  # all or nothing
        except MemoryFault:  # a bad page inside: store what precedes it (a short read)
            stored = user_prefix(task, address + done, len(data), writing=True)
            copy_to_user(task, address + done, data[:stored])
            unread(len(data) - stored)
            if done + stored:
                return done + stored
            raise MemoryFault(address, count) from None
        done += len(data)
        if len(data) < size or done >= count:
            return done


def strncpy_from_user(task: Task, address: int, limit: int = PATH_MAX) -> bytes:
    """A NUL-terminated string; ENAMETOOLONG if it does not end within ``limit``.

    Read page by page, so a string that ends just before a page the guest cannot
    read is fine and one that runs into it is EFAULT."""
    out = bytearray()
    while len(out) < limit:
        chunk = min(PAGE_SIZE - address % PAGE_SIZE, limit - len(out), STRING_CHUNK)
        data = read_user(task, address, chunk)
        end = data.find(b"\0")
        if end >= 0:
            return data[:end] if not out else bytes(out + data[:end])
        out += data
        address += chunk
    raise FsError(errno.ENAMETOOLONG)


def get_path(task: Task, address: int) -> str:
    """A path argument, decoded as the kernel sees it (bytes; surrogates kept)."""
    if address == 0:
        raise FsError(errno.EFAULT)
    # strncpy_from_user's first chunk, written out: most paths end in it, in a few
    # readable pages of one block (read_user's view; two calls fewer a path, issue #17)
    view = task.cpu.memory_map.user_view(address, min(PAGE_SIZE - address % PAGE_SIZE,
                                                      STRING_CHUNK))
    if view is not None:
        data = bytes(view)
        end = data.find(b"\0")
        if end >= 0:
            return data[:end].decode("utf-8", "surrogateescape")
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
    access_ok(task, address, U64.size, writing=True)
    task.cpu.write(address, U64.pack(value & ((1 << 64) - 1)))


def put_i32(task: Task, address: int, value: int) -> None:
    access_ok(task, address, I32.size, writing=True)
    task.cpu.write(address, I32.pack(value))


def get_iovecs(task: Task, address: int, count: int) -> list[tuple[int, int]]:
    """The (base, length) pairs of a readv/writev vector; EINVAL past IOV_MAX."""
    if count < 0 or count > IOV_MAX:
        raise FsError(errno.EINVAL)
    raw = read_user(task, address, IOVEC.size * count) if count else b""
    return [IOVEC.unpack_from(raw, i * IOVEC.size) for i in range(count)]


def signed(value: int, bits: int = 64) -> int:
    """Reinterpret a register value as a signed integer of ``bits`` bits."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def fd_arg(value: int) -> int:
    """A file descriptor argument: the low 32 bits, signed (AT_FDCWD is -100)."""
    return value if value < FD_SIGN_BIT else signed(value, 32)
