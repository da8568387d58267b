"""The coffer's scheduler: deterministic, instruction-counted slices.

Runnable tasks wait in one FIFO run queue. The scheduler takes the first, loads
its registers onto its CPU (threads of one process share a CPU, so switching
between them is a register-context swap), delivers its pending signals, and
runs it until it blocks, exits, faults or has executed ``slice_instructions``
instructions (the compiled block counter stops it at the first block boundary
past the budget). Then it goes to the back of the queue. Same program, same
seed, same slices: the same interleaving, every time.

When every task sleeps, time jumps to the earliest deadline (a timeout or an
interval timer) on the coffer's clock: sleeping never spins the host. Deadlines
wait in a min-heap (as Linux's hrtimers wait in a timerqueue), so finding the
next one costs the same with ten sleepers or ten thousand. If nothing
can ever wake anyone, the coffer is deadlocked: its tasks are killed and the run
ends with a report instead of hanging.
"""

from __future__ import annotations

import heapq
import itertools
import signal
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cofferos.coffers.config import NS_PER_SECOND
from cofferos.coffers.itimers import check_cpu_itimers
from cofferos.coffers.ktime import finite_deadline, ktime_add_safe
from cofferos.coffers.signals import SigInfo
from cofferos.coffers.task import ExitStatus, TaskState
from cofferos.coffers.wait import SYSCALL_INSN_LENGTH, TIMED_OUT, WOKEN, Block

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Process, Task
    from cofferos.isa.blockcount import BlockCounter
    from cofferos.isa.cpu import Cpu

SI_KERNEL = 0x80
#: sysctl_sched_wakeup_granularity_ns (kernel/sched/fair.c): 1 ms, scaled by
#: 1 + ilog2(CPUs) = 1 on the coffer's one CPU. A woken task that has run this much
#: less than the task waking it preempts it (check_preempt_wakeup).
WAKEUP_GRANULARITY_NS = 1_000_000
RUNNABLE_EVENT, EXIT_EVENT = "runnable", "exit"


