"""Kernel time values that saturate instead of overflowing (include/linux/ktime.h, time64.h).

Every timeout and deadline a guest gives (nanosleep, clock_nanosleep, futex,
select, poll, epoll_pwait2, sigtimedwait, setitimer, timerfd) goes through
:func:`timespec_to_ktime` and :func:`ktime_add_safe`, as Linux's do:

- a ``struct timespec`` with ``tv_sec < 0`` or ``tv_nsec`` outside
  [0, NSEC_PER_SEC) is invalid (``timespec64_valid``): the call fails with
  EINVAL (:class:`InvalidTime`);
- a valid one converts to nanoseconds, saturating at :data:`KTIME_MAX`
  (``timespec64_to_ktime``), and ``now + timeout`` saturates there too
  (``ktime_add_safe``).

A timer set to :data:`KTIME_MAX` never fires: the clock cannot reach it
(``schedule_hrtimeout_range`` sleeps without a timer for it). The coffer's
scheduler treats such a deadline as none at all (:func:`finite_deadline`), so a
guest asking to sleep "for ever" sleeps until a signal or an event wakes it, and
can never move its clock, or the clocks of the coffers run beside it, to the end
of time.

Going the other way, :func:`ns_to_timespec` and friends saturate the seconds at
``TIME64_MAX``, so no clock value, however late, can overflow a guest structure.
"""

from __future__ import annotations

import struct

NSEC_PER_SEC = 1_000_000_000
NSEC_PER_USEC = 1_000
USEC_PER_SEC = 1_000_000
KTIME_MAX = (1 << 63) - 1  #: include/linux/ktime.h: the latest time a ktime_t can hold
KTIME_SEC_MAX = KTIME_MAX // NSEC_PER_SEC  #: include/linux/time64.h
TIME64_MAX = (1 << 63) - 1  #: include/vdso/time64.h: the largest time64_t (seconds)
TIMESPEC = struct.Struct("<qq")  #: struct __kernel_timespec: tv_sec, tv_nsec
TIMEVAL = struct.Struct("<qq")  #: struct __kernel_old_timeval: tv_sec, tv_usec


class InvalidTime(ValueError):
    """A timespec or timeval the kernel refuses (the call returns -EINVAL)."""


def timespec_valid(seconds: int, ns: int) -> bool:
    """``timespec64_valid``: seconds not negative, nanoseconds in [0, NSEC_PER_SEC)."""
    return seconds >= 0 and 0 <= ns < NSEC_PER_SEC


def timespec_to_ktime(seconds: int, ns: int) -> int:
    """``timespec64_to_ktime`` of a valid timespec: nanoseconds, at most KTIME_MAX.
    Raises :class:`InvalidTime` for an invalid one."""
    if not timespec_valid(seconds, ns):
        raise InvalidTime(seconds, ns)
    if seconds >= KTIME_SEC_MAX:
        return KTIME_MAX
    return seconds * NSEC_PER_SEC + ns


def timeval_to_ktime(seconds: int, micros: int) -> int:
    """``timeval_valid`` then ``ktime_set``: a timeval in nanoseconds, at most KTIME_MAX."""
    if seconds < 0 or not 0 <= micros < USEC_PER_SEC:
        raise InvalidTime(seconds, micros)
    return timespec_to_ktime(seconds, micros * NSEC_PER_USEC)


def ktime_add_safe(base: int, delta: int) -> int:
    """``ktime_add_safe``: ``base + delta``, saturating at KTIME_MAX."""
    return min(base + delta, KTIME_MAX)


def timespec_add_safe(base_ns: int, delta_ns: int) -> int:
    """``timespec64_add_safe`` in nanoseconds: the sum, its seconds saturated at TIME64_MAX
    (select's family keeps its end time as a timespec64, not a ktime)."""
    total = base_ns + delta_ns
    return min(total, TIME64_MAX * NSEC_PER_SEC)


def finite_deadline(deadline_ns: int | None) -> int | None:
    """A deadline the clock can reach, or None: one at KTIME_MAX never fires."""
    if deadline_ns is None or deadline_ns >= KTIME_MAX:
        return None
    return deadline_ns


def realtime_to_monotonic(ktime: int, epoch_ns: int) -> int:
    """An absolute CLOCK_REALTIME time as a monotonic deadline; KTIME_MAX stays never."""
    return KTIME_MAX if ktime >= KTIME_MAX else ktime - epoch_ns


def ns_to_timespec(ns: int) -> tuple[int, int]:
    """(seconds, nanoseconds) of a time in nanoseconds; seconds saturate at TIME64_MAX."""
    seconds, rest = divmod(max(ns, 0), NSEC_PER_SEC)
    if seconds > TIME64_MAX:
        return TIME64_MAX, NSEC_PER_SEC - 1
    return seconds, rest


def ns_to_timeval(ns: int) -> tuple[int, int]:
    """(seconds, microseconds) of a time in nanoseconds, saturating like :func:`ns_to_timespec`."""
    seconds, rest = ns_to_timespec(ns)
    return seconds, rest // NSEC_PER_USEC


def pack_timespec(ns: int) -> bytes:
    """A ``struct __kernel_timespec`` for ``ns`` nanoseconds, saturated."""
    return TIMESPEC.pack(*ns_to_timespec(ns))


def pack_timeval(ns: int) -> bytes:
    """A ``struct __kernel_old_timeval`` for ``ns`` nanoseconds, saturated."""
    return TIMEVAL.pack(*ns_to_timeval(ns))


def saturate_s64(value: int) -> int:
    """``value`` clamped into a signed 64-bit field."""
    return max(min(value, (1 << 63) - 1), -(1 << 63))


def saturate_u64(value: int) -> int:
    """``value`` clamped into an unsigned 64-bit field."""
    return max(min(value, (1 << 64) - 1), 0)
