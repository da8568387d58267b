"""timerfd_create, timerfd_settime, timerfd_gettime (fs/timerfd.c).

The timer is :class:`cofferos.coffers.timerfd.TimerFd`; this layer checks the
arguments in Linux's order and converts ``struct itimerspec`` to and from
deadlines on the coffer's monotonic clock.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.files import OpenFile
from cofferos.coffers.ktime import (
    InvalidTime,
    ktime_add_safe,
    ns_to_timespec,
    realtime_to_monotonic,
    timespec_to_ktime,
)
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.time import (
    CLOCK_BOOTTIME,
    CLOCK_BOOTTIME_ALARM,
    CLOCK_MONOTONIC,
    CLOCK_REALTIME,
    CLOCK_REALTIME_ALARM,
    REALTIME_CLOCKS,
)
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user, fd_arg, signed
from cofferos.coffers.timens import clock_offset
from cofferos.coffers.timerfd import TimerFd

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

ITIMERSPEC = struct.Struct("<qqqq")  #: struct __kernel_itimerspec: it_interval, it_value
TFD_CLOEXEC, TFD_NONBLOCK = os.O_CLOEXEC, os.O_NONBLOCK
TFD_CREATE_FLAGS = TFD_CLOEXEC | TFD_NONBLOCK
TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET = 1 << 0, 1 << 1
TFD_SETTIME_FLAGS = TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET
TIMERFD_CLOCKS = frozenset({CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_REALTIME_ALARM,
                            CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM})
ALARM_CLOCKS = frozenset({CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM})


def _timerfd(task: Task, fd: int) -> TimerFd | int:
    """The timer behind ``fd``, or -EINVAL when it is another kind of file."""
    file: OpenFile = fdget(task, fd_arg(fd))
    return file if isinstance(file, TimerFd) else -errno.EINVAL


def _pack(value_ns: int, interval_ns: int) -> bytes:
    return ITIMERSPEC.pack(*ns_to_timespec(interval_ns), *ns_to_timespec(value_ns))


def sys_timerfd_create(task: Task, clockid: int, flags: int) -> int:
    clockid, flags = signed(clockid, 32), signed(flags, 32)
    if clockid not in TIMERFD_CLOCKS or flags & ~TFD_CREATE_FLAGS:
        return -errno.EINVAL
    if clockid in ALARM_CLOCKS and task.creds.euid != 0:
        return -errno.EPERM  # needs CAP_WAKE_ALARM
    timer = TimerFd(clockid, flags, task.coffer.monotonic_ns)
    return task.files.install(timer, cloexec=bool(flags & TFD_CLOEXEC))


def sys_timerfd_settime(task: Task, fd: int, flags: int, utmr: int, otmr: int) -> int:
    isec, insec, vsec, vnsec = ITIMERSPEC.unpack(copy_from_user(task, utmr, ITIMERSPEC.size))
    flags = signed(flags, 32)
    try:  # timespec64_valid, then timespec64_to_ktime: saturated at KTIME_MAX
        interval, value = timespec_to_ktime(isec, insec), timespec_to_ktime(vsec, vnsec)
    except InvalidTime:
        return -errno.EINVAL
    if flags & ~TFD_SETTIME_FLAGS:
        return -errno.EINVAL
    timer = _timerfd(task, fd)
    if isinstance(timer, int):
        return timer
    if timer.clock_id in ALARM_CLOCKS and task.creds.euid != 0:
        return -errno.EPERM
    coffer = task.coffer
    expires: int | None = None
    if value and flags & TFD_TIMER_ABSTIME:
        # The wall clock is the monotonic clock plus the fixed epoch: nothing sets it,
        # so TFD_TIMER_CANCEL_ON_SET never fires.
        epoch = coffer.config.epoch_ns if timer.clock_id in REALTIME_CLOCKS else \
            clock_offset(task, timer.clock_id)  # timens_ktime_to_host
        expires = realtime_to_monotonic(value, epoch)
    elif value:
        expires = ktime_add_safe(coffer.monotonic_ns(), value)
    old_value, old_interval = timer.settime(expires, interval)
    if otmr:
        copy_to_user(task, otmr, _pack(old_value, old_interval))
    return 0


def sys_timerfd_gettime(task: Task, fd: int, otmr: int) -> int:
    timer = _timerfd(task, fd)
    if isinstance(timer, int):
        return timer
    copy_to_user(task, otmr, _pack(*timer.remaining()))
    return 0


def register(table: SyscallTable) -> None:
    table.add("timerfd_create", sys_timerfd_create, "clockid", "hex")
    table.add("timerfd_settime", sys_timerfd_settime, "fd", "hex", "ptr", "ptr")
    table.add("timerfd_gettime", sys_timerfd_gettime, "fd", "ptr")
