"""Event counters (fs/eventfd.c): a 64-bit count that reads and writes move.

A write of an 8-byte value adds it to the count; a read returns the count and
resets it to zero, or, with EFD_SEMAPHORE, returns 1 and takes 1 from it.
Reading a zero count sleeps until a write; a write that would take the count
past ``2**64 - 2`` sleeps until a read makes room. With O_NONBLOCK both answer
EAGAIN instead. Buffers shorter than 8 bytes are EINVAL, and so is writing the
value ``2**64 - 1``. The descriptor is readable while the count is non-zero and
writable while at least 1 can still be added, for poll, select and epoll.

The syscalls that make one are in :mod:`cofferos.coffers.syscalls.eventfd`.
"""

from __future__ import annotations

import errno
import struct

from cofferos.coffers.anon_inodes import AnonInodeFile
from cofferos.coffers.fs import FsError
from cofferos.coffers.poll import POLLERR, POLLIN, POLLOUT
from cofferos.coffers.wait import Block, WaitQueue

EFD_SEMAPHORE = 1  #: include/linux/eventfd.h; EFD_CLOEXEC/EFD_NONBLOCK are O_CLOEXEC/O_NONBLOCK
ULLONG_MAX = (1 << 64) - 1
EVENTFD_VALUE = struct.Struct("<Q")  #: the __u64 every read and write moves


class EventFd(AnonInodeFile):
    """One ``struct eventfd_ctx`` and the open file on it."""

    def __init__(self, count: int, flags: int) -> None:
        super().__init__("eventfd", flags)
        self.count = count
        self.semaphore = bool(flags & EFD_SEMAPHORE)
        self.wqh = WaitQueue()  #: readers wait for a count, writers for room

    def read(self, size: int) -> bytes:
        if size < EVENTFD_VALUE.size:
            raise FsError(errno.EINVAL)
        if self.count == 0:
            if self.nonblocking:
                raise FsError(errno.EAGAIN)
            raise Block([self.wqh])
        value = 1 if self.semaphore else self.count
        self.count -= value
        self.wqh.wake_all()
        return EVENTFD_VALUE.pack(value)

    def write(self, data: bytes) -> int:
        if len(data) < EVENTFD_VALUE.size:
            raise FsError(errno.EINVAL)
        (value,) = EVENTFD_VALUE.unpack_from(data)
        if value == ULLONG_MAX:
            raise FsError(errno.EINVAL)
        if ULLONG_MAX - self.count <= value:
            if self.nonblocking:
                raise FsError(errno.EAGAIN)
            raise Block([self.wqh])
        if value:
            self.count += value
            self.wqh.wake_all()
        return EVENTFD_VALUE.size

    def poll_mask(self) -> int:
        mask = POLLIN if self.count > 0 else 0
        if self.count == ULLONG_MAX:
            mask |= POLLERR
        if ULLONG_MAX - 1 > self.count:
            mask |= POLLOUT
        return mask

    def wait_queues(self) -> tuple[WaitQueue, ...]:
        return (self.wqh,)

    def release(self) -> None:
        self.wqh.wake_all()
