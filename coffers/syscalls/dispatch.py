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
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.mm import MmError
from cofferos.coffers.signals import SigInfo
from cofferos.coffers.syscalls.table import TABLE_SIZE, SyscallTable, name_of
from cofferos.coffers.wait import SYSCALL_INSN_LENGTH, Block
from cofferos.isa.cpu import Cpu, MemoryFault
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
        if entry is None:
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
