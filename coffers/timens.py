"""Time namespaces (kernel/time/namespace.c, fs/proc/base.c's timens_offsets).

A time namespace shifts two clocks of the processes in it: CLOCK_MONOTONIC (with
its RAW and COARSE variants) by one offset and CLOCK_BOOTTIME (and its ALARM) by
another; CLOCK_REALTIME is the same everywhere. ``unshare(CLONE_NEWTIME)`` makes
a new one for the caller's next children (``time_for_children``), with the offsets
of the one it replaces; the caller stays where it is. Until a process enters it
(fork, or setns), ``/proc/PID/timens_offsets`` of a process whose children would go
there sets its offsets: lines ``CLOCK SECONDS NANOSECONDS``, the clock by name
(``monotonic``, ``boottime``) or number, with CAP_SYS_TIME in the user namespace
owning the time namespace (EPERM), nanoseconds below a second and a known clock
(EINVAL), a clock that stays between 0 and KTIME_SEC_MAX / 2 (ERANGE), none of
them once a process is in it (EACCES). The file shows ``time_for_children``'s.

Inside, clock_gettime adds the offsets, /proc/uptime and sysinfo add boottime's,
and the absolute times a process gives (clock_nanosleep and timerfd_settime with
TIMER_ABSTIME on CLOCK_MONOTONIC or CLOCK_BOOTTIME) are taken back to the
coffer's clock (timens_ktime_to_host). A coffer's first time namespace has no
offsets (None on the process).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_TIME
from cofferos.coffers.fs import FsError
from cofferos.coffers.ktime import KTIME_MAX, NSEC_PER_SEC
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.task import Credentials, Process, Task
    from cofferos.coffers.userns import UserNamespace

CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE = 1, 4, 6
CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM = 7, 9
MONOTONIC_SHIFTED = frozenset({CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE})
BOOTTIME_SHIFTED = frozenset({CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM})
CLOCK_NAMES = {"monotonic": CLOCK_MONOTONIC, "boottime": CLOCK_BOOTTIME}
KTIME_SEC_MAX = KTIME_MAX // NSEC_PER_SEC
SHOW_FORMAT = "{:<10} {:>10} {:>9}\n"  #: show_offset's "%-10s %10lld %9ld\n"


@dataclass(eq=False)
class TimeNamespace:
    """One time namespace (``struct time_namespace``): its offsets in nanoseconds, the
    user namespace that owns it, and whether a process has entered it (frozen)."""

    user_ns: UserNamespace | None
    monotonic_ns: int = 0
    boottime_ns: int = 0
    frozen: bool = False


def time_ns_of(process: Process) -> TimeNamespace | None:
    return process.time_ns


def for_children(process: Process) -> TimeNamespace | None:
    """Where the process's next children go (None: the coffer's first)."""
    ns = process.time_ns_for_children
    return process.time_ns if ns is None else ns


def clock_offset(task: Task, clock_id: int) -> int:
    """What the task's time namespace adds to ``clock_id`` (0 for any other clock)."""
    ns = task.process.time_ns
    if ns is None:
        return 0
    if clock_id in MONOTONIC_SHIFTED:
        return ns.monotonic_ns
    if clock_id in BOOTTIME_SHIFTED:
        return ns.boottime_ns
    return 0


def boottime_offset(task: Task) -> int:
    return clock_offset(task, CLOCK_BOOTTIME)


def unshare_time(process: Process, user_ns: UserNamespace | None) -> None:
    """copy_time_ns: a new namespace for the next children, with the offsets of the
    one it replaces."""
    old = for_children(process)
    process.time_ns_for_children = TimeNamespace(
        user_ns, 0 if old is None else old.monotonic_ns, 0 if old is None else old.boottime_ns)


def enter(process: Process, ns: TimeNamespace | None) -> None:
    """timens_on_fork and timens_install: ``process`` is in ``ns`` (and its children
    go there), whose offsets are then fixed."""
    process.time_ns = process.time_ns_for_children = ns
    if ns is not None:
        ns.frozen = True


def show_offsets(process: Process) -> str:
    ns = for_children(process)
    lines = []
    for name, offset in (("monotonic", 0 if ns is None else ns.monotonic_ns),
                         ("boottime", 0 if ns is None else ns.boottime_ns)):
        seconds, nanoseconds = divmod(offset, NSEC_PER_SEC)
        lines.append(SHOW_FORMAT.format(name, seconds, nanoseconds))
    return "".join(lines)


def _parse(data: bytes) -> list[tuple[int, int]]:
    """timens_offsets_write's lines: (clock, offset in ns); EINVAL for a bad one."""
    offsets = []
    for line in data.decode("ascii", "replace").splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise FsError(errno.EINVAL, "CLOCK SECONDS NANOSECONDS")
        name, seconds, nanoseconds = fields
        try:
            clock = CLOCK_NAMES[name] if name in CLOCK_NAMES else int(name)
            secs, nsecs = int(seconds), int(nanoseconds)
        except ValueError:
            raise FsError(errno.EINVAL, line) from None
        if not 0 <= nsecs < NSEC_PER_SEC:
            raise FsError(errno.EINVAL, "nanoseconds")
        offsets.append((clock, secs, nsecs))
    return [(clock, secs * NSEC_PER_SEC + nsecs) for clock, secs, nsecs in offsets]


def write_offsets(process: Process, creds: Credentials, now_ns: int, data: bytes) -> int:
    """proc_timens_set_offset for ``process``'s time_for_children, written by ``creds``."""
    ns = for_children(process)
    if not ns_capable(creds, None if ns is None else ns.user_ns, CAP_SYS_TIME):
        raise FsError(errno.EPERM, "CAP_SYS_TIME in the time namespace's owner")
    offsets = _parse(data)
    for clock, offset in offsets:
        if clock not in (CLOCK_MONOTONIC, CLOCK_BOOTTIME):
            raise FsError(errno.EINVAL, f"clock {clock}")
        if abs(offset) // NSEC_PER_SEC > KTIME_SEC_MAX:
            raise FsError(errno.ERANGE, "offset")
        shifted = (now_ns + offset) // NSEC_PER_SEC
        if shifted < 0 or shifted > KTIME_SEC_MAX // 2:
            raise FsError(errno.ERANGE, "the clock would leave its range")
    if ns is None or ns.frozen:  # (the coffer's first has had processes from the start)
        raise FsError(errno.EACCES, "a process is in the namespace already")
    for clock, offset in offsets:
        if clock == CLOCK_MONOTONIC:
            ns.monotonic_ns = offset
        else:
            ns.boottime_ns = offset
    return len(data)
