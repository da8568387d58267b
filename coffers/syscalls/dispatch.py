"""The system call trap: from a SYSCALL instruction to a handler and back.

``make_trap(task)`` builds the function the CPU calls on every SYSCALL. It reads
the number and six arguments in one batch, finds the entry in the table, calls
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
from cofferos.coffers.syscalls.table import TABLE_SIZE, SyscallTable, name_of
from cofferos.isa.cpu import Cpu, MemoryFault
from cofferos.sim.costmodel import KernelCosts

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.trace import Tracer
    from cofferos.coffers.task import Task

MASK64 = (1 << 64) - 1
MAX_ERRNO = 4095  # results in [-4095, -1] are errors (include/linux/err.h)


@dataclass
class KernelStats:
    """What the kernel did for one coffer: calls by number, cycles, failures."""

    calls: list[int] = field(default_factory=lambda: [0] * TABLE_SIZE)
    unimplemented: dict[int, int] = field(default_factory=dict)
    kernel_cycles: int = 0
    oopses: list[str] = field(default_factory=list)

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
        entries = table.entries
        self.base_cycles = [
            costs.entry_exit + (costs.work(e.name) if e else costs.unimplemented_work)
            for e in entries
        ]

    def make_trap(self, task: Task) -> Callable[[Cpu], None]:
        entries, base_cycles, stats = self.table.entries, self.base_cycles, self.stats
        calls = stats.calls
        call = self._call
        tracer = self.tracer

        def trap(cpu: Cpu) -> None:
            regs = cpu.syscall_args()
            nr = regs[0]
            entry = entries[nr] if nr < TABLE_SIZE else None
            if tracer is not None:
                tracer.enter(task, nr, entry, regs)
            if entry is None:
                result: int | None = -errno.ENOSYS
                stats.unimplemented[nr] = stats.unimplemented.get(nr, 0) + 1
                cycles = self.costs.entry_exit
            else:
                calls[nr] += 1
                result = call(task, entry.handler, regs, entry.arity)
                cycles = base_cycles[nr]
            task.kernel_cycles += cycles
            stats.kernel_cycles += cycles
            if result is not None:
                cpu.set_result(result)
            if tracer is not None:
                tracer.leave(task, result, cycles)

        return trap

    def _call(self, task: Task, handler: Callable[..., int | None],
              regs: object, arity: int) -> int | None:
        args = regs[1 : 1 + arity]  # type: ignore[index]
        try:
            return handler(task, *args)
        except MemoryFault:
            return -errno.EFAULT
        except (FsError, MmError) as err:
            return -err.errno
        except Exception:  # noqa: BLE001 - a kernel bug must not take the simulator down
            self.stats.oopses.append(traceback.format_exc())
            task.coffer.kill_task(task, signal.SIGKILL)
            return None


def is_error(result: int) -> bool:
    return -MAX_ERRNO <= result < 0
