"""The system call trap: from a SYSCALL instruction to a handler and back.

:meth:`SyscallDispatcher.trap` is what every CPU calls on SYSCALL, for the task
whose registers it holds (``cpu.task``). It reads the number and six arguments in
one batch, finds the entry in the table, calls
the handler, writes RAX, and charges the call's kernel cycles. Errors raised deep
in a subsystem become the errno Linux returns: a bad guest pointer is EFAULT, a
filesystem or memory error carries its own errno. Any other exception is a bug
in the kernel model: like a Linux oops, it kills the calling task (SIGKILL) and is
recorded in the coffer's report, and the simulator and every other coffer go on.
A personality that fails (a hook or policy slot raises, or returns the wrong
type) is not a kernel bug: the calling task gets SIGSYS, as from seccomp, and the
report names the personality and the hook.

This is one of the three hot paths (with the per-block counter and the scheduler
slice), so the untraced path is kept to a handful of list lookups.
"""

from __future__ import annotations

import errno
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cofferos.coffers import locktrace
from cofferos.coffers.fs import FsError
from cofferos.coffers.locktrace import CALL_RESOLVERS
from cofferos.coffers.mm import MmError
from cofferos.coffers.signals import SigInfo
from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS
from cofferos.coffers.syscalls.table import TABLE_SIZE, SyscallEntry, SyscallTable, name_of
from cofferos.coffers.wait import SYSCALL_INSN_LENGTH, Block
from cofferos.errors import ConfigError
from cofferos.isa.cpu import Cpu
from cofferos.isa.faults import MemoryFault
from cofferos.isa.syscalltrap import TRAP_CYCLES, TRAP_HAS_RESULT, TRAP_RESULT
from cofferos.personalities.base import (
    DENIAL_CYCLES,
    NOT_HANDLED,
    KillTask,
    Personality,
    PersonalityError,
    SyscallContext,
)
from cofferos.personalities.plans import GUARDED, Plan, call_names_of
from cofferos.personalities.stack import PersonalityStack
from cofferos.sim.costmodel import KernelCosts

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.trace import Tracer
    from cofferos.coffers.task import Task

MASK64 = (1 << 64) - 1
#: A call number's handler, arity and cycles, bound once for the plain trap path.
FastEntry = tuple[Callable[..., "int | None"], int, int]
MAX_ERRNO = 4095  # results in [-4095, -1] are errors (include/linux/err.h)


@dataclass
class KernelStats:
    """What the kernel did for one coffer: calls by number, cycles, failures, and the
    operations its workload marked on /dev/coffer/ops."""

    calls: list[int] = field(default_factory=lambda: [0] * TABLE_SIZE)
    unimplemented: dict[int, int] = field(default_factory=dict)
    kernel_cycles: int = 0
    oopses: list[str] = field(default_factory=list)
    deadlocks: int = 0
    host_time_kills: int = 0  #: the coffer was ended for spending its --max-host-seconds
    page_faults: int = 0
    #: Requests that reached a device outside the kernel, by device (cofferos.coffers.devio).
    device_io: dict[str, int] = field(default_factory=dict)
    #: Kernel cycles of those requests that were VM exits (virtualization, not kernel work).
    device_exit_cycles: int = 0
    #: (monotonic ns, label) of each completed operation, in the order written
    #: (:mod:`cofferos.coffers.opsdev`; summarised by :mod:`cofferos.results.ops`).
    ops: list[tuple[int, str]] = field(default_factory=list)
    #: Host nanoseconds spent in each personality hook, keyed ``NAME.HOOK`` (the
    #: stack adds to it; a slow plugin slows the whole simulator, so it is reported).
    personality_host_ns: dict[str, int] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls)

    def by_name(self) -> dict[str, int]:
        return {name_of(nr): n for nr, n in enumerate(self.calls) if n}

    def unimplemented_by_name(self) -> dict[str, int]:
        return {name_of(nr): n for nr, n in sorted(self.unimplemented.items())}


