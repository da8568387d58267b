"""The system call trap: from a SYSCALL instruction to a handler and back.

:meth:`SyscallDispatcher.trap` is what every CPU calls on SYSCALL, for the task
whose registers it holds (``cpu.task``). It reads the number and six arguments in
one batch, finds the entry in the table, calls
the handler, writes RAX, and charges the call's kernel cycles. Errors raised deep
in a subsystem become the errno Linux returns: a bad guest pointer is EFAULT, a
filesystem or memory error carries its own errno. Any other exception is a bug
in the kernel model: like a Linux oops, it kills the calling task (SIGKILL) and is
recorded in the coffer's report, and the simulator and every other coffer go on.

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
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.mm import MmError
from cofferos.coffers.signals import SigInfo
from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS
from cofferos.coffers.syscalls.table import TABLE_SIZE, SyscallEntry, SyscallTable, name_of
from cofferos.coffers.wait import SYSCALL_INSN_LENGTH, Block
from cofferos.errors import ConfigError
from cofferos.isa.cpu import Cpu
from cofferos.isa.faults import MemoryFault
from cofferos.personalities.base import NOT_HANDLED, KillTask, Personality, SyscallContext
from cofferos.personalities.stack import PersonalityStack
from cofferos.sim.costmodel import KernelCosts

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.trace import Tracer
    from cofferos.coffers.task import Task

MASK64 = (1 << 64) - 1
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
    #: (monotonic ns, label) of each completed operation, in the order written
    #: (:mod:`cofferos.coffers.opsdev`; summarised by :mod:`cofferos.results.ops`).
    ops: list[tuple[int, str]] = field(default_factory=list)

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
        self.personalities = PersonalityStack()
        """The coffer's personality stack (empty: the kernel table directly, the fast path)."""
        self.host_deadline: float | None = None
        """``time.process_time`` past which the current slice stops after a call (the
        coffer's host-time budget, see cofferos.coffers.hostbudget); None: no budget."""
        self.recorder: list[tuple[object, int, int, int]] | None = None
        """A timing machine's log of calls: (task, number, user cycles at the call,
        kernel cycles it cost). None: not recording (the untraced hot path)."""
        entries = table.entries
        self.base_cycles = [
            costs.entry_exit + (costs.work(e.name) if e else costs.unimplemented_work)
            for e in entries
        ]

    def add_call_costs(self, extra: Callable[[str], int]) -> None:
        """Add an architecture's per-call cycles (seccomp, exits, interception)."""
        for nr, entry in enumerate(self.table.entries):
            if entry is not None:
                self.base_cycles[nr] += extra(entry.name)

    def trap(self, cpu: Cpu) -> None:
        """The CPU executed SYSCALL: serve the call for the task on that CPU."""
        task: Task = cpu.task  # type: ignore[assignment]
        regs = cpu.syscall_args()
        nr = regs[0]
        entry = self.table.entries[nr] if nr < TABLE_SIZE else None
        tracer = self.tracer
        if tracer is not None:
            tracer.enter(task, nr, entry, regs)
        stats = self.stats
        recorder = self.recorder
        if recorder is not None:
            kernel_before = task.kernel_cycles
        if self.changes:
            self._apply_changes(task)
        if self.personalities.personalities:  # a list test: no method call on the hot path
            result, cycles = self._personal(task, nr, entry, regs)
        elif entry is None:
            result: int | None = -errno.ENOSYS
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
            recorder.append((task, nr, cpu.counter.cycles, task.kernel_cycles - kernel_before))
        if result is BLOCKED:
            if tracer is not None:
                tracer.leave(task, None, cycles, blocked=True)
            return
        task.wakeup = None
        if result is not None:
            cpu.set_result(result)
        if tracer is not None:
            tracer.leave(task, result, cycles)
        if self.host_deadline is not None and time.process_time() > self.host_deadline:
            cpu.stop()  # the slice ends here; the scheduler sees the budget spent
        if task.pending.items or task.process.pending.items:
            signals = task.coffer.signals
            if signals.has_pending(task):
                # In the hook RIP is still on SYSCALL; Unicorn adds its length after we
                # return. The frame must record the real return address, and the
                # handler must start exactly at its first instruction.
                cpu.pc = cpu.pc + SYSCALL_INSN_LENGTH
                signals.deliver_pending(task)
                if task.alive:
                    cpu.pc = cpu.pc - SYSCALL_INSN_LENGTH
                cpu.stop()

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

    def _apply_changes(self, task: Task) -> None:
        now = task.coffer.monotonic_ns()
        for change in list(self.changes):
            at_ns, after, personalities = change
            due = at_ns is not None and now >= at_ns
            if after is not None:
                due = due or self.stats.calls[SYSCALL_NUMBERS[after[0]]] >= after[1]
            if due:
                self.personalities.replace(personalities)
                self.changes.remove(change)

    def _personal(self, task: Task, nr: int, entry: SyscallEntry | None,
                  regs: object) -> tuple[int | None, int]:
        """The call through the coffer's personality stack (the composition rule of
        cofferos.personalities.base). A personality that fails is contained."""
        stack = self.personalities
        ctx = SyscallContext(task, nr, entry.name if entry else name_of(nr),
                             list(regs[1:7]))  # type: ignore[index]
        try:
            result, ran = stack.enter(ctx)
            if result is None:
                served = stack.handle(ctx)
                if served is not NOT_HANDLED:
                    result = served
                elif entry is None:
                    result = -errno.ENOSYS
                    self.stats.unimplemented[nr] = self.stats.unimplemented.get(nr, 0) + 1
                else:
                    result = self._call(task, entry.handler, [nr, *ctx.args], entry.arity)
            if result is BLOCKED:
                return result, 0
            if result is not None:
                result = stack.exit(ctx, result, ran)
            if entry is not None:
                self.stats.calls[nr] += 1
            base = self.base_cycles[nr] if entry is not None else self.costs.entry_exit
            return result, stack.cost(ctx, base)
        except KillTask as kill:
            self.stats.oopses.append(f"personality killed pid {task.tgid}: {kill}")
            task.coffer.kill_task(task, kill.signal)
            return None, self.costs.entry_exit
        except Exception:  # noqa: BLE001 - a failing personality must not take the simulator
            self.stats.oopses.append("personality failed:\n" + traceback.format_exc())
            task.coffer.kill_task(task, signal.SIGSYS)
            return None, self.costs.entry_exit

    def _call(self, task: Task, handler: Callable[..., int | None],
              regs: object, arity: int) -> int | None:
        args = regs[1 : 1 + arity]  # type: ignore[index]
        try:
            return handler(task, *args)
        except Block as request:
            task.coffer.scheduler.block(task, request)
            return BLOCKED
        except MemoryFault:
            return -errno.EFAULT
        except (FsError, MmError) as err:
            sig = getattr(err, "raise_signal", 0)
            if sig:  # EPIPE comes with SIGPIPE
                task.coffer.signals.send_task(task, SigInfo(sig, pid=task.tgid))
            return -err.errno
        except Exception:  # noqa: BLE001 - a kernel bug must not take the simulator down
            self.stats.oopses.append(traceback.format_exc())
            task.coffer.kill_task(task, signal.SIGKILL)
            return None


#: What _call returns when the handler put the task to sleep.
BLOCKED: int | None = -(1 << 70)


def is_error(result: int) -> bool:
    return -MAX_ERRNO <= result < 0
