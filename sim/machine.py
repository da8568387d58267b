"""The timing machine: N simulated cores, SimPy time, and kernel architectures.

Coffers run their guests functionally, exactly as on their own; this machine
decides *when*. Every guest thread is a SimPy process that, in a loop, waits for
a core (each core is a SimPy resource, so its queue is the core's run queue),
runs one slice functionally (``Scheduler.run_slice``: until it blocks, exits or
has run ``slice_instructions``), then *replays* the slice in simulated time:
its user cycles (slowed by the shared-hardware model), and for each system call
its kernel cycles, the kernel locks that call takes under this architecture
(waiting for them if another core holds them, see :mod:`cofferos.sim.kernel_locks`), and
the architecture's extra costs. A sleeping thread waits on a SimPy event that
its wake-up triggers; timeouts and interval timers are SimPy timeouts on the same
clock. The coffers' clocks read this machine's time, so guests that time
themselves see lock waits, virtualization exits and other containers.

Error bound (the bound-weave approximation, as in ZSim): within one slice a
thread's system calls run in program order against the state of the moment the
slice starts; cross-core effects (lock waits, wake-ups) are ordered in simulated
time, but functional effects between threads of different cores can be reordered
by at most one slice (``slice_instructions``, 100,000 instructions by default,
about 30-40 us at 3 GHz). Same configuration, same seed: the same result.

Its neighbours: the configuration and the result are in :mod:`.machine_types`, the
replay of a slice in :mod:`.replay`, slices passed within one engine run in
:mod:`.passes`, and containers started when they first get a core in :mod:`.deferred`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from cofferos.coffers import locktrace
from cofferos.coffers.coffer import PAGE_FAULT_EVENT, Coffer
from cofferos.coffers.sched import EXIT_EVENT
from cofferos.coffers.syscalls.numbers import SYSCALL_NAMES
from cofferos.coffers.task import Task
from cofferos.sim import costreads
from cofferos.sim.deferred import DeferredStarts
from cofferos.sim.frozen_heap import frozen_heap
from cofferos.sim.hardware import SharedHardware
from cofferos.sim.kernel_locks import HANDOFF_CYCLES, HANDOFF_KEY, LockTable
from cofferos.sim.kernels import KernelArchitecture, architecture, with_mechanisms
from cofferos.sim.lockversions import VERSIONS, split_kernel
from cofferos.sim.machine_types import DEFAULT_SLICE as DEFAULT_SLICE
from cofferos.sim.machine_types import ContainerTimes as ContainerTimes
from cofferos.sim.machine_types import MachineConfig as MachineConfig
from cofferos.sim.machine_types import MachineResult as MachineResult
from cofferos.sim.passes import SlicePasses
from cofferos.sim.replay import SliceReplay
from cofferos.sim.timeline import CONTEXT_SWITCH, for_machine
from cofferos.sim.topology import topology

LOCK_PREFIX = "lock."

NS_PER_SECOND = 1_000_000_000
#: What simpy.Environment.run says when no event is left before ``until`` triggered.
NO_EVENTS_LEFT = "No scheduled events left"


class Machine(SlicePasses, SliceReplay, DeferredStarts):
    """Runs coffers on simulated cores under one kernel architecture."""

    def __init__(self, config: MachineConfig, coffers: list[Coffer],
                 env: simpy.Environment | None = None) -> None:
        """``env``: the SimPy clock to run on (default: one of its own); machines that
        share one run side by side in one simulated time (sim/agents/remote.py)."""
        self.config = config
        mechanisms = dict(coffers[0].config.kernel_costs.mechanisms) if coffers else {}
        arch_name, version = split_kernel(config.kernel)
        self.arch: KernelArchitecture = with_mechanisms(architecture(arch_name), mechanisms)
        self.version = version
        self.env = env or simpy.Environment()
        self.cores = [simpy.Resource(self.env, capacity=1) for _ in range(config.cores)]
        self.last_task: list[Task | None] = [None] * config.cores
        self.hardware = SharedHardware(config.cores, config.hardware_contention)
        holds = {name[len(LOCK_PREFIX):]: value for name, value in mechanisms.items()
                 if name.startswith(LOCK_PREFIX)}
        costs = coffers[0].config.kernel_costs if coffers else None
        sleep = costs.context_switch + costs.remote_wakeup if costs is not None else 0
        handoff = holds.pop(HANDOFF_KEY, HANDOFF_CYCLES)
        sockets = topology(holds, config.cores, handoff)  # (pops its lock.* keys)
        self.locks = LockTable(self.env, self.arch.shared_kernel, handoff, holds,
                               VERSIONS[version], sleep, sockets)
        costreads.watch_locks(self.locks)  # coffersim sensitivity: which locks it takes
        self.ns_per_cycle = NS_PER_SECOND / config.frequency_hz
        self.coffers = coffers
        #: A fault injector (sim/isolation/faults.py): sees every slice's calls; None: none.
        self.injector: Any = None
        #: Note every container that takes each kernel-global lock, also in slices where
        #: nothing can be contended (the isolation experiment ``surface`` asks for it).
        self.note_users = False
        self.times = {c.config.name: ContainerTimes() for c in coffers}
        self.events: list[tuple[object, int, int, int, tuple[Any, ...]]] = []
        self.lock_trace: list[tuple[str, object]] = []  #: locktrace.trace while a slice runs
        self.wake_events: dict[Task, simpy.Event] = {}
        self.started: set[Task] = set()
        self.home_core: dict[Task, int] = {}
        self.timer_armed: dict[Coffer, float] = {}
        self.finished_ns: dict[str, float] = {}
        #: Triggered when every coffer's init has exited: the run ends there, even if
        #: timers of tasks killed in their sleep are still scheduled after it.
        self.all_finished = self.env.event()
        self._finished: set[int] = set()
        self.running: Coffer | None = None  #: the coffer whose slice runs functionally now
        #: Coffers whose init is spawned when it first gets a core (:meth:`defer_start`).
        self.deferred_starts: dict[Coffer, Callable[[], object]] = {}
        #: Coffers that may still have live tasks, in order (a shared kernel's
        #: contention check walks them until it has seen two tasks; ended ones drop out).
        self._maybe_live: dict[Coffer, None] = dict.fromkeys(coffers)
        self.deferred: list[tuple[Task, str, float]] = []
        self.held: set[Task] = set()  #: woken functionally, waiting for the replayed time
        self.running_core = -1
        #: Run a thread's next slice without giving its core back where that changes
        #: nothing (:meth:`_keeps_core`); False: always give it back (the tests compare).
        self.keep_cores = True
        #: Replay a slice with nothing else due before its end by moving the clock in
        #: place (:meth:`_advanced`); False: always by a timeout (the tests compare).
        self.advance_in_place = True
        self.waker_core: dict[Task, int] = {}  #: the core a sleeping task was woken from
        # Per call number: its virtualization cycles (no names looked up on the replay path).
        self.virt_cycles = [self.arch.virtualization_share(SYSCALL_NAMES.get(nr, ""))
                            for nr in range(max(SYSCALL_NAMES) + 1)]
        self.virtualizes_calls = any(self.virt_cycles)  #: else no call's replay looks it up
        #: Where this run's timeline goes (sim/timeline.py); None: no timeline recorded.
        self.timeline = for_machine(
            f"{config.kernel}: {len(coffers)} containers on {config.cores} cores",
            config.cores, {**SYSCALL_NAMES, PAGE_FAULT_EVENT: "page fault"})
        self.locks.timeline = self.timeline
        for coffer in coffers:
            self._attach(coffer)

    # -- wiring the coffers to this machine ---------------------------------------------
    def _attach(self, coffer: Coffer) -> None:
        coffer.scheduler.slice_instructions = self.config.slice_instructions
        coffer.scheduler.listener = self._on_task_event
        coffer.scheduler.passer = self
        coffer.dispatcher.recorder = self.events
        coffer.dispatcher.add_call_costs(self.arch.call_extra)
        coffer.page_fault_cycles += self.arch.page_fault_extra
        coffer.device_exit_cycles = self.arch.io_exit  # per device request (coffers/devio.py)
        coffer.clock_base = (0, coffer.cycles)
        coffer.scheduler.runqueue.clear()

    def _on_task_event(self, task: Task, event: str) -> None:
        running = self.running
        if running is not None and event != EXIT_EVENT:
            # A wake-up or a new task caused by a call of the slice being run
            # functionally: it happens at that call's *replayed* time, not now.
            base_ns, base_cycles = running.clock_base or (0, 0)
            offset = (running.cycles - base_cycles) * self.ns_per_cycle
            self.deferred.append((task, event, offset))
            self.waker_core[task] = self.running_core
            if task in self.started:
                self.held.add(task)  # runnable in the kernel, but not before that time
            return
        self._apply_task_event(task, event)

    def _apply_task_event(self, task: Task, event: str) -> None:
        self.held.discard(task)
        if task not in self.started and event != EXIT_EVENT and task.alive:
            self.started.add(task)
            self.env.process(self._thread(task))
            return
        waiting = self.wake_events.pop(task, None)
        if waiting is not None and not waiting.triggered:
            if self.timeline is not None:
                self.timeline.wake_up(task, self.env.now, self.waker_core.get(task))
            waiting.succeed()

    # -- one guest thread ---------------------------------------------------------------------
    def _keeps_core(self, task: Task, core: int) -> bool:
        """May ``task`` run its next slice on ``core`` without giving the core back?

        Only where giving it back and asking again changes nothing: the task is still
        runnable, nothing else is due at this instant (no wake-up, new task or timer
        whose turn could come between the release and the request), no timer is to be
        armed, no one waits for this core, and the task would choose this core again.
        Then the run is the same, event for event in simulated time, as with the
        release and the request (tests/test_machine_shortcuts.py compares them), but
        without the two SimPy events and their host time per slice: a compute-bound
        timed run spent about a third of its overhead there (issue #17).
        """
        if not self.keep_cores or not task.alive or not task.runnable or task in self.held:
            return False
        env = self.env
        if env.peek() <= env.now or self.cores[core].queue:
            return False
        coffer = task.coffer
        if coffer.dispatcher.personalities.personalities \
                or self._would_arm_timer(coffer) is not None:
            return False  # (a personality's scheduling slot is asked once per turn)
        cores = len(self.cores)  # (one core: the task would choose it again)
        return cores == 1 or self._least_loaded(range(cores), core, released=core) == core

    def _choose_core(self, task: Task, released: int | None = None) -> int:
        home = self.home_core.get(task)
        allowed = range(len(self.cores))
        stack = task.coffer.dispatcher.personalities
        if stack:  # a personality may restrict the task to some cores
            policy = stack.scheduling(task)
            if policy is not None and policy.cores:
                allowed = [c for c in sorted(policy.cores) if c < len(self.cores)] or allowed
        return self._least_loaded(allowed, home, released)

    def _least_loaded(self, allowed: range | list[int], home: int | None,
                      released: int | None = None) -> int:
        """The allowed core with the shortest run queue: ``home`` if it is one of them.
        ``released``: a core counted as if its current user had given it back."""
        loads = [len(core.queue) + core.count for core in self.cores]
        if released is not None:
            loads[released] -= 1
        best = min(loads[c] for c in allowed)
        if home is not None and home in allowed and loads[home] == best:
            return home
        return next(c for c in allowed if loads[c] == best)

    def _thread(self, task: Task) -> Generator[Any, Any, None]:
        coffer = task.coffer
        if self.arch.boot_ns and coffer.init is not None and task.process is coffer.init \
                and task.pid == coffer.init.tgid and self.env.now == 0:
            yield self.env.timeout(self.arch.boot_ns)
        yield from self._thread_loop(task)

    def _thread_loop(self, task: Task) -> Generator[Any, Any, None]:
        coffer = task.coffer
        while task.alive:
            if not task.runnable or task in self.held:
                event = self.wake_events.get(task)
                if event is None:
                    event = self.wake_events[task] = self.env.event()
                self._arm_timer(coffer)
                asleep = self.env.now
                yield event
                if self.timeline is not None:
                    self.timeline.sleep(task, asleep, self.env.now - asleep)
                continue
            core = self._choose_core(task)
            self.home_core[task] = core
            with self.cores[core].request() as request:
                yield request
                yield from self._run_on_core(task, core)
                while self._keeps_core(task, core):
                    yield from self._run_on_core(task, core)
            self._arm_timer(coffer)
        self._forget(task)
        # The coffer is done when its init *process* has ended: not when one of its
        # threads has (a worker thread's exit left the others' cores held and the run
        # stopped as a false deadlock).
        if coffer.init is not None and task.process is coffer.init and coffer.init.zombie:
            self.finished_ns[coffer.config.name] = self.env.now
            self._finished.add(id(coffer))
            if len(self._finished) == len(self.coffers) and not self.all_finished.triggered:
                self.all_finished.succeed()

    def _forget(self, task: Task) -> None:
        """A thread has ended: drop what the machine kept about it. Each of these maps
        holds the Task, and with it its registers, files and address space; a program
        that forks and reaps children without end would otherwise grow the host's
        memory with every child (the fuzzer's campaigns did, by gigabytes)."""
        self.wake_events.pop(task, None)
        self.home_core.pop(task, None)
        self.waker_core.pop(task, None)
        self.held.discard(task)
        self.started.discard(task)

    def _run_on_core(self, task: Task, core: int) -> Generator[Any, Any, None]:
        coffer = task.coffer
        if not task.alive:  # killed from outside (a fault) while it waited for the core
            return
        times = self.times[coffer.config.name]
        if self.last_task[core] is not task and self.last_task[core] is not None:
            switch = coffer.config.kernel_costs.context_switch * self.ns_per_cycle
            times.kernel += switch
            if self.timeline is not None:
                self.timeline.sched(core, CONTEXT_SWITCH, task, self.env.now, switch)
            yield self.env.timeout(switch)
        self.last_task[core] = task
        waker = self.waker_core.pop(task, None)
        if waker is not None and waker != core:  # woken from another core: an IPI
            costs = coffer.config.kernel_costs
            remote = costs.remote_wakeup * self.ns_per_cycle
            virt = self.arch.wakeup_exit * self.ns_per_cycle
            times.kernel += remote
            times.virtualization += virt
            if self.timeline is not None:
                self.timeline.ipi(core, task, waker, self.env.now, remote + virt)
            yield self.env.timeout(remote + virt)
        coffer.clock_base = (int(self.env.now), coffer.cycles)
        cpu = task.cpu
        cpu.tsc_aux = core  # RDTSCP tells the guest which simulated core it runs on
        #: (start cycles, start time, first op mark) of the running slice: moved on by
        #: the slices an engine run passes (:meth:`pass_boundary`).
        self.slice_state = (cpu.counter.cycles, self.env.now, len(coffer.stats.ops))
        self.events.clear()
        self.running, self.deferred, self.running_core = coffer, [], core
        # Lock records only where a lock could be contended (they cost host time); the
        # slice that makes a coffer contendable (its first fork) is replayed without.
        recording = self.note_users or self._contendable(coffer)
        locktrace.trace = self.lock_trace if recording else None
        exits_before = coffer.stats.device_exit_cycles
        try:
            coffer.scheduler.run_slice(task)
        finally:
            self.running = None
            locktrace.trace = None
        start_cycles, slice_start, first_mark = self.slice_state
        # The count where the slice ended, read now: the replay below waits in simulated
        # time, and an engine whose process has exited is meanwhile wiped and run by
        # another (engines are pooled, coffers/engines.py). After an execve the old
        # engine's count ends at the call (None: the calls say where).
        end_cycles = cpu.counter.cycles if task.cpu is cpu else None
        deferred, self.deferred = self.deferred, []
        calls = list(self.events)
        if self.note_users:
            self.locks.note(coffer.config.name, calls)  # lock users (surface)
        stuck = self.injector is not None and self.injector.after_slice(task, core, calls)
        # (One core: nothing to share, and no walk of the cores on every slice.)
        slowdown = self.hardware.slowdown(sum(c.count for c in self.cores)) \
            if self.hardware.cores > 1 else 1.0
        if not calls or not self._contendable(coffer):
            delay = self._replay_summed(task, end_cycles, core, calls, start_cycles, slowdown,
                                        times, first_mark, deferred)
            if not self._advanced(delay):
                yield self.env.timeout(delay)
        else:
            yield from self._replay_calls(task, end_cycles, core, calls, start_cycles, slowdown,
                                          times, slice_start, first_mark, deferred)
        # Device exits are inside the calls' kernel cycles (charged where the request
        # happened); in the breakdown they are virtualization, not kernel work.
        exits = (coffer.stats.device_exit_cycles - exits_before) * self.ns_per_cycle
        times.kernel -= exits
        times.virtualization += exits
        if stuck:  # a lockup: the task spins in the kernel and never gives the core back
            yield self.env.event()

    def _contendable(self, coffer: Coffer) -> bool:
        """Could another core hold a lock this coffer's calls take? (else: no events)"""
        if self.locks.poisoned:  # a lock held forever: every taker must find it held
            return True
        if self.arch.shared_kernel:
            return self._live_tasks_above_one()
        return coffer.live_task_count > 1

    def _live_tasks_above_one(self) -> bool:
        """More than one live task among all the coffers (a deferred init counts)?

        Walks the coffers only until two tasks are seen, dropping those that have
        ended for good on the way: summing all of them on every slice made a run of
        N containers cost N^2 (a minute of the host's time at 10,000 containers).
        """
        seen = len(self.deferred_starts)
        ended = []
        for coffer in self._maybe_live:
            if seen > 1:
                break
            live = coffer.live_task_count
            if live:
                seen += live
            elif coffer.init is not None and coffer.init.zombie \
                    and coffer not in self.deferred_starts:
                ended.append(coffer)
        for coffer in ended:
            del self._maybe_live[coffer]
        return seen > 1

    # -- timers ---------------------------------------------------------------------------
    def _would_arm_timer(self, coffer: Coffer) -> float | None:
        """The deadline :meth:`_arm_timer` would arm a timer for now; None: none."""
        deadline = coffer.scheduler.next_deadline()
        if deadline is None:
            return None
        armed = self.timer_armed.get(coffer)
        if armed is not None and armed <= deadline:
            return None
        return deadline

    def _arm_timer(self, coffer: Coffer) -> None:
        deadline = self._would_arm_timer(coffer)
        if deadline is None:
            return
        self.timer_armed[coffer] = deadline
        self.env.process(self._timer(coffer, deadline))

    def _timer(self, coffer: Coffer, deadline: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(max(deadline - self.env.now, 0))
        if self.timer_armed.get(coffer) == deadline:
            del self.timer_armed[coffer]
        coffer.clock_base = (int(self.env.now), coffer.cycles)
        coffer.scheduler.fire_timers()
        self._arm_timer(coffer)

    # -- running --------------------------------------------------------------------------
    def run(self) -> MachineResult:
        """Run until every container is done (or ``until_ns``), then :meth:`collect`.
        The objects that exist when it starts are kept from the garbage collector's
        full collections meanwhile (:func:`~cofferos.sim.frozen_heap.frozen_heap`):
        those were about 5% of 64 containers of @metadata (#17)."""
        self.start()
        limit = self.config.until_ns
        stop = self.all_finished
        if limit is not None:
            stop = self.env.any_of([stop, self.env.timeout(limit)])
        with frozen_heap():
            try:
                self.env.run(until=stop)
            except RuntimeError as err:  # the events ran out first: a deadlock, handled below
                if stop.triggered or NO_EVENTS_LEFT not in str(err):
                    raise
        return self.collect()

    def start(self) -> None:
        """Make every live task runnable: its thread starts when the clock runs (a
        container whose start is deferred starts when it first gets a core)."""
        for coffer in self.coffers:
            if coffer in self.deferred_starts:
                self.env.process(self._deferred_thread(coffer))
                continue
            for task in list(coffer.tasks.values()):
                if task.alive:
                    self._on_task_event(task, "runnable")

    def collect(self) -> MachineResult:
        """The run has stopped: end what still runs (the time limit, or else a
        deadlock) and say where the time went."""
        limit = self.config.until_ns
        timed_out = limit is not None and self.env.now >= limit
        cut_off = set()
        for coffer in self.coffers:  # still running: the time limit, or else a deadlock
            if coffer in self.deferred_starts:  # never given a core: ends as a spawned one
                self._start_deferred(coffer)
            coffer.clock_base = (int(self.env.now), coffer.cycles)
            if coffer.init is not None and not coffer.init.zombie:
                if timed_out:
                    cut_off.add(coffer.config.name)
                coffer.scheduler.deadlock("time-limit" if timed_out else "deadlock")
        elapsed = self.env.now
        busy = sum(t.busy for t in self.times.values())
        return MachineResult(elapsed_ns=elapsed, cores=self.config.cores,
                             kernel=self.arch.name, times=self.times,
                             idle_ns=max(elapsed * self.config.cores - busy, 0.0),
                             boot_ns=self.arch.boot_ns,
                             memory_overhead=self.arch.memory_overhead * len(self.coffers),
                             finished_ns=dict(self.finished_ns),
                             cut_off=frozenset(cut_off))