class SyscallDispatcher:
    """One kernel's table, costs and statistics; hands out per-task traps."""

    def __init__(self, table: SyscallTable, costs: KernelCosts, stats: KernelStats,
                 tracer: Tracer | None = None) -> None:
        self.table = table
        self.costs = costs
        self.stats = stats
        self.tracer = tracer
        self.changes: list[tuple[int | None, tuple[str, int] | None, list[Personality]]] = []
        """Scheduled live changes of the stack (see change_personalities)."""
        self.personalities = PersonalityStack(
            host_ns=stats.personality_host_ns,
            call_names=call_names_of(table.entries))
        """The coffer's personality stack (empty: the kernel table directly, the fast path)."""
        self.personalities.contain = self._contain
        self.personalities.on_bind = self._bind_fast
        self.host_deadline: float | None = None
        """``time.process_time`` past which the current slice stops after a call (the
        coffer's host-time budget, see cofferos.coffers.hostbudget); None: no budget."""
        self.recorder: list[tuple[object, int, int, int, tuple[Any, ...]]] | None = None
        #: Record calls on the plain path when no locks are traced (False: every recorded
        #: call through :meth:`_observed`, as before; the tests compare the two).
        self.record_plainly = True
        """A timing machine's log of calls: (task, number, user cycles at the call,
        kernel cycles it cost, the lock records of :mod:`cofferos.coffers.locktrace`).
        None: not recording (the untraced hot path)."""
        entries = table.entries
        #: Per call number: what names the locks its arguments select (locktrace).
        self.lock_resolvers = [CALL_RESOLVERS.get(e.name) if e else None for e in entries]
        self.base_cycles = [
            costs.entry_exit + (costs.work(e.name) if e else costs.unimplemented_work)
            for e in entries
        ]
        #: What a call ended by a personality's on_entry costs: entry and exit, a
        #: seccomp denial, and the architecture's per-call cycles; never the call's work.
        self.denied_cycles = [costs.entry_exit + DENIAL_CYCLES] * len(entries)
        self.fast: list[FastEntry | None] = []
        """Per call number, what the plain path needs, bound once: (handler, arity,
        cycles); None for an unimplemented call and for a call that a hook of the
        personality stack concerns (it goes through _personal, which may bind it here
        with its static cost). Rebuilt whenever base_cycles or the stack change."""
        self._bind_fast()

    def add_call_costs(self, extra: Callable[[str], int]) -> None:
        """Add an architecture's per-call cycles (seccomp, exits, interception)."""
        for nr, entry in enumerate(self.table.entries):
            if entry is not None:
                self.base_cycles[nr] += extra(entry.name)
                self.denied_cycles[nr] += extra(entry.name)
        self._bind_fast()

    def _bind_fast(self) -> None:
        plans = self.personalities.plans
        self.fast = [(e.handler, e.arity, self.base_cycles[nr])
                     if e is not None and plans[nr] is None else None
                     for nr, e in enumerate(self.table.entries)]

    def trap(self, cpu: Cpu) -> None:
        """The CPU executed SYSCALL: serve the call for the task on that CPU."""
        task: Task = cpu.task  # type: ignore[assignment]
        regs = cpu.trap_args()
        nr = regs[0]
        tracer = self.tracer
        fast = self.fast[nr] if nr < TABLE_SIZE else None
        recorder = self.recorder
        if (fast is not None and tracer is None and not self.changes
                and (recorder is None or (self.record_plainly and locktrace.trace is None))):
            # The plain path: one lookup binds the handler, its arity and its cycles.
            # A timing machine's record of the call (no locks traced) is kept here too,
            # as _observed keeps it: a timed run's calls took that slower path (issue #17).
            handler, arity, cycles = fast
            kernel_before = task.kernel_cycles
            try:
                # The commonest arities by position: the slice and the star call of
                # handler(task, *regs[1 : 1 + arity]) cost about 0.1 us a trap (issue #17).
                if arity == 3:  # read, write, lseek, ...
                    result = handler(task, regs[1], regs[2], regs[3])
                elif arity == 0:  # getpid, getppid, sched_yield, ...
                    result = handler(task)
                else:
                    result = handler(task, *regs[1 : 1 + arity])
            except Exception as exc:  # noqa: BLE001 - _failed sorts errno, block, oops
                result = self._failed(task, exc)
            if result is not BLOCKED:  # else charged once, when the call runs again
                stats = self.stats
                stats.calls[nr] += 1
                task.kernel_cycles += cycles
                stats.kernel_cycles += cycles
            if recorder is not None:  # (the counter's cycles at the call: no handler
                # here changes them, so they are those after it, as _observed reads them)
                recorder.append((task, nr, regs[TRAP_CYCLES],
                                 task.kernel_cycles - kernel_before, ()))
            if result is BLOCKED:
                return
        elif (tracer is None and recorder is None and not self.changes and nr < TABLE_SIZE
              and (plan := self.personalities.plans[nr]) is not None):
            # A call that hooks of the personality stack concern, and nothing else watches.
            result, cycles = self._personal(task, nr, self.table.entries[nr], regs, plan)
            task.kernel_cycles += cycles
            self.stats.kernel_cycles += cycles
            if result is BLOCKED:
                return
        else:
            result, cycles = self._observed(cpu, task, nr, regs)
            if result is BLOCKED:
                return
        task.wakeup = None
        if result is not None:  # written to RAX as the trap returns to the engine
            words = cpu.trap_words
            if words is not None:  # SyscallTrap.defer_result written out: a call a trap
                words[TRAP_RESULT] = result & MASK64
                words[TRAP_HAS_RESULT] = 1
            else:  # the ctypes trap
                cpu.defer_result(result)
        if tracer is not None:
            cpu.commit_result()
            tracer.leave(task, result, cycles)
        if self.host_deadline is not None and time.process_time() > self.host_deadline:
            cpu.stop()  # the slice ends here; the scheduler sees the budget spent
        if task.pending.items or task.process.pending.items:
            signals = task.coffer.signals
            if signals.has_pending(task):
                cpu.commit_result()  # the signal frame saves RAX
                # In the hook RIP is still on SYSCALL; Unicorn adds its length after we
                # return. The frame must record the real return address, and the
                # handler must start exactly at its first instruction.
                cpu.pc = cpu.pc + SYSCALL_INSN_LENGTH
                signals.deliver_pending(task)
                if task.alive:
                    cpu.pc = cpu.pc - SYSCALL_INSN_LENGTH
                cpu.stop()

    def _observed(self, cpu: Cpu, task: Task, nr: int,
                  regs: list[int]) -> tuple[int | None, int]:
        """Every other call: unimplemented, traced, recorded, through personalities or
        after a due live change. Charges the cycles and returns (result, cycles);
        BLOCKED when the trap has nothing more to do (the task sleeps, or was killed
        by a failed live change)."""
        entry = self.table.entries[nr] if nr < TABLE_SIZE else None
        tracer = self.tracer
        if tracer is not None:
            tracer.enter(task, nr, entry, regs[:TRAP_CYCLES])  # (the registers)
        stats = self.stats
        recorder = self.recorder
        if recorder is not None:
            kernel_before = task.kernel_cycles
            trace = locktrace.trace
            if trace is not None:
                if trace:
                    trace.clear()
                resolve = self.lock_resolvers[nr] if nr < TABLE_SIZE else None
                if resolve is not None:
                    trace.extend(resolve(task, regs))
        if self.changes and not self._apply_changes(task):
            task.kernel_cycles += self.costs.entry_exit  # the new stack failed: task killed
            stats.kernel_cycles += self.costs.entry_exit
            if tracer is not None:
                tracer.leave(task, None, self.costs.entry_exit)
            return BLOCKED, 0
        result: int | None
        stack = self.personalities
        plan = stack.plans[nr] if nr < TABLE_SIZE else stack.plan(nr)
        if plan is not None:  # a hook of the stack concerns this call
            result, cycles = self._personal(task, nr, entry, regs, plan)
        elif entry is None:
            result = -errno.ENOSYS
            stats.unimplemented[nr] = stats.unimplemented.get(nr, 0) + 1
            cycles = self.costs.entry_exit
        else:
            result = self._call(task, entry.handler, regs, entry.arity)
            if result is BLOCKED:
                cycles = 0  # charged once, when the call runs again and completes
            else:
                cycles = self.base_cycles[nr]
                stats.calls[nr] += 1
        task.kernel_cycles += cycles
        stats.kernel_cycles += cycles
        if recorder is not None:
            recorder.append((task, nr, cpu.counter.cycles, task.kernel_cycles - kernel_before,
                             tuple(trace) if trace else ()))
        if result is BLOCKED and tracer is not None:
            tracer.leave(task, None, cycles, blocked=True)
        return result, cycles

    def change_personalities(self, personalities: list[Personality], at_ns: int | None = None,
                             after: tuple[str, int] | None = None) -> None:
        """Live change: replace the stack now, at simulated time ``at_ns``, or once the
        call named ``after[0]`` has completed ``after[1]`` times. The coffer keeps
        all its state; only the behaviour of later calls changes."""
        if after is not None and after[0] not in SYSCALL_NUMBERS:
            raise ConfigError(f"change_personalities: no system call named {after[0]!r}")
        if at_ns is None and after is None:
            self.personalities.replace(personalities)
        else:
            self.changes.append((at_ns, after, personalities))

    def _apply_changes(self, task: Task) -> bool:
        """Make the changes that are due; False if the new stack failed (its memory
        or mounts slot) and the calling task was killed for it."""
        now = task.coffer.monotonic_ns()
        for change in list(self.changes):
            at_ns, after, personalities = change
            due = at_ns is not None and now >= at_ns
            if after is not None:
                due = due or self.stats.calls[SYSCALL_NUMBERS[after[0]]] >= after[1]
            if due:
                self.changes.remove(change)
                try:
                    self.personalities.replace(personalities)
                except (ConfigError, KillTask) as err:  # PersonalityError is a ConfigError
                    self._contain(task, err, "a live change of personalities")
                    return False
        return True

    def _contain(self, task: Task, failure: Exception, during: str = "") -> None:
        """A personality failed: kill the calling task (SIGSYS, or KillTask's signal)
        and report which personality and hook, with the traceback of what it raised."""
        where = f"pid {task.tgid}" + (f" ({during})" if during else "")
        if isinstance(failure, KillTask):
            self.stats.oopses.append(f"personality killed {where}: {failure}")
            task.coffer.kill_task(task, failure.signal, "personality-kill", str(failure))
            return
        report = f"personality failed, {where} killed with SIGSYS: {failure}"
        cause = getattr(failure, "cause", None)
        if cause is not None:
            report += "\n" + "".join(traceback.format_exception(cause)).rstrip()
        self.stats.oopses.append(report)
        task.coffer.kill_task(task, signal.SIGSYS, "personality-failure", str(failure))

    def _personal(self, task: Task, nr: int, entry: SyscallEntry | None,
                  regs: list[int], plan: Plan | None = None) -> tuple[int | None, int]:
        """The call through the hooks of the personality stack that concern it (its
        ``plan``, by default the stack's for ``nr``; the composition rule of
        cofferos.personalities.base). A personality that fails is contained."""
        stack = self.personalities
        plan = plan or stack.plan(nr) or GUARDED
        if plan is GUARDED:  # no hook: only a policy slot's failure to contain
            return self._guarded(task, nr, entry, regs)
        entries, handlers, exits, costs, foldable = plan
        ctx = SyscallContext(task, nr, entry.name if entry else name_of(nr), regs[1:7])
        try:
            result, ran = stack.enter(ctx, entries)
            if result is not None:  # denied (or answered) before the kernel: no call work
                base = (self.denied_cycles[nr] if nr < TABLE_SIZE
                        else self.costs.entry_exit + DENIAL_CYCLES)
            else:
                served = stack.handle(ctx, handlers) if handlers else NOT_HANDLED
                if served is not NOT_HANDLED:
                    result = served
                elif entry is None:
                    result = -errno.ENOSYS
                    self.stats.unimplemented[nr] = self.stats.unimplemented.get(nr, 0) + 1
                else:
                    handler, arity, args = entry.handler, len(entry.args), ctx.args
                    try:  # by arity, as the plain path calls it
                        if arity == 3:
                            result = handler(task, args[0], args[1], args[2])
                        elif arity == 0:
                            result = handler(task)
                        else:
                            result = handler(task, *args[:arity])
                    except Exception as exc:  # noqa: BLE001 - _failed sorts errno, block, oops
                        result = self._failed(task, exc)
                    if result is BLOCKED:
                        return result, 0
                    if foldable and entry is self.table.entries[nr]:
                        # Static costs only: charged, and later calls take the plain path.
                        cycles = stack.cost_once(ctx, self.base_cycles[nr], costs)
                        self.fast[nr] = (handler, arity, cycles)
                        self.stats.calls[nr] += 1
                        return result, cycles
                base = self.base_cycles[nr] if entry is not None else self.costs.entry_exit
            if result is not None and exits:
                result = stack.exit(ctx, result, ran, exits)
            if entry is not None:
                self.stats.calls[nr] += 1
            return result, stack.cost(ctx, base, costs) if costs else base
        except (PersonalityError, KillTask) as failure:  # a hook or a policy slot
            self._contain(task, failure, ctx.name)
            return None, self.costs.entry_exit

    def _guarded(self, task: Task, nr: int, entry: SyscallEntry | None,
                 regs: list[int]) -> tuple[int | None, int]:
        """A call that no hook needs, under a stack with a policy slot: the kernel's call
        (as _observed makes it), a slot's failure inside it contained as by _personal."""
        if entry is None:
            self.stats.unimplemented[nr] = self.stats.unimplemented.get(nr, 0) + 1
            return -errno.ENOSYS, self.costs.entry_exit
        try:
            result = self._call(task, entry.handler, regs, len(entry.args))
        except (PersonalityError, KillTask) as failure:  # re-raised by _failed
            self._contain(task, failure, entry.name)
            return None, self.costs.entry_exit
        if result is BLOCKED:
            return result, 0
        self.stats.calls[nr] += 1
        return result, self.base_cycles[nr]

    def _call(self, task: Task, handler: Callable[..., int | None],
              regs: list[int], arity: int) -> int | None:
        try:
            return handler(task, *regs[1 : 1 + arity])
        except Exception as exc:  # noqa: BLE001 - _failed sorts errno, block, oops
            return self._failed(task, exc)

    def _failed(self, task: Task, exc: Exception) -> int | None:
        """What a handler's exception means (called inside its ``except``): a sleep
        request, an errno, a personality failure (re-raised for _personal), or a bug."""
        if isinstance(exc, Block):
            task.coffer.scheduler.block(task, exc)
            return BLOCKED
        if isinstance(exc, MemoryFault):
            return -errno.EFAULT
        if isinstance(exc, FsError | MmError):
            sig = getattr(exc, "raise_signal", 0)
            if sig:  # EPIPE comes with SIGPIPE
                task.coffer.signals.send_task(task, SigInfo(sig, pid=task.tgid))
            return -exc.errno
        if isinstance(exc, PersonalityError | KillTask):
            raise exc  # a personality's policy slot failed: _personal contains it (SIGSYS)
        # A kernel bug must not take the simulator down.
        self.stats.oopses.append(traceback.format_exc())
        task.coffer.kill_task(task, signal.SIGKILL, "oops", _last_line(traceback.format_exc()))
        return None


def _last_line(text: str) -> str:
    """The exception line of a traceback (what an oops report shows on one line)."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


#: What _call returns when the handler put the task to sleep.
BLOCKED: int | None = -(1 << 70)


def is_error(result: int) -> bool:
    return -MAX_ERRNO <= result < 0
