"""Time on the coffer's own clock (kernel/time/posix-timers.c, time.c, hrtimer.c).

Each coffer has its own clock (see :class:`~cofferos.coffers.coffer.Coffer`):
monotonic time is the cycles its tasks have run at the configured frequency plus
the time they slept, and the wall clock adds a fixed boot epoch. The coarse clocks
(CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE) stand still between timer ticks, as
the stamps of files do (``Coffer.current_time_ns``), and say so in clock_getres.
Nothing here reads the host's clock, so a run is deterministic and cannot learn
host time.
Sleeping advances the coffer's clock by the requested time without spinning the
host. Nobody in a coffer may set a clock: clock_settime and settimeofday check
their arguments as Linux does and then answer EPERM, even to a root holding
CAP_SYS_TIME, as Linux answers a container's root (the capability is checked
against the initial user namespace, which the host's administrator owns). The
coffer's clock is the simulation's time base, which a guest must not move.
In a time namespace (:mod:`cofferos.coffers.timens`) the monotonic and boot
clocks read ahead by its offsets, and absolute sleeps on them are taken back.
Requests saturate at KTIME_MAX as Linux's do (:mod:`cofferos.coffers.ktime`): a
sleep that long never ends by itself, and no clock value overflows what the guest
reads.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.itimers import HZ, TICK_NSEC
from cofferos.coffers.ktime import (
    InvalidTime,
    ktime_add_safe,
    ns_to_timeval,
    pack_timespec,
    realtime_to_monotonic,
    saturate_s64,
    timespec_valid,
)
from cofferos.coffers.pid_ns import find_vpid
from cofferos.coffers.syscalls.rusage import running_cycles
from cofferos.coffers.syscalls.uaccess import (
    I64,
    TIMESPEC,
    copy_from_user,
    copy_to_user,
    get_timespec,
    signed,
)
from cofferos.coffers.timens import clock_offset
from cofferos.coffers.wait import TIMED_OUT, Block

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

NS_PER_SECOND = 1_000_000_000
NS_PER_MICROSECOND = 1_000
TIMEVAL = struct.Struct("<qq")  # struct __kernel_old_timeval: tv_sec, tv_usec
TIMEZONE = struct.Struct("<ii")  # struct timezone: minuteswest, dsttime

CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1
CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE = 4, 5, 6
CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI = 7, 8, 9, 11
REALTIME_CLOCKS = {CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_REALTIME_ALARM, CLOCK_TAI}
MONOTONIC_CLOCKS = {CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE,
                    CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM}
CPU_CLOCKS = {CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID}
# A negative clock id names the CPU clock of any thread or process (include/linux/
# posix-timers.h): the id is ``~pid << 3``, bit 2 says per thread, the low two bits
# which time: user + system (PROF), user (VIRT) or the scheduler's runtime (SCHED);
# 3 is a clock file descriptor, not modelled. pthread_getcpuclockid and
# clock_getcpuclockid make these ids.
CPUCLOCK_PERTHREAD_MASK = 4
CPUCLOCK_CLOCK_MASK = 3
CPUCLOCK_PROF, CPUCLOCK_VIRT, CPUCLOCK_SCHED, CPUCLOCK_MAX = 0, 1, 2, 3
CPUCLOCK_PID_SHIFT = 3
TIMER_ABSTIME = 1
USEC_PER_SEC = 1_000_000
#: timespec64_valid_settod: no time of day so late that uptime could overflow ktime
#: (KTIME_SEC_MAX - TIME_UPTIME_SEC_MAX, include/linux/time64.h).
TIME_SETTOD_SEC_MAX = 9_223_372_036 - 30 * 365 * 24 * 3600
MINUTES_WEST_MAX = 15 * 60  #: settimeofday's bound on tz_minuteswest
RESOLUTION_NS = 1


def clock_ns(task: Task, clock_id: int) -> int:
    """The time of ``clock_id`` in nanoseconds, or raise ValueError for an unknown clock."""
    coffer = task.coffer
    if clock_id == CLOCK_REALTIME_COARSE:  # as of the last tick: a file's timestamps
        return coffer.current_time_ns()
    if clock_id == CLOCK_MONOTONIC_COARSE:
        monotonic = coffer.monotonic_ns()
        return monotonic - monotonic % TICK_NSEC + clock_offset(task, clock_id)
    if clock_id in REALTIME_CLOCKS:
        return coffer.realtime_ns()
    if clock_id in MONOTONIC_CLOCKS:  # shifted by the time namespace's offsets
        if task.process.time_ns is None:  # (no call on the common path)
            return coffer.monotonic_ns()
        return coffer.monotonic_ns() + clock_offset(task, clock_id)
    if clock_id in CPU_CLOCKS or clock_id < 0:
        cycles = _cpu_clock_cycles(task, clock_id)
        return cycles * NS_PER_SECOND // coffer.config.kernel_costs.frequency_hz
    raise ValueError(clock_id)


def _cpu_clock_times(task: Task, clock_id: int) -> tuple[int, int]:
    """(user, system) cycles of the thread or process a CPU clock id names
    (pid_for_clock); ValueError for an id that names nothing readable: EINVAL.

    CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID are the caller's own
    process and thread. A thread's clock is readable only within its own thread
    group; a process's clock needs the id of a thread group leader (or the caller's
    own thread id, which names its process). The slice the caller runs now counts."""
    if clock_id in CPU_CLOCKS:
        per_thread, pid = clock_id == CLOCK_THREAD_CPUTIME_ID, 0
    elif clock_id & CPUCLOCK_CLOCK_MASK >= CPUCLOCK_MAX:
        raise ValueError(clock_id)
    else:
        per_thread = bool(clock_id & CPUCLOCK_PERTHREAD_MASK)
        pid = ~(clock_id >> CPUCLOCK_PID_SHIFT)
    found = 0 if pid == 0 else find_vpid(task, pid)  # (the caller's PID namespace's)
    target = task if pid == 0 else None if found is None else task.coffer.tasks.get(found)
    if target is None:
        raise ValueError(clock_id)
    if per_thread:
        if target.process is not task.process:
            raise ValueError(clock_id)
        running = running_cycles(task) if target is task else 0
        return target.user_cycles + running, target.kernel_cycles
    if target.tgid != target.pid and target is not task:
        raise ValueError(clock_id)
    process = target.process
    running = running_cycles(task) if process is task.process else 0
    return process.user_cycles + running, process.system_cycles


def _cpu_clock_cycles(task: Task, clock_id: int) -> int:
    """The cycles a CPU clock counts: user + system, or user alone for CPUCLOCK_VIRT."""
    user, system = _cpu_clock_times(task, clock_id)
    if clock_id < 0 and clock_id & CPUCLOCK_CLOCK_MASK == CPUCLOCK_VIRT:
        return user
    return user + system


def _resolution_ns(clock_id: int) -> int:
    """posix_cpu_clock_getres: a tick for the sampled PROF and VIRT clocks; the coarse
    clocks' LOW_RES_NSEC, a tick too (kernel/time/posix-timers.c)."""
    if clock_id < 0 and clock_id & CPUCLOCK_CLOCK_MASK != CPUCLOCK_SCHED:
        return (NS_PER_SECOND + HZ - 1) // HZ
    if clock_id in (CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE):
        return TICK_NSEC
    return RESOLUTION_NS