class Scheduler:
    """Run queue, sleep and wake-up, timers, for one coffer."""

    def __init__(self, coffer: Coffer, slice_instructions: int) -> None:
        self.coffer = coffer
        self.slice_instructions = slice_instructions
        self.runqueue: deque[Task] = deque()
        self.sleeping: set[Task] = set()
        #: (deadline, sequence, task) of timed sleeps, earliest first; an entry whose
        #: task has since woken, or sleeps with another deadline, is dropped when met.
        self.timeouts: list[tuple[int, int, Task]] = []
        #: Processes whose ITIMER_REAL may be armed (alarm, setitimer); few, so walked.
        self.alarmed: set[Process] = set()
        self._sequence = itertools.count()
        self.current: Task | None = None
        self.deadlocked = False
        #: A timing machine's callback for "runnable" and "exit" events (None: run here).
        self.listener: Callable[[Task, str], None] | None = None
        #: A timing machine that lets an engine run pass slice ends (``pass_room``,
        #: ``pass_boundary``: :meth:`_allow_passes`); None: every slice is an engine run.
        self.passer: Any = None
        self._origin = (0, 0)  #: the running slice's first instruction and cycle counts
        self._passing: Task | None = None

    # -- sleeping and waking -------------------------------------------------------
    def enqueue(self, task: Task) -> None:
        if self.listener is not None:  # a timing machine schedules the tasks
            self.listener(task, RUNNABLE_EVENT)
            return
        if task not in self.runqueue:
            self.runqueue.append(task)

    def block(self, task: Task, request: Block) -> None:
        """Put ``task`` to sleep inside its current system call (see cofferos.coffers.wait)."""
        cpu = task.cpu
        cpu.pc = cpu.pc - SYSCALL_INSN_LENGTH  # the call runs again when woken
        cpu.counter.uncount(1, 0)
        task.state = TaskState.SLEEPING
        task.wait_queues = request.queues
        task.deadline_ns = request.deadline_ns
        task.interruptible = request.interruptible
        task.wakeup = None
        for queue in request.queues:
            queue.add(task)
        self.sleeping.add(task)
        if request.deadline_ns is not None:
            heapq.heappush(self.timeouts, (request.deadline_ns, next(self._sequence), task))
        cpu.stop()
        if request.interruptible and self.coffer.signals.has_pending(task):
            # signal_pending before schedule(): a signal raised by the call itself (a
            # tty's SIGTTIN to the caller's group) ends the sleep at once, -ERESTARTSYS
            self.wake(task, WOKEN, interrupted=True)

    def wake(self, task: Task, reason: str, interrupted: bool = False) -> None:
        if task.state is not TaskState.SLEEPING:
            return
        for queue in task.wait_queues:
            queue.remove(task)
        task.wait_queues = ()
        task.deadline_ns = None
        task.wakeup = reason
        task.interrupted = interrupted
        task.state = TaskState.RUNNABLE
        self.sleeping.discard(task)
        current = self.current
        if current is not None and current is not task:
            current.charge(self.coffer.config.kernel_costs.wakeup)  # try_to_wake_up
        self.enqueue(task)
        if current is not None and current is not task:
            self._check_preempt_wakeup(current, task)

    def _check_preempt_wakeup(self, current: Task, wakee: Task) -> None:
        """Wake-up preemption, as CFS's check_preempt_wakeup on one CPU: a task woken
        by the running one, having had less CPU time than it by more than the wake-up
        granularity, runs next (the waker's slice ends when its system call returns).
        Without it a thread that wakes a waiter and then takes back what the waiter
        waited for (CPython's GIL, dropped around every blocking call) keeps it for a
        whole slice, again and again, where Linux lets the waiter in at once."""
        coffer = self.coffer
        if self.listener is not None or coffer.slice_start is None or not current.runnable:
            return  # a timing machine schedules; or no slice is running (a timer fired)
        cpu, start_cycles = coffer.slice_start
        if current.cpu is not cpu:
            return
        ran = current.user_cycles + current.kernel_cycles + cpu.counter.cycles - start_cycles
        granularity = WAKEUP_GRANULARITY_NS * coffer.config.kernel_costs.frequency_hz \
            // NS_PER_SECOND
        if ran - (wakee.user_cycles + wakee.kernel_cycles) > granularity:
            self.runqueue.remove(wakee)
            self.runqueue.appendleft(wakee)
            cpu.stop()

    def forget(self, task: Task) -> None:
        """A task exited: drop it from every queue."""
        if self.listener is not None:
            self.listener(task, EXIT_EVENT)
        for queue in task.wait_queues:
            queue.remove(task)
        task.wait_queues = ()
        self.sleeping.discard(task)
        if task in self.runqueue:
            self.runqueue.remove(task)

    # -- time ----------------------------------------------------------------------
    def arm_alarm(self, process: Process, deadline_ns: int | None) -> None:
        """Set (or, with None, cancel) ``process``'s ITIMER_REAL deadline."""
        process.alarm_deadline_ns = deadline_ns
        if deadline_ns is not None:
            self.alarmed.add(process)

    def _timed_out(self, deadline: int, task: Task) -> bool:
        """Is this heap entry still the task's current timed sleep?"""
        return task.state is TaskState.SLEEPING and task.deadline_ns == deadline

    def next_deadline(self) -> int | None:
        """The earliest sleeper's deadline or alarm on the coffer's clock; None if none."""
        timeouts = self.timeouts
        while timeouts and not self._timed_out(timeouts[0][0], timeouts[0][2]):
            heapq.heappop(timeouts)  # woken, or asleep again with another deadline
        earliest = timeouts[0][0] if timeouts else None
        for process in list(self.alarmed):
            deadline = finite_deadline(process.alarm_deadline_ns)
            if deadline is None or process.zombie:
                self.alarmed.discard(process)
            elif earliest is None or deadline < earliest:
                earliest = deadline
        return earliest

    def fire_timers(self) -> None:
        """Wake sleepers whose deadline passed (lowest pid first); send SIGALRM for
        expired alarms."""
        now = self.coffer.monotonic_ns()
        timeouts, due = self.timeouts, []
        while timeouts and timeouts[0][0] <= now:
            deadline, _, task = heapq.heappop(timeouts)
            if self._timed_out(deadline, task):
                due.append(task)
        for task in sorted(set(due), key=lambda t: t.pid):
            self.wake(task, TIMED_OUT)
        if not self.alarmed:
            return
        for process in sorted(self.alarmed, key=lambda p: p.tgid):
            deadline = process.alarm_deadline_ns
            if deadline is not None and deadline <= now and not process.zombie:
                interval = process.alarm_interval_ns
                self.arm_alarm(process, ktime_add_safe(deadline, interval) if interval else None)
                self.coffer.signals.send_process(process, SigInfo(signal.SIGALRM, code=SI_KERNEL))

    def _idle(self) -> bool:
        """Nothing runnable: advance the clock to the next deadline. False if none exists."""
        deadline = self.next_deadline()
        if deadline is None:
            return False
        now = self.coffer.monotonic_ns()
        if deadline > now:
            self.coffer.sleep_ns += deadline - now
        self.fire_timers()
        return True

    # -- running ---------------------------------------------------------------------
    def switch_to(self, task: Task) -> None:
        cpu = task.cpu
        loaded = cpu.task
        if loaded is not task:
            if loaded is not None and loaded.alive and loaded.cpu is cpu:  # type: ignore[attr-defined]
                loaded.context = cpu.save_context()  # type: ignore[attr-defined]
            if task.context is not None:
                cpu.restore_context(task.context)
            cpu.task = task
        self.current = task
        fs = self.coffer.fs
        ns = task.process.mnt_ns  # paths walk in the task's mount namespace
        fs.ns = fs.init_ns if ns is None else ns

    def run_slice(self, task: Task) -> None:
        coffer = self.coffer
        self.switch_to(task)
        if task.pending.items or task.process.pending.items:
            coffer.signals.deliver_pending(task)
        else:  # (nothing to deliver: what deliver_pending does then, without the call)
            task.interrupted = False
        if not task.runnable:
            return
        cpu = task.cpu
        before_insns, before_cycles = cpu.counter.instructions, cpu.counter.cycles
        coffer.slice_start = (cpu, before_cycles)
        slice_instructions = self.slice_instructions
        stack = coffer.dispatcher.personalities
        if stack:
            policy = stack.scheduling(task)
            if not task.runnable:  # a failing scheduling slot killed it (SIGSYS)
                return
            if policy is not None and policy.slice_instructions:
                slice_instructions = policy.slice_instructions
        budget = before_insns + slice_instructions
        limit = coffer.config.instruction_limit
        if limit is not None:
            budget = min(budget, before_insns + max(limit - task.instructions, 0))
        host = coffer.host_budget
        if host is not None:
            coffer.dispatcher.host_deadline = host.start()
        exe = task.process.exe_inode
        if coffer.program_costs is not None:
            self._take_program_costs(task, cpu.counter)
        priced = cpu.counter.entries
        self._origin = (before_insns, before_cycles)
        if self.passer is not None and not stack and limit is None and host is None:
            self._allow_passes(task, cpu, slice_instructions)
        try:
            cpu.run(budget=budget)
        finally:
            if host is not None:
                host.stop()
                coffer.dispatcher.host_deadline = None
        before_insns, before_cycles = self._origin  # (moved on by the boundaries passed)
        coffer.slice_start = None
        if coffer.program_costs is not None and cpu.counter.entries != priced \
                and cpu.task is task and task.alive and task.process.exe_inode is exe:
            # Blocks priced: the run's other coffers of this program start from them
            # (containers started together would each price every block again). Not
            # once the process has ended: its exit kept the table before wiping the
            # engine (and an execve's new program is priced anew).
            coffer.remember_block_costs(task.process, cpu)
            kept = coffer.program_costs.get(coffer.program_key(exe))
            if kept is not None and not task.process.foreign_code:
                cpu.counter.gave(kept)
        # The task may have exec'd onto a new CPU: charge what ran on the old one.
        self._charge_user(task, cpu.counter.instructions - before_insns,
                          cpu.counter.cycles - before_cycles)
        if task.process.cpu_itimers:
            check_cpu_itimers(coffer, task.process)
        if cpu.fault is not None and task.alive and task.cpu is cpu:
            coffer.signals.force_fault(task, cpu.fault)
        if task.alive and task.cpu is cpu and task.mm.cow:
            self._charge_copies(task)
        if limit is not None and task.alive and task.instructions >= limit:
            coffer.kill_process(task.process, ExitStatus(signal=signal.SIGXCPU, core_dumped=True,
                                                         cause="instruction-limit"))
        if host is not None and host.exhausted:
            coffer.host_time_spent()

    def _take_program_costs(self, task: Task, counter: BlockCounter) -> None:
        """Start the slice from the newest block costs the run's coffers of this program
        kept (``Coffer.program_costs``) when this CPU has priced nothing since it last
        loaded or gave a table: containers started together load the table of then, and
        would each price again every block the others met later (212 of @metadata's
        1,079, in each of 63 containers; issue #17). Costs depend only on a block's
        code, so which table a CPU holds changes no figure, only what it prices again."""
        process = task.process
        if process.foreign_code or process.exe_inode is None:
            return
        table = self.coffer.program_costs.get(self.coffer.program_key(process.exe_inode))
        synced, entries = counter.synced
        if table is not None and table is not synced and entries == counter.entries:
            counter.load_table(table)

    def _charge_user(self, task: Task, insns: int, cycles: int) -> None:
        """User-mode instructions and cycles a slice ran, charged to the task, its
        process and the coffer (a slice's end, or a slice end an engine run passed)."""
        task.instructions += insns
        task.user_cycles += cycles
        task.process.user_cycles += cycles
        coffer = self.coffer
        coffer.user_instructions += insns
        coffer.user_cycles += cycles

    def _allow_passes(self, task: Task, cpu: Cpu, slice_instructions: int) -> None:
        """Let the engine run on past this slice's end into the next ones, where nothing
        could differ between them (:mod:`cofferos.isa.boundaries`): what this scheduler
        does between two slices of the task must be nothing but the accounting of
        :meth:`_passed` (no signal pending, no CPU timer, no copy-on-write sharing to
        settle; no personality, instruction or host-time limit: checked by the caller),
        and the timed machine (:attr:`passer`) must allow it and give the cycle bound."""
        if task.pending.items or task.process.pending.items or task.process.cpu_itimers \
                or task.mm.cow or not cpu.passable:
            return
        room = self.passer.pass_room(task)  # type: ignore[union-attr]
        if room is not None:
            self._passing = task
            cpu.allow_passes(slice_instructions, self._origin[1] + room, self._passed)

    def _passed(self, boundaries: list[tuple[int, int]]) -> None:
        """The engine ran past these slice ends (instructions and cycles at each):
        account each slice, and start the next, as :meth:`run_slice` and the machine
        would have between two engine runs."""
        task, coffer = self._passing, self.coffer
        cpu = task.cpu  # type: ignore[union-attr]
        for insns_at, cycles_at in boundaries:
            before_insns, before_cycles = self._origin
            self._charge_user(task, insns_at - before_insns,  # type: ignore[arg-type]
                              cycles_at - before_cycles)
            coffer.slice_start = None
            self.passer.pass_boundary(task, cycles_at)  # type: ignore[union-attr]
            task.interrupted = False  # type: ignore[union-attr]
            self._origin = (insns_at, cycles_at)
            coffer.slice_start = (cpu, cycles_at)

    def _charge_copies(self, task: Task) -> None:
        """Charge the pages the slice copied on write (:meth:`AddressSpace.settle_cow`);
        past the memory limit the process is killed, as a memory cgroup's OOM killer
        kills when a copy-on-write fault cannot be charged. Linux charges at the fault,
        this model at the slice's end: a slice may run ahead of the limit by what it
        copies (at most the pages it shares), never further."""
        mm, account = task.mm, self.coffer.memory
        before = mm.cow_charge
        mm.settle_cow()
        if mm.cow_charge > before and not account.fits(0):
            self.coffer.kill_task(task, signal.SIGKILL, "oom-kill",
                                  f"pages copied on write took {self.coffer.config.name} "
                                  f"past its memory limit of {account.limit_bytes} bytes")

    @property
    def finished(self) -> bool:
        """The coffer's init process has exited (or was never started)."""
        init = self.coffer.init
        return init is None or init.zombie

    def step(self) -> bool:
        """One round: fire due timers, then give every task on the run queue one slice
        (tasks woken meanwhile wait for the next round). False if nothing was runnable;
        then the caller idles (advances the clock) or declares a deadlock."""
        self.fire_timers()
        if not self.runqueue:
            return False
        for _ in range(len(self.runqueue)):
            task = self.runqueue.popleft()
            if not task.runnable:
                continue
            self.run_slice(task)
            if task.runnable:
                self.runqueue.append(task)
            self.fire_timers()
            if self.finished:
                break
        return True

    def deadlock(self, cause: str = "deadlock") -> None:
        """Nothing can ever wake anyone: kill every process, note it in the report.
        (``cause`` ``time-limit``: the machine stopped it, which ends it the same way.)"""
        coffer = self.coffer
        self.deadlocked = True
        coffer.stats.deadlocks += 1
        for process in list(coffer.processes.values()):
            coffer.kill_process(process, ExitStatus(signal=signal.SIGKILL, cause=cause))

    def run(self) -> None:
        """Run until the coffer's init process has exited (or nothing can run)."""
        while not self.finished:
            if not self.step() and not self._idle():
                self.deadlock()
                break
        self.current = None
