"""What a process has used and what the system has: getrusage, times, sysinfo (kernel/sys.c).

CPU time is the coffer's cycle accounting turned into time at the configured
frequency (``config.kernel_costs.frequency_hz``): user time from the cycles the
guest ran, system time from the kernel cycles charged to its threads. A
process's children's times are added to it when it reaps them (see
:meth:`~cofferos.coffers.task.Process.account_reaped`), as Linux's wait does
with ``cutime``/``cstime``. The cycles of the slice the caller is running right
now count too, so two calls in a row never see time go backwards.

sysinfo answers from the coffer alone: its uptime on the coffer's clock, its
memory limit as the RAM and what is not yet mapped as free, no swap, the number
of its threads (Linux's ``nr_threads``) and the load averages of
:mod:`cofferos.coffers.loadavg` (0 on an idle coffer, as on an idle Linux).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.ktime import saturate_s64
from cofferos.coffers.loadavg import FSHIFT, avenrun
from cofferos.coffers.syscalls.uaccess import copy_to_user, signed
from cofferos.coffers.timens import boottime_offset

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

NS_PER_SECOND = 1_000_000_000
NS_PER_MICROSECOND = 1_000
US_PER_SECOND = 1_000_000
KIB = 1024
USER_HZ = 100  #: clock ticks per second of times(2) (sysconf(_SC_CLK_TCK))
SI_LOAD_SHIFT = 16  #: loads[] are fixed point with 16 fractional bits

RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD = 0, -1, 1
# struct rusage: ru_utime and ru_stime (struct timeval), then 14 longs: maxrss,
# ixrss, idrss, isrss, minflt, majflt, nswap, inblock, oublock, msgsnd, msgrcv,
# nsignals, nvcsw, nivcsw.
RUSAGE = struct.Struct("<qqqq14q")
RUSAGE_COUNTERS = 13  #: the longs after ru_maxrss, all zero here
# struct tms: tms_utime, tms_stime, tms_cutime, tms_cstime (clock_t).
TMS = struct.Struct("<qqqq")
# struct sysinfo: uptime, loads[3], totalram, freeram, sharedram, bufferram,
# totalswap, freeswap, procs (u16), pad (u16), totalhigh, freehigh, mem_unit (u32).
SYSINFO = struct.Struct("<q3Q6QHH4xQQI4x")
assert RUSAGE.size == 144 and SYSINFO.size == 112
MEM_UNIT = 1
MAX_PROCS = 0xFFFF


def running_cycles(task: Task) -> int:
    """User cycles of the slice ``task`` is running now, not yet added to its counters."""
    slice_start = task.coffer.slice_start
    if slice_start is None or slice_start[0] is not task.cpu:
        return 0
    return task.cpu.counter.cycles - slice_start[1]


def _cycles_to_ns(task: Task, cycles: int) -> int:
    return cycles * NS_PER_SECOND // task.coffer.config.kernel_costs.frequency_hz


def _timeval(task: Task, cycles: int) -> tuple[int, int]:
    return divmod(_cycles_to_ns(task, cycles) // NS_PER_MICROSECOND, US_PER_SECOND)


def _ticks(task: Task, cycles: int) -> int:
    return _cycles_to_ns(task, cycles) * USER_HZ // NS_PER_SECOND


def sys_getrusage(task: Task, who: int, usage: int) -> int:
    who = signed(who, 32)
    process = task.process
    if who == RUSAGE_SELF:
        user, system = process.user_cycles + running_cycles(task), process.system_cycles
        maxrss = task.mm.mapped_bytes // KIB
    elif who == RUSAGE_THREAD:
        user, system = task.user_cycles + running_cycles(task), task.kernel_cycles
        maxrss = task.mm.mapped_bytes // KIB
    elif who == RUSAGE_CHILDREN:
        user, system = process.children_user_cycles, process.children_kernel_cycles
        maxrss = 0
    else:
        return -errno.EINVAL
    raw = RUSAGE.pack(*_timeval(task, user), *_timeval(task, system), maxrss,
                      *(0,) * RUSAGE_COUNTERS)
    copy_to_user(task, usage, raw)
    return 0


def sys_times(task: Task, buf: int) -> int:
    process = task.process
    if buf:
        copy_to_user(task, buf, TMS.pack(
            _ticks(task, process.user_cycles + running_cycles(task)),
            _ticks(task, process.system_cycles),
            _ticks(task, process.children_user_cycles),
            _ticks(task, process.children_kernel_cycles)))
    return task.coffer.monotonic_ns() * USER_HZ // NS_PER_SECOND


def sys_sysinfo(task: Task, info: int) -> int:
    coffer = task.coffer
    uptime_s, rest = divmod(coffer.monotonic_ns() + boottime_offset(task), NS_PER_SECOND)
    domain = coffer.domain  # the kernel's figures: shared on a shared kernel
    threads = [t for t in domain.tasks() if t.alive]
    loads = [load << (SI_LOAD_SHIFT - FSHIFT) for load in avenrun(coffer)]
    total = domain.memory_total(coffer)
    free = max(total - domain.memory_used(coffer), 0)
    raw = SYSINFO.pack(saturate_s64(uptime_s + (1 if rest else 0)), *loads,
                       total, free, 0, 0, 0, 0, min(len(threads), MAX_PROCS), 0, 0, 0, MEM_UNIT)
    copy_to_user(task, info, raw)
    return 0


def register(table: SyscallTable) -> None:
    table.add("getrusage", sys_getrusage, "int", "ptr")
    table.add("times", sys_times, "ptr")
    table.add("sysinfo", sys_sysinfo, "ptr")
