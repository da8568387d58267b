"""The timed machine's side of slices passed within one engine run (issue #17).

A compute-bound task on a core that nobody else wants gives the machine nothing to do
between its slices but their replay: each is one move of the clock in place
(:meth:`Machine._advanced`), and the task keeps its core (:meth:`Machine._keeps_core`).
The scheduler then lets the engine run on past a slice's end
(:meth:`Scheduler._allow_passes`, :mod:`cofferos.isa.boundaries`), and this mixin
replays each passed slice afterwards, as :meth:`Machine._run_on_core` would have:
the same float sums in the same order, so every simulated figure is the same bit for
bit (tests/test_machine_shortcuts.py compares with :attr:`pass_slices` off).

It is allowed only where it is exact: no timeline, fault injector or lock-user notes
(they see every slice), no coffer timer or alarm (one is armed or fires between
slices), and within a cycle bound that keeps every passed slice's replay before the
clock's next event (:meth:`pass_room`). The scheduler adds its own conditions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

#: The passed slices' clock moves must end before the next event by this share of the
#: room left, and the room must be at least this share of the clock's reading times
#: ``ROUNDING_ROOM``: float rounding of a few dozen additions is far below either.
ROOM_MARGIN = 1e-9
ROUNDING_ROOM = 1e-5
NO_BOUND = 1 << 62  #: whole cycles: no event to come


class SlicePasses:
    """Mixed into :class:`cofferos.sim.machine.Machine`."""

    #: Let engine runs pass slice ends where exact; False: a slice per engine run.
    pass_slices = True

    def pass_room(self: Any, task: Task) -> int | None:
        """Whole cycles the task's passed slices may run in this engine run (each must
        replay before the clock's next event), or None: no slice may be passed."""
        if not self.pass_slices or self.timeline is not None or self.injector is not None \
                or self.note_users or not self.advance_in_place:
            return None
        coffer, core = task.coffer, self.running_core
        scheduler = coffer.scheduler
        if scheduler.timeouts or scheduler.alarmed or task in self.waker_core \
                or not self._keeps_core(task, core):
            return None
        env = self.env
        upcoming = env.peek()
        if math.isinf(upcoming):
            return NO_BOUND
        room = upcoming - env.now
        if room <= env.now * ROUNDING_ROOM:
            return None
        per_cycle = self.ns_per_cycle * self._slowdown()
        bound = int(room * (1 - ROOM_MARGIN) / per_cycle) - 1
        return bound if bound > 0 else None

    def _slowdown(self: Any) -> float:
        """The shared hardware's slowdown of user time now (one core: none)."""
        return self.hardware.slowdown(sum(c.count for c in self.cores)) \
            if self.hardware.cores > 1 else 1.0

    def pass_boundary(self: Any, task: Task, end_cycles: int) -> None:
        """The running slice ended at ``end_cycles`` and the engine ran on: replay it
        (:meth:`Machine._replay_summed`, the clock moved in place) and start the next
        slice, as :meth:`Machine._run_on_core` does around ``run_slice``."""
        coffer, core = task.coffer, self.running_core
        start_cycles, _slice_start, first_mark = self.slice_state
        if self.events or self.deferred:
            raise RuntimeError("a passed slice made a call: it cannot be replayed exactly")
        delay = self._replay_summed(task, end_cycles, core, [], start_cycles, self._slowdown(),
                                    self.times[coffer.config.name], first_mark, [])
        if not self._advanced(delay) or not self._keeps_core(task, core):
            raise RuntimeError("a passed slice's replay met another event")
        coffer.clock_base = (int(self.env.now), coffer.cycles)
        self.slice_state = (end_cycles, self.env.now, len(coffer.stats.ops))
