"""The replay of a slice in simulated time: the timed machine's second half.

A thread's slice runs functionally first (:meth:`Scheduler.run_slice
<cofferos.coffers.sched.Scheduler.run_slice>`), its system calls recorded by the
dispatcher as (task, number, cycles at the call, kernel cycles, locks); then
:meth:`Machine._run_on_core <cofferos.sim.machine.Machine._run_on_core>` replays it
with this mixin's methods:

* :meth:`SliceReplay._replay_summed`: no lock any call takes could be held by another
  core: the whole slice is one delay (user cycles slowed by the shared hardware,
  kernel cycles, virtualization), moved in place where nothing else is due first
  (:meth:`SliceReplay._advanced`);
* :meth:`SliceReplay._replay_calls`: call by call, waiting for contended locks
  (:mod:`cofferos.sim.kernel_locks`), with the /dev/coffer/ops marks moved from
  functional to replayed time.

Wake-ups and new tasks a slice caused are scheduled at their replayed times
(:meth:`SliceReplay._release_deferred`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from operator import itemgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import simpy

    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Task
    from cofferos.sim.kernel_locks import LockTable
    from cofferos.sim.machine_types import ContainerTimes
    from cofferos.sim.timeline import MachineTrack

#: A recorded call's kernel cycles (the dispatcher's record: task, nr, at, cycles, locks).
_KERNEL_CYCLES = itemgetter(3)


class SliceReplay:
    """Mixed into :class:`cofferos.sim.machine.Machine`, whose attributes these are."""

    env: simpy.Environment
    ns_per_cycle: float
    locks: LockTable
    timeline: MachineTrack | None
    virt_cycles: list[int]
    virtualizes_calls: bool
    advance_in_place: bool

    def _contendable(self, coffer: Coffer) -> bool:
        raise NotImplementedError  # (the machine's)

    def _apply_task_event(self, task: Task, event: str) -> None:
        raise NotImplementedError  # (the machine's)

    def _advanced(self, delay: float) -> bool:
        """Move the clock ``delay`` on in place, instead of a timeout, if that is the
        same: no other event is due before the timeout's time, so the timeout would be
        the next event the clock takes and resume this thread at once, at that time
        (``env.now + delay``: the sum SimPy itself schedules it at). Saves the event,
        its heap push and pop and the generator's suspension, per slice (issue #17).
        False: not allowed (:attr:`advance_in_place`) or something else comes first."""
        if not self.advance_in_place:
            return False
        env = self.env
        at = env.now + delay
        if env.peek() <= at:  # (at the same time an earlier-scheduled event goes first)
            return False
        env._now = at  # noqa: SLF001 - the one field Environment.step would set
        return True

    def _release_deferred(self, deferred: list[tuple[Task, str, float]],
                          replayed_at: Callable[[float], float], slice_start: float) -> None:
        """Schedule the slice's wake-ups and new tasks at their replayed times."""
        for task, event, offset in deferred:
            when = slice_start + replayed_at(offset)
            self.env.process(self._later(task, event, when))

    def _later(self, task: Task, event: str, when: float) -> Generator[Any, Any, None]:
        if when > self.env.now:
            yield self.env.timeout(when - self.env.now)
        self._apply_task_event(task, event)

    def _replay_summed(self, task: Task, end_cycles: int | None, core: int, calls: list[Any],
                       start_cycles: int, slowdown: float, times: ContainerTimes,
                       first_mark: int,
                       deferred: list[tuple[Task, str, float]]) -> float:
        """No lock can be contended: one timeout for the whole slice, this long (a plain
        call, not a generator: one fewer frame to resume on every slice).

        Op marks keep their functional offsets scaled by the slice's replayed /
        functional length (they differ only by the shared-hardware slowdown).
        """
        kernel = sum(map(_KERNEL_CYCLES, calls))  # (ints: the same sum in any order)
        virt = 0
        if self.virtualizes_calls:
            table = self.virt_cycles
            for _caller, nr, _at, _kernel_cycles, _locks in calls:
                virt += table[nr] if nr < len(table) else 0
        end = end_cycles if end_cycles is not None else (
            calls[-1][2] if calls else start_cycles)
        user = max(end - start_cycles, 0) * self.ns_per_cycle * slowdown
        times.user += user
        times.kernel += (kernel - virt) * self.ns_per_cycle
        times.virtualization += virt * self.ns_per_cycle
        replayed = user + kernel * self.ns_per_cycle
        marks = task.coffer.stats.ops
        functional = (max(end - start_cycles, 0) + kernel) * self.ns_per_cycle or 1.0
        start = self.env.now
        if len(marks) > first_mark:
            for index in range(first_mark, len(marks)):
                stamp, label = marks[index]
                marks[index] = (int(start + (stamp - start) * replayed / functional), label)
        if deferred:
            self._release_deferred(deferred, lambda f: f * replayed / functional, start)
        if self.timeline is not None:
            self.timeline.summed_slice(core, task, calls, start_cycles, end, start,
                                       self.ns_per_cycle, slowdown,
                                       self.virt_cycles)
        return replayed

    def _replay_calls(self, task: Task, end_cycles: int | None, core: int, calls: list[Any],
                      start_cycles: int, slowdown: float, times: ContainerTimes,
                      slice_start: float, first_mark: int,
                      deferred: list[tuple[Task, str, float]]) -> Generator[Any, Any, None]:
        """Call by call: wait for contended locks, keep op marks at their replayed time."""
        coffer = task.coffer
        # This slice's marks and its clock base, taken now: while this replay waits, other
        # tasks of the coffer run slices that move its clock base and add their own marks.
        slice_marks = (first_mark, len(coffer.stats.ops))
        base_ns = coffer.clock_base[0] if coffer.clock_base else slice_start
        checkpoints: list[tuple[float, float]] = []  # (functional ns, replayed ns) per call
        contended = self._contendable(coffer)
        position, pending, waited = start_cycles, 0.0, [0.0, 0.0]
        kernel_so_far = 0
        track = self.timeline
        for caller, nr, at_cycles, kernel_cycles, uses in calls:
            if caller is not task:
                continue
            user = max(at_cycles - position, 0) * self.ns_per_cycle * slowdown
            user_start = self.env.now + pending
            position = max(position, at_cycles)
            virt = (self.virt_cycles[nr] if nr < len(self.virt_cycles) else 0) * self.ns_per_cycle
            held = 0
            due = self.locks.due(uses, coffer.config.name, core) if uses and contended \
                else None
            if uses and contended and self.locks.takes_any(uses, due):
                yield self.env.timeout(pending + user)
                pending = 0.0
                before = waited[0]
                held = yield from self.locks.take(uses, coffer.config.name, core,
                                                  self.ns_per_cycle, waited, due)
                times.lock_wait += waited[0] - before
            else:
                pending += user
            functional = (at_cycles - start_cycles + kernel_so_far) * self.ns_per_cycle
            checkpoints.append((functional, self.env.now - slice_start + pending))
            kernel_so_far += kernel_cycles
            rest = max(kernel_cycles - held, 0) * self.ns_per_cycle
            times.user += user
            times.kernel += held * self.ns_per_cycle + rest - virt
            times.virtualization += virt
            if track is not None:  # the call began where its user time ended
                track.user(core, task, user_start, user)
                track.syscall(core, task, nr,
                              user_start + user,
                              self.env.now + pending + rest - user_start - user, virt)
            pending += rest
        if end_cycles is not None:  # (after an execve the old engine's count ends at the call)
            tail = max(end_cycles - position, 0) * self.ns_per_cycle * slowdown
            times.user += tail
            if track is not None:
                track.user(core, task, self.env.now + pending, tail)
            pending += tail
        self._restamp_marks(coffer, slice_marks, checkpoints, slice_start, base_ns)
        now_offset = self.env.now - slice_start
        self._release_deferred(
            deferred, lambda f: _replayed(checkpoints, f, now_offset + pending), slice_start)
        yield self.env.timeout(pending)

    @staticmethod
    def _restamp_marks(coffer: Coffer, marks_range: tuple[int, int],
                       checkpoints: list[tuple[float, float]], slice_start: float,
                       base_ns: float) -> None:
        """Move this slice's /dev/coffer/ops marks from functional to replayed time.

        A mark was stamped with the functional clock (no lock waits yet); its
        replayed time is the replayed time of the call that made it.
        """
        marks = coffer.stats.ops
        first, end = marks_range
        if end == first or not checkpoints:
            return
        for index in range(first, end):
            stamp, label = marks[index]
            functional = stamp - base_ns
            replayed = checkpoints[0][1]
            for func_ns, sim_ns in checkpoints:
                if func_ns > functional:
                    break
                replayed = sim_ns + (functional - func_ns)
            marks[index] = (int(slice_start + replayed), label)


def _replayed(checkpoints: list[tuple[float, float]], functional: float, end: float) -> float:
    """Replayed offset of a functional offset within a slice (piecewise, call by call)."""
    replayed = 0.0 if not checkpoints else checkpoints[0][1]
    for func_ns, sim_ns in checkpoints:
        if func_ns > functional:
            break
        replayed = sim_ns + (functional - func_ns)
    return min(replayed, end) if checkpoints else min(functional, end)


