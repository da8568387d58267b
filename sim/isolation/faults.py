"""Fault injection: a kernel path that fails the way real kernel bugs do.

A :class:`FaultInjector` is attached to a timing :class:`~cofferos.sim.machine.Machine`
(``machine.injector``). After each slice it looks at the slice's system calls;
the first call of the chosen *path* (a system call name) made by the chosen
container at or after the chosen simulated time *triggers* the fault, in the
kernel that served the call: the caller's kernel domain
(:mod:`cofferos.coffers.domain`). What the fault does next depends only on
where the state it breaks lives, never on the architecture's name:

``panic``
    the kernel stops: every task of every container of that domain dies.
``oops``
    the calling task is killed in the middle of the call; the locks the path
    takes (:data:`cofferos.sim.kernel_locks.CALL_LOCKS`) stay held forever, so every
    later taker of those locks *in that kernel* spins for ever.
``corrupt``
    the kernel objects the path touches (named as the locks guarding them) are
    corrupted: any later call in that kernel that touches them oopses the task
    that made it.
``lockup``
    the calling task spins in the kernel for ever, holding its core and the
    path's locks (a soft lockup).
``leak``
    every call of the path from then on leaks kernel memory in that kernel,
    charged where that kernel's memory comes from (the container's own account,
    or the machine's RAM shared by a shared kernel or host-backed sandboxes).
    When it no longer fits, the OOM killer of that memory kills the task with
    the largest footprint among the containers drawing on it, first found first
    (as Linux's ``select_bad_process`` walks the task list).

Error bound: the fault takes effect at the end of the slice that made the
triggering call (at most one slice after the call, see :mod:`cofferos.sim.machine`).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cofferos.coffers.syscalls.numbers import SYSCALL_NAMES, SYSCALL_NUMBERS
from cofferos.errors import ConfigError
from cofferos.sim.kernel_locks import CALL_LOCKS

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.domain import KernelDomain
    from cofferos.coffers.task import Task
    from cofferos.sim.machine import Machine

FAULT_KINDS: tuple[str, ...] = ("panic", "oops", "corrupt", "lockup", "leak")
DEFAULT_LEAK_BYTES = 4 << 20  #: E: a leak big enough to exhaust a scaled-down machine quickly


@dataclass
class FaultSpec:
    """Which bug, where, triggered by whom and when."""

    kind: str
    path: str = "openat"
    """The kernel path: a system call name (its locks are in sim/kernel_locks.py CALL_LOCKS)."""
    container: int = 0
    """Index of the container whose call triggers the fault."""
    at_ns: int = 0
    """Simulated time from which the next call of ``path`` triggers it."""
    leak_bytes: int = DEFAULT_LEAK_BYTES

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError(f"unknown fault {self.kind!r}; choose from {', '.join(FAULT_KINDS)}")
        if self.path not in SYSCALL_NUMBERS:
            raise ConfigError(f"fault path: no system call named {self.path!r}")


@dataclass
class FaultLog:
    """What the fault did: when it fired, what it killed and what it left broken."""

    fired_ns: float | None = None
    domain: str | None = None
    killed: dict[str, float] = field(default_factory=dict)
    """Container name -> simulated time its last task was killed by the fault."""
    broken: set[str] = field(default_factory=set)
    """Kernel domains left in a state only a restart repairs."""
    leaked_bytes: int = 0
    oom_kills: int = 0


class FaultInjector:
    """Watches a machine's slices and makes one fault happen (see the module doc)."""

    def __init__(self, spec: FaultSpec, machine: Machine) -> None:
        self.spec = spec
        self.machine = machine
        self.trigger: Coffer = machine.coffers[spec.container]
        self.nr = SYSCALL_NUMBERS[spec.path]
        self.objects = tuple(use.lock for use in CALL_LOCKS.get(spec.path, ()))
        self.log = FaultLog()
        self.corrupted: dict[int, set[str]] = {}  #: id(domain) -> corrupted object kinds
        #: Per call number: the kernel objects (lock kinds) a call of it touches.
        self.touches = [frozenset(use.lock for use in CALL_LOCKS.get(SYSCALL_NAMES.get(nr, ""),
                                                                     ()))
                        for nr in range(max(SYSCALL_NAMES) + 1)]
        self.fired_by: Task | None = None
        machine.injector = self

    # -- the machine's hook --------------------------------------------------------------
    def after_slice(self, task: Task, core: int, calls: list[Any]) -> bool:
        """Apply the fault to this slice; True if the task's core is now locked up."""
        if self.corrupted:
            self._touch_corrupted(task, calls)
        if task.coffer is not self.trigger or not task.alive:
            return False
        hits = sum(1 for caller, nr, *_rest in calls if caller is task and nr == self.nr)
        if not hits or self.machine.env.now < self.spec.at_ns:
            return False
        kind = self.spec.kind
        if kind == "leak":
            self._leak(task, hits)
            return False
        if self.log.fired_ns is not None:
            return False
        self._fired(task)
        domain = task.coffer.domain
        if kind == "panic":
            for coffer in domain.members:
                self._kill_coffer(coffer, "panic")
        elif kind == "oops":
            self.machine.locks.hold_forever(self.objects, task.coffer.config.name)
            self._kill_task(task)
        elif kind == "corrupt":
            self.corrupted.setdefault(id(domain), set()).update(self.objects)
        elif kind == "lockup":
            self.machine.locks.hold_forever(self.objects, task.coffer.config.name)
            return True  # it never comes back from the kernel
        return False

    # -- effects --------------------------------------------------------------------------
    def _fired(self, task: Task) -> None:
        domain = task.coffer.domain
        self.fired_by = task
        self.log.fired_ns = self.machine.env.now
        self.log.domain = domain.name
        kind = self.spec.kind
        if kind in ("panic", "corrupt", "lockup") or kind == "oops" and self.objects:
            self.log.broken.add(domain.name)  # (a leak breaks it once it has leaked)

    def _touch_corrupted(self, task: Task, calls: list[Any]) -> None:
        broken = self.corrupted.get(id(task.coffer.domain))
        if not broken or not task.alive or task is self.fired_by and \
                self.machine.env.now == self.log.fired_ns:
            return  # (the corrupting slice itself does not crash on its own corruption)
        for caller, nr, _at, _cycles, _locks in calls:
            if caller is task and nr < len(self.touches) and self.touches[nr] & broken:
                self._kill_task(task)
                return

    def _leak(self, task: Task, calls: int) -> None:
        if self.log.fired_ns is None:
            self._fired(task)
        account = task.coffer.memory
        for _ in range(calls):
            if not account.fits(self.spec.leak_bytes):
                self._oom_kill(task.coffer)
                if not task.alive:
                    return
                continue
            if not self.spec.leak_bytes:
                return  # nothing leaks: the kernel stays whole
            account.charge(self.spec.leak_bytes)
            self.log.leaked_bytes += self.spec.leak_bytes
            self._leaked_by(task.coffer.domain)

    def _leaked_by(self, domain: KernelDomain) -> None:
        self.log.broken.add(domain.name)

    def _oom_kill(self, coffer: Coffer) -> None:
        """Kill the biggest task drawing on the exhausted memory (first found wins ties)."""
        pool = coffer.memory.pool
        scope = ([c for c in self.machine.coffers if c.memory.pool is pool]
                 if pool is not None else [coffer])
        candidates = [t for c in scope for t in c.tasks.values() if t.alive]
        if not candidates:
            return
        victim = max(candidates, key=lambda t: self._badness(t))
        self.log.oom_kills += 1
        self._kill_task(victim, "oom-kill")

    def _badness(self, task: Task) -> int:
        """Its mapped memory, plus the kernel memory leaked in its kernel if that kernel
        serves it alone (a coffer's or a Sentry's leak is charged to that container)."""
        mm = task.mm.mapped_bytes if task.mm is not None else 0
        domain = task.coffer.domain
        own_kernel = len(domain.members) == 1 and domain.name in self.log.broken
        return mm + (self.log.leaked_bytes if own_kernel else 0)

    def _kill_task(self, task: Task, cause: str = "oops") -> None:
        coffer = task.coffer
        coffer.kill_process(task.process, _killed(cause))
        if coffer.init is not None and coffer.init.zombie or not any(
                t.alive for t in coffer.tasks.values()):
            self.log.killed.setdefault(coffer.config.name, self.machine.env.now)
            self._kill_coffer(coffer, cause)

    def _kill_coffer(self, coffer: Coffer, cause: str) -> None:
        for process in list(coffer.processes.values()):
            coffer.kill_process(process, _killed(cause))
        self.log.killed.setdefault(coffer.config.name, self.machine.env.now)


def _killed(cause: str) -> Any:
    """SIGKILL, caused by the injected fault (a key of END_REASONS)."""
    from cofferos.coffers.task import ExitStatus

    return ExitStatus(signal=signal.SIGKILL, cause=cause)
