"""The CPU-time interval timers, ITIMER_VIRTUAL and ITIMER_PROF (kernel/time/itimer.c,
kernel/time/posix-cpu-timers.c).

ITIMER_VIRTUAL counts the process's user CPU time and sends SIGVTALRM when it
runs out; ITIMER_PROF counts user and system time together and sends SIGPROF.
Both belong to the process (all its threads count), are not inherited by fork,
and survive execve. CPU time is the simulator's own accounting: the cycles the
process's threads ran in user mode (charged per slice) and in the kernel
(charged per system call), turned into nanoseconds at the modelled frequency.

As in Linux a timer is kept as an absolute expiry on its clock plus a reload
interval; setting it adds one tick (TICK_NSEC) so that it never fires early, and
it is checked when CPU time is charged (:func:`check_cpu_itimers`, after every
slice, where Linux checks at every tick): it fires at most once per check, with
si_code SI_KERNEL. ITIMER_REAL stays in :mod:`cofferos.coffers.syscalls.signal`.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.signals import SigInfo

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Process

ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = 0, 1, 2
CPU_ITIMERS = {ITIMER_VIRTUAL: signal.SIGVTALRM, ITIMER_PROF: signal.SIGPROF}
NS_PER_SECOND = 1_000_000_000
HZ = 250  #: the simulated kernel's CONFIG_HZ (Debian's)
TICK_NSEC = NS_PER_SECOND // HZ
SI_KERNEL = 0x80


@dataclass
class CpuItimer:
    """``struct cpu_itimer``: expiry on the process's CPU clock (0: disarmed), reload."""

    expires_ns: int = 0
    incr_ns: int = 0


def process_cpu_ns(coffer: Coffer, process: Process, which: int, running_cycles: int = 0) -> int:
    """The process's CPU time on ``which``'s clock, counting ``running_cycles`` of user
    time not yet charged (the slice the caller is in)."""
    cycles = process.user_cycles + running_cycles
    if which == ITIMER_PROF:
        cycles += process.system_cycles
    return cycles * NS_PER_SECOND // coffer.config.kernel_costs.frequency_hz


def get_cpu_itimer(process: Process, which: int, now_ns: int) -> tuple[int, int]:
    """(interval, time left) of a CPU timer, as getitimer reports it (get_cpu_itimer)."""
    timer = process.cpu_itimers.get(which, CpuItimer())
    left = timer.expires_ns
    if left:
        left = TICK_NSEC if left < now_ns else left - now_ns  # due: it fires at the next tick
    return timer.incr_ns, left


def set_cpu_itimer(process: Process, which: int, now_ns: int, interval_ns: int,
                   value_ns: int) -> tuple[int, int]:
    """Arm (or with ``value_ns`` 0 disarm) a CPU timer; returns the old (interval, left)."""
    old = get_cpu_itimer(process, which, now_ns)
    expires = now_ns + value_ns + TICK_NSEC if value_ns else 0
    process.cpu_itimers[which] = CpuItimer(expires, interval_ns)
    return old


def check_cpu_itimers(coffer: Coffer, process: Process) -> None:
    """Fire the process's CPU timers whose time has come (check_cpu_itimer)."""
    for which, signo in CPU_ITIMERS.items():
        timer = process.cpu_itimers.get(which)
        if timer is None or not timer.expires_ns or process.zombie:
            continue
        if process_cpu_ns(coffer, process, which) >= timer.expires_ns:
            timer.expires_ns = timer.expires_ns + timer.incr_ns if timer.incr_ns else 0
            coffer.signals.send_process(process, SigInfo(signo, code=SI_KERNEL))