def _timespec(ns: int) -> bytes:
    return pack_timespec(ns)


def sys_clock_gettime(task: Task, clock_id: int, tp: int) -> int:
    try:
        now = clock_ns(task, signed(clock_id, 32))
    except ValueError:
        return -errno.EINVAL
    copy_to_user(task, tp, _timespec(now))
    return 0


def sys_clock_getres(task: Task, clock_id: int, res: int) -> int:
    try:
        clock_ns(task, signed(clock_id, 32))
    except ValueError:
        return -errno.EINVAL
    if res:
        copy_to_user(task, res, _timespec(_resolution_ns(signed(clock_id, 32))))
    return 0


def sys_gettimeofday(task: Task, tv: int, tz: int) -> int:
    now = task.coffer.realtime_ns()
    if tv:
        copy_to_user(task, tv, TIMEVAL.pack(*ns_to_timeval(now)))
    if tz:
        copy_to_user(task, tz, TIMEZONE.pack(0, 0))  # the coffer runs in UTC
    return 0


def sys_time(task: Task, tloc: int) -> int:
    seconds = saturate_s64(task.coffer.realtime_ns() // NS_PER_SECOND)
    if tloc:
        copy_to_user(task, tloc, I64.pack(seconds))
    return seconds


def _settod(task: Task, seconds: int, ns: int) -> int:
    """do_sys_settimeofday64: a time of day checked, then the capability (never held)."""
    if not timespec_valid(seconds, ns) or seconds > TIME_SETTOD_SEC_MAX:
        return -errno.EINVAL
    return -errno.EPERM  # security_settime64: CAP_SYS_TIME in the initial user namespace


def sys_clock_settime(task: Task, clock_id: int, tp: int) -> int:
    clock_id = signed(clock_id, 32)
    if clock_id != CLOCK_REALTIME and clock_id >= 0:
        return -errno.EINVAL  # the other clocks have no clock_set
    seconds, ns = TIMESPEC.unpack(copy_from_user(task, tp, TIMESPEC.size))
    if clock_id < 0:  # posix_cpu_clock_set: a clock that exists, but never settable
        try:
            _cpu_clock_times(task, clock_id)
        except ValueError:
            return -errno.EINVAL
        return -errno.EPERM
    return _settod(task, seconds, ns)


def sys_settimeofday(task: Task, tv: int, tz: int) -> int:
    seconds = usec = 0
    if tv:
        seconds, usec = TIMEVAL.unpack(copy_from_user(task, tv, TIMEVAL.size))
        if seconds < 0 or not 0 <= usec < USEC_PER_SEC:
            return -errno.EINVAL  # timeval_valid
    if tz:
        minutes_west, _ = TIMEZONE.unpack(copy_from_user(task, tz, TIMEZONE.size))
        if abs(minutes_west) > MINUTES_WEST_MAX:
            return -errno.EINVAL
    if tv:
        return _settod(task, seconds, usec * NS_PER_MICROSECOND)
    return -errno.EPERM


def _sleep(task: Task, deadline_ns: int) -> int:
    """Sleep until the coffer's monotonic clock reaches ``deadline_ns`` (other tasks run)."""
    if task.wakeup == TIMED_OUT or task.coffer.monotonic_ns() >= deadline_ns:
        return 0
    raise Block([], deadline_ns)


def sys_nanosleep(task: Task, req: int, rem: int) -> int:
    try:
        duration = get_timespec(task, req)
    except InvalidTime:
        return -errno.EINVAL
    if task.wakeup is None:
        task.sleep_deadline = ktime_add_safe(task.coffer.monotonic_ns(), duration)
    # ``rem`` is written only when a signal cuts the sleep short (hrtimer_nanosleep's
    # restart path), never when it runs its course, so a bad ``rem`` is no EFAULT then.
    return _sleep(task, task.sleep_deadline)


def sys_clock_nanosleep(task: Task, clock_id: int, flags: int, req: int, rem: int) -> int:
    clock_id = signed(clock_id, 32)
    if clock_id in CPU_CLOCKS or clock_id not in REALTIME_CLOCKS | MONOTONIC_CLOCKS:
        return -errno.EINVAL  # Linux: sleeping on a CPU-time clock of one's own thread
    try:
        request = get_timespec(task, req)
    except InvalidTime:
        return -errno.EINVAL
    if task.wakeup is None:
        if flags & TIMER_ABSTIME:  # timens_ktime_to_host for the monotonic clocks
            epoch = task.coffer.config.epoch_ns if clock_id in REALTIME_CLOCKS else \
                clock_offset(task, clock_id)
            task.sleep_deadline = realtime_to_monotonic(request, epoch)
        else:
            task.sleep_deadline = ktime_add_safe(task.coffer.monotonic_ns(), request)
    return _sleep(task, task.sleep_deadline)


def register(table: SyscallTable) -> None:
    table.add("clock_gettime", sys_clock_gettime, "clockid", "ptr")
    table.add("clock_getres", sys_clock_getres, "clockid", "ptr")
    table.add("clock_settime", sys_clock_settime, "clockid", "ptr")
    table.add("settimeofday", sys_settimeofday, "ptr", "ptr")
    table.add("gettimeofday", sys_gettimeofday, "ptr", "ptr")
    table.add("time", sys_time, "ptr")
    table.add("nanosleep", sys_nanosleep, "ptr", "ptr")
    table.add("clock_nanosleep", sys_clock_nanosleep, "clockid", "hex", "ptr", "ptr")
