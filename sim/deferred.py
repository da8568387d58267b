"""Containers started when they first run: the timed machine's deferred starts.

A run of many containers (:func:`cofferos.sim.experiment.run_mix`) spawns each
container whose program an earlier one already started only when it first gets a
core (:meth:`DeferredStarts.defer_start`), so that the containers waiting for their
turn hold no engine and no program. The run is the same as if every one had been
spawned first (tests/test_machine_scale.py compares the two).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import simpy

    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Task
    from cofferos.sim.kernels import KernelArchitecture


class DeferredStarts:
    """Mixed into :class:`cofferos.sim.machine.Machine`, whose attributes these are."""

    env: simpy.Environment
    arch: KernelArchitecture
    cores: list[simpy.Resource]
    home_core: dict[Task, int]
    started: set[Task]
    #: Coffers whose init is spawned when it first gets a core (:meth:`defer_start`).
    deferred_starts: dict[Coffer, Callable[[], object]]

    def defer_start(self, coffer: Coffer, start: Callable[[], object]) -> None:
        """Start ``coffer``'s init (``start()``: its ``spawn``) only when it is first given
        a core, so that a container waiting for its turn holds no engine and no program.

        The run is the same as if it had been spawned before the machine started: its
        init queues for a core at time 0, as the others do, and counts as a live,
        runnable task of its kernel meanwhile (a shared kernel's threads-max, load
        average and lock contention). Only for a coffer without personalities (their
        scheduling policy needs the task to place it) and whose spawn cannot fail where
        the same program's did not (the caller's to know).
        """
        if coffer.dispatcher.personalities:
            raise ValueError(f"{coffer.config.name}: a coffer with personalities starts eagerly")
        self.deferred_starts[coffer] = start
        coffer.domain.pending_tasks += 1

    def _deferred_thread(self, coffer: Coffer) -> Generator[Any, Any, None]:
        """An init not yet spawned: :meth:`_thread`'s first turn, spawning on the core."""
        if self.arch.boot_ns and self.env.now == 0:
            yield self.env.timeout(self.arch.boot_ns)
        core = self._least_loaded(range(len(self.cores)), None)
        with self.cores[core].request() as request:
            yield request
            task = self._start_deferred(coffer)
            self.home_core[task] = core
            yield from self._run_on_core(task, core)
        self._arm_timer(coffer)
        yield from self._thread_loop(task)

    def _start_deferred(self, coffer: Coffer) -> Task:
        """Spawn a deferred init now, as if before the run: its task goes to no run queue."""
        start = self.deferred_starts.pop(coffer)
        coffer.domain.pending_tasks -= 1
        listener, coffer.scheduler.listener = coffer.scheduler.listener, None
        try:
            start()
        finally:
            coffer.scheduler.listener = listener
        coffer.scheduler.runqueue.clear()  # as _attach leaves an eagerly spawned coffer
        init = coffer.init
        if init is None or not init.threads:
            raise RuntimeError(f"{coffer.config.name}: its deferred start made no init")
        task = init.threads[0]
        self.started.add(task)
        return task

    # (the machine's own)
    def _least_loaded(self, allowed: range | list[int], home: int | None,
                      released: int | None = None) -> int:
        raise NotImplementedError

    def _run_on_core(self, task: Task, core: int) -> Generator[Any, Any, None]:
        raise NotImplementedError

    def _arm_timer(self, coffer: Coffer) -> None:
        raise NotImplementedError

    def _thread_loop(self, task: Task) -> Generator[Any, Any, None]:
        raise NotImplementedError
