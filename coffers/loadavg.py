"""The load averages of a kernel domain (kernel/sched/loadavg.c), for /proc/loadavg and sysinfo.

Linux samples the number of active tasks (running or in uninterruptible sleep)
every LOAD_FREQ, 5 seconds and a tick, and folds each sample into three
exponentially decaying averages in 11-bit fixed point (``calc_load``). Before the
first sample all three are 0, whatever runs.

The model keeps no history of its run queue, so it folds a steady estimate: the
mean number of tasks that were on a CPU over the coffer's life (the cycles the
kernel domain's tasks ran, as time, over the time the coffer has existed), as if it
had held at every sample since boot, with Linux's own integer arithmetic
(``calc_load_n``). An idle coffer, whose tasks sleep, therefore shows 0.00 as an
idle Linux does, and one busy task at every sample approaches 1.00. Runnable tasks
waiting for a CPU are not counted (the estimate is of CPU use, not of the queue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer

NS_PER_SECOND = 1_000_000_000
FSHIFT = 11  #: bits of fraction (include/linux/sched/loadavg.h)
FIXED_1 = 1 << FSHIFT
#: 1/exp(5s/1min), 1/exp(5s/5min), 1/exp(5s/15min) in fixed point.
EXP_1, EXP_5, EXP_15 = 1884, 2014, 2037
HZ = 250  #: the tick rate of a CONFIG_HZ_250 kernel, Debian's and most distributions'
LOAD_FREQ_NS = (5 * HZ + 1) * NS_PER_SECOND // HZ  #: 5 s and one tick between samples
#: LOAD_INT/LOAD_FRAC round to two decimals by adding FIXED_1/200 (fs/proc/loadavg.c).
PRINT_ROUNDING = FIXED_1 // 200
PERCENT = 100


def _fixed_power_int(x: int, n: int) -> int:
    """x**n in fixed point, rounded as kernel/sched/loadavg.c's fixed_power_int."""
    result = FIXED_1
    while n:
        if n & 1:
            result = (result * x + FIXED_1 // 2) >> FSHIFT
        n >>= 1
        if not n:
            break
        x = (x * x + FIXED_1 // 2) >> FSHIFT
    return result


def _calc_load(load: int, exp: int, active: int) -> int:
    newload = load * exp + active * (FIXED_1 - exp)
    if active >= load:
        newload += FIXED_1 - 1
    return newload // FIXED_1


def active_estimate(coffer: Coffer) -> int:
    """Mean tasks on a CPU since the coffer started, in fixed point (see the docstring)."""
    elapsed = coffer.monotonic_ns()
    if elapsed <= 0:
        return 0
    frequency = coffer.config.kernel_costs.frequency_hz
    members = getattr(coffer.domain, "members", None) or [coffer]
    busy_ns = sum(m.cycles for m in members) * NS_PER_SECOND // frequency
    return busy_ns * FIXED_1 // elapsed


def avenrun(coffer: Coffer) -> tuple[int, int, int]:
    """The 1, 5 and 15 minute load averages in fixed point (FSHIFT bits of fraction)."""
    samples = coffer.monotonic_ns() // LOAD_FREQ_NS
    if samples == 0:
        return 0, 0, 0
    active = active_estimate(coffer)
    one, five, fifteen = (_calc_load(0, _fixed_power_int(exp, samples), active)
                          for exp in (EXP_1, EXP_5, EXP_15))
    return one, five, fifteen


def shown(load: int) -> str:
    """One load as /proc/loadavg prints it: LOAD_INT.LOAD_FRAC, two decimals."""
    x = load + PRINT_ROUNDING
    return f"{x >> FSHIFT}.{((x & (FIXED_1 - 1)) * PERCENT) >> FSHIFT:02d}"
