"""Several coffers in one process: the functional multi-coffer driver.

:func:`run_coffers` runs coffers side by side, as if each had a core of its own,
until every coffer's init process has exited. It goes round in a fixed order:
each coffer still running takes one scheduler round
(:meth:`~cofferos.coffers.sched.Scheduler.step`: one slice for each of its
runnable tasks), so the same coffers with the same programs interleave the same
way every time.

Time: each coffer keeps its own clock, but after every round the clocks are
brought level: a coffer that did less (or nothing) in the round is taken to
have waited, up to the furthest clock. So a message sent at a coffer's time
*t* is seen by the receiver no earlier than its round ends, and the error of
this bound-weave is one round. When no coffer has anything to run, all clocks
jump together to the earliest deadline any of them has (a sleep, a timeout, an
alarm). If none has a deadline either, nothing can ever wake anyone: every
unfinished coffer is deadlocked and its processes are killed with SIGKILL, as
a single coffer's scheduler does.

This is the functional driver: no simulated time beyond each coffer's own
clock. The timing machine (:mod:`cofferos.sim.machine`) runs the same coffers on
N simulated cores in SimPy time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer, RunResult


def _level_clocks(coffers: list[Coffer]) -> None:
    """Bring every clock up to the furthest one: those behind spent the gap waiting."""
    latest = max(coffer.monotonic_ns() for coffer in coffers)
    for coffer in coffers:
        coffer.sleep_ns += latest - coffer.monotonic_ns()


def _idle(coffers: list[Coffer]) -> bool:
    """Nothing runnable anywhere: advance all clocks to the earliest deadline, fire
    the timers. False if no coffer has a deadline."""
    delays = []
    for coffer in coffers:
        deadline = coffer.scheduler.next_deadline()
        if deadline is not None:
            delays.append(deadline - coffer.monotonic_ns())
    if not delays:
        return False
    delay = max(min(delays), 0)
    for coffer in coffers:
        coffer.sleep_ns += delay
        coffer.scheduler.fire_timers()
    return True


def run_coffers(coffers: list[Coffer]) -> list[RunResult]:
    """Run ``coffers`` together until each one's init has exited; their results, in order."""
    for coffer in coffers:
        if coffer.init is None:
            raise RuntimeError(f"{coffer.config.name}: nothing to run: spawn a program first")
    while True:
        running = [coffer for coffer in coffers if not coffer.scheduler.finished]
        if not running:
            break
        progress = False
        for coffer in running:
            if not coffer.scheduler.finished:
                progress = coffer.scheduler.step() or progress
        running = [coffer for coffer in running if not coffer.scheduler.finished]
        if not running:
            break
        _level_clocks(running)
        if not progress and not _idle(running):
            for coffer in running:
                coffer.scheduler.deadlock()
            break
    for coffer in coffers:
        coffer.scheduler.current = None
    return [coffer.result() for coffer in coffers]
