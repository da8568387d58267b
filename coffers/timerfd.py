"""Timers read through a descriptor (fs/timerfd.c), on the coffer's own clock.

A timerfd holds a deadline and an interval. Reading it returns, as an 8-byte
count, how many times the timer expired since the last read (or since it was
set), and sleeps until the first expiry if there was none; with O_NONBLOCK that
is EAGAIN. Setting the timer forgets the expirations not yet read.

Expiries are computed lazily from the coffer's clock when anyone looks (a
read, timerfd_gettime, poll), never by a host timer: a sleeping reader or
poller gives the scheduler the timer's deadline (:meth:`TimerFd.deadline_ns`),
and when every task sleeps the scheduler moves the clock straight to it.

Deadlines are kept on the coffer's monotonic clock. CLOCK_REALTIME is that
clock plus the coffer's fixed boot epoch (nothing sets the wall clock inside a
coffer), so an absolute realtime deadline converts once, when the timer is set.

The syscalls are in :mod:`cofferos.coffers.syscalls.timerfd`.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable

from cofferos.coffers.anon_inodes import AnonInodeFile
from cofferos.coffers.fs import FsError
from cofferos.coffers.ktime import finite_deadline, ktime_add_safe
from cofferos.coffers.poll import POLLIN
from cofferos.coffers.wait import Block, WaitQueue

TIMERFD_TICKS = struct.Struct("<Q")  #: what a read returns: the expirations, a __u64


class TimerFd(AnonInodeFile):
    """One ``struct timerfd_ctx`` and the open file on it."""

    def __init__(self, clock_id: int, flags: int, now_ns: Callable[[], int]) -> None:
        super().__init__("timerfd", flags)
        self.clock_id = clock_id
        self.now_ns = now_ns  #: the coffer's monotonic clock
        self.expires_ns: int | None = None  #: next expiry on the monotonic clock; None: disarmed
        self.interval_ns = 0
        self.ticks = 0  #: expirations not yet read
        self.wqh = WaitQueue()  #: readers, and pollers, waiting for a change of setting

    def _expire(self) -> None:
        """Count the expirations up to now and move the deadline past now."""
        expires, now = self.expires_ns, self.now_ns()
        if expires is None or now < expires:
            return
        if self.interval_ns:
            overruns = (now - expires) // self.interval_ns + 1
            self.ticks += overruns
            self.expires_ns = ktime_add_safe(expires, overruns * self.interval_ns)
        else:
            self.ticks += 1
            self.expires_ns = None

    def remaining(self) -> tuple[int, int]:
        """(time to the next expiry, interval) in nanoseconds, as timerfd_gettime shows."""
        self._expire()
        left = 0 if self.expires_ns is None else self.expires_ns - self.now_ns()
        return left, self.interval_ns

    def settime(self, expires_ns: int | None, interval_ns: int) -> tuple[int, int]:
        """Arm at ``expires_ns`` on the monotonic clock (None: disarm); the old setting."""
        old = self.remaining()
        self.expires_ns = expires_ns
        self.interval_ns = interval_ns  # kept even when disarmed, as Linux shows it
        self.ticks = 0
        self.wqh.wake_all()  # sleepers recompute their deadline
        return old

    def read(self, size: int) -> bytes:
        if size < TIMERFD_TICKS.size:
            raise FsError(errno.EINVAL)
        self._expire()
        if self.ticks == 0:
            if self.nonblocking:
                raise FsError(errno.EAGAIN)
            raise Block([self.wqh], self.expires_ns)
        ticks, self.ticks = self.ticks, 0
        return TIMERFD_TICKS.pack(ticks)

    def poll_mask(self) -> int:
        self._expire()
        return POLLIN if self.ticks else 0

    def wait_queues(self) -> tuple[WaitQueue, ...]:
        return (self.wqh,)

    def deadline_ns(self) -> int | None:
        return finite_deadline(self.expires_ns)
