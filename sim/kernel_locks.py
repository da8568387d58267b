"""Kernel locks in simulated time: the lock instances a call takes, and how long.

The system call implementations are functional; the kernel records, per call,
the kernel objects it touched (:mod:`cofferos.coffers.locktrace`), and the
kernel version's table (:mod:`cofferos.sim.lockversions`) says which locks
Linux takes for each, with what algorithm (:mod:`cofferos.sim.lockalgo`) and
hold time. Contention *emerges*: a call that needs a lock another core holds
waits (spinning, reported as lock wait; or sleeping, its core idle; a mutex or
rw-semaphore with optimistic spinning spins while its owner runs), holds it
for its hold time, and pays the algorithm's hand-off when the previous holder
ran on another core.

Where a lock lives is the whole difference between architectures: on ``linux``
a kernel-global lock (rename_lock, tasklist_lock, dcache_lock in 2.6.35) is one
for the machine, and a per-object lock is shared exactly when the containers
share the object (separate tmpfs mounts never do); elsewhere each container's
kernel (a Coffer, a guest kernel, a sandbox) has its own of every lock.

:data:`CALL_LOCKS` is the older by-kind view of the same calls, kept as the
isolation experiments' classification of which kernel objects a call touches
(``sim/isolation/faults.py``, ``noisy.py``); a fault that leaves a kind held
poisons the lock classes of :data:`KIND_CLASSES`.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from cofferos.coffers import locktrace as lt
from cofferos.sim.lockalgo import ALGORITHMS, Algorithm, SimLock, ticket_handoff_sockets
from cofferos.sim.lockversions import (
    GLOBAL,
    LINUX_6,
    LockRule,
    Table,
    percpu_counter_batch,
    with_walk_modes,
)
from cofferos.sim.timeline import describe
from cofferos.sim.topology import Topology

HANDOFF_CYCLES = 300  #: E: a contended lock's cache line moving between cores (200-400)

@dataclass(frozen=True)
class LockUse:
    """A kind of kernel object a call touches (the by-kind view; no time attached)."""

    lock: str


_WALK = (LockUse("dcache"), LockUse("mount"))
_CREATE = (*_WALK, LockUse("dentry_parent"), LockUse("inode_hash"))
_NET = (LockUse("net"),)

#: The kinds of kernel object each system call touches, by name (others: none).
CALL_LOCKS: dict[str, tuple[LockUse, ...]] = {
    **{name: _WALK for name in ("stat", "lstat", "newfstatat", "statx", "access",
                                "faccessat", "faccessat2", "readlink", "readlinkat",
                                "chdir", "execve")},
    **{name: _CREATE for name in ("open", "openat", "creat", "mkdir", "mkdirat",
                                  "unlink", "unlinkat", "rmdir", "rename", "renameat",
                                  "renameat2", "link", "linkat", "symlink",
                                  "symlinkat", "mknod", "mknodat")},
    **{name: (LockUse("tasklist"),) for name in ("clone", "fork", "vfork",
                                                 "exit_group", "exit", "wait4")},
    **{name: (LockUse("zone"),) for name in ("mmap", "munmap", "brk", "mremap")},
    "futex": (LockUse("futex"),),
    **{name: _WALK for name in ("mount", "umount2")},
    **{name: _NET for name in ("sendto", "recvfrom", "sendmsg", "recvmsg", "connect",
                               "accept", "accept4", "socket")},
}


HANDOFF_KEY = "handoff"
#: The lock classes a by-kind CALL_LOCKS entry stands for (faults poison these).
KIND_CLASSES: dict[str, tuple[str, ...]] = {
    "dcache": (lt.D_WALK, lt.D_WALK_REF, lt.D_WALK_ABS),
    "mount": (lt.MNT_READ, lt.MNT_CROSS, lt.MNT_WRITE),
    "dentry_parent": (lt.DIR_EXCL, lt.D_ALLOC, lt.D_DELETE, lt.D_NEGATIVE,
                      lt.DIR_LOOKUP), "inode_hash": (lt.SB_INODES,),
    "tasklist": (lt.TASKLIST_WRITE, lt.TASKLIST_READ), "zone": (lt.MMAP_WRITE,),
    "futex": (lt.FUTEX_BUCKET,), "net": (lt.SOCK,),
}
Record = tuple[str, object]


class LockTable:
    """The lock instances of one machine, placed per architecture, taken per record."""

    def __init__(self, env: simpy.Environment, shared_kernel: bool,
                 handoff_cycles: int = HANDOFF_CYCLES,
                 holds: dict[str, int] | None = None, table: Table | None = None,
                 sleep_cycles: int = 0, topology: Topology | None = None) -> None:
        self.env = env
        self.shared_kernel = shared_kernel
        self.handoff_cycles = handoff_cycles
        #: Sockets and the hand-off within and across them (sim/topology.py); default one
        #: socket, every hand-off ``handoff_cycles``.
        self.topology = topology or Topology(handoff_cycles, handoff_cycles)
        self.holds = holds or {}  #: overridden hold times by lock name
        #: The online CPUs a percpu_counter rule counts (LockRule.percpu_batch, per_cpu,
        #: near_limit): the machine's cores.
        self.cpus = self.topology.cores
        self.percpu_batch = percpu_counter_batch(self.cpus)
        self.table = with_walk_modes(LINUX_6 if table is None else table)
        self.sleep_cycles = sleep_cycles  #: a sleeping waiter's context switch + wake-up
        self.locks: dict[tuple[str, str, object], SimLock] = {}
        self.noted: dict[str, set[int]] = {}  #: call numbers already noted, per container
        self.poisoned: set[tuple[str, str]] = set()  #: (class, placement) held forever
        #: When a list: every wait, as (lock instance name, simulated ns it ended, ns waited,
        #: whether the waiter slept: else it spun) (the validation's bottleneck and
        #: spinning share, sim/validate.py); None: not kept.
        self.wait_log: list[tuple[str, float, float, bool]] | None = None
        #: Beside each wait_log entry, the Linux function its rule names (LockRule.source):
        #: whom a profile that charges spinning to the caller would name (sim/validate.py).
        self.wait_callers: list[str] = []
        #: Classes whose locks are all free (RCU, seqlock readers): a call whose records
        #: are all of these takes no lock and needs no synchronisation in simulated time.
        self.free_classes = frozenset(
            cls for cls, rules in self.table.items()
            if all(ALGORITHMS[rule.algorithm].free for rule in rules))
        #: Classes with a rule taken once per batch (LockRule.every): :meth:`due` counts
        #: their records per core before a call's locks are taken.
        self.batched_classes = frozenset(
            cls for cls, rules in self.table.items() if any(self.every(r) > 1 for r in rules))
        #: Records counted so far per (class, rule index, placement, core): a batched rule
        #: is due when its count reaches a multiple of its ``every``.
        self.batch_counts: dict[tuple[str, int, str, int], int] = {}
        #: The machine's timeline track (sim/timeline.py): lock waits go there; None: off.
        self.timeline: Any = None
        self.last_taker: dict[int, str] = {}  #: per lock (by id): who took it last (timeline)

    def every(self, rule: LockRule) -> int:
        """How many records of its class on one core take ``rule`` once."""
        return self.percpu_batch if rule.percpu_batch else rule.every

    def applies(self, rule: LockRule, obj: object) -> bool:
        """Is ``rule`` taken for a record of ``obj`` at all: a near-limit rule only when
        the object's free pages are within percpu_counter_batch x CPUs of its limit."""
        if not rule.near_limit:
            return True
        free = getattr(obj, "free_pages", None)
        return free is not None and free <= self.percpu_batch * self.cpus

    def all_free(self, records: tuple[Record, ...]) -> bool:
        """No record of ``records`` takes a real lock (and none is poisoned)."""
        free = self.free_classes
        return not self.poisoned and all(cls in free for cls, _obj in records)

    def due(self, records: tuple[Record, ...], container: str,
            core: int) -> frozenset[tuple[int, int]] | None:
        """Count ``records``' batched rules on ``core`` (a call replayed there): the
        (record index, rule index) pairs of those whose batch is now full, to be taken
        by :meth:`take`; None when the records have no batched class."""
        batched = self.batched_classes
        if not batched or not any(cls in batched for cls, _obj in records):
            return None
        placement, counts, now = self._placement(container), self.batch_counts, []
        for index, (cls, _obj) in enumerate(records):
            if cls not in batched:
                continue
            for number, rule in enumerate(self.table[cls]):
                every = self.every(rule)
                if every > 1:
                    key = (cls, number, placement, core)
                    counts[key] = count = counts.get(key, 0) + 1
                    if count % every == 0:
                        now.append((index, number))
        return frozenset(now)

    def takes_any(self, records: tuple[Record, ...],
                  due: frozenset[tuple[int, int]] | None) -> bool:
        """Would :meth:`take` take any lock for ``records`` (``due``: from :meth:`due`)?"""
        if due is None or self.poisoned:
            return not self.all_free(records)
        if due:
            return True
        table, free = self.table, self.free_classes
        return any(cls not in free and any(self.every(rule) == 1 and
                                           not ALGORITHMS[rule.algorithm].free
                                           and self.applies(rule, obj)
                                           for rule in table.get(cls, ()))
                   for cls, obj in records)

    def _placement(self, container: str) -> str:
        return "" if self.shared_kernel else container

    def instance(self, rule: LockRule, obj: object, container: str) -> SimLock:
        """The lock ``rule`` names for ``obj``: one per kernel if global, else the object's."""
        placement = self._placement(container)
        obj = getattr(obj, "lock_object", obj)  # (a record naming the lock's object)
        if rule.scope == GLOBAL or obj is None:
            key: tuple[str, str, object] = (rule.name, placement, None)
        else:  # an int is a key (a futex bucket); an object is keyed by identity
            key = (rule.name, placement, obj if isinstance(obj, int) else id(obj))
        found = self.locks.get(key)
        if found is not None and found.owner is not None and found.owner() is not obj:
            found = None  # the object died and its id was reused: a new object, a new lock
        if found is None:
            where = placement or "kernel"
            label = rule.name if key[2] is None else f"{rule.name}#{key[2]}"
            found = self.locks[key] = SimLock(self.env, f"{label}@{where}")
            if ALGORITHMS[rule.algorithm].numa_aware:
                found.socket_of = self.topology.socket
            if key[2] is not None and not isinstance(obj, int):
                try:
                    found.owner = weakref.ref(obj)
                except TypeError:  # (an object without weak references: kept by id)
                    pass
        return found

    def hold_forever(self, kinds: tuple[str, ...], container: str) -> None:
        """The holder died in the kernel: every lock of ``kinds`` (CALL_LOCKS kinds) stays
        held, so every later taker in that kernel waits for ever."""
        placement = self._placement(container)
        for kind in kinds:
            for cls in KIND_CLASSES.get(kind, ()):
                self.poisoned.add((cls, placement))

    def note(self, container: str, calls: list[Any]) -> None:
        """Record ``container`` as a user of the kernel-global locks its slice's calls
        take (the first call of each number), also when the machine replays them
        without taking any (nothing to contend with)."""
        seen = self.noted.setdefault(container, set())
        for call in calls:
            nr = call[1]
            if nr in seen:
                continue
            seen.add(nr)
            for cls, _obj in call[4]:
                for rule in self.table.get(cls, ()):
                    if rule.scope == GLOBAL:
                        self.instance(rule, None, container).users.add(container)

    def take(self, records: tuple[Record, ...], container: str, core: int,
             ns_per_cycle: float, waited: list[float],
             due: frozenset[tuple[int, int]] | None = None) -> Generator[Any, Any, int]:
        """Take, hold and release each recorded lock in turn; returns the cycles held
        (the call's work done under its locks, hand-offs and wake-ups included; the read
        sides that take nothing stay in the rest of the call's work). A batched rule
        (``every`` > 1) is taken only when ``due`` (from :meth:`due`) names it.

        ``waited[0]`` accumulates the simulated ns spent spinning, ``waited[1]`` the ns
        spent asleep waiting (the core idle).
        """
        held = 0.0
        env, table, holds = self.env, self.table, self.holds
        for index, (cls, obj) in enumerate(records):
            if self.poisoned and (cls, self._placement(container)) in self.poisoned:
                yield env.event()  # held by a dead task: never granted
            for number, rule in enumerate(table.get(cls, ())):
                algorithm = ALGORITHMS[rule.algorithm]
                hold = holds.get(rule.name, rule.hold)
                if algorithm.free:  # (its cycles stay part of the call's work)
                    continue
                if self.every(rule) > 1 and (due is None or (index, number) not in due):
                    continue  # (its batch is not full on this core yet)
                if not self.applies(rule, obj):
                    continue  # (far from its limit: the approximate count sufficed)
                hold += rule.per_cpu * self.cpus
                lock = self.instance(rule, obj, container)
                lock.users.add(container)
                # (decided on arrival, as mutex_optimistic_spin does: a running owner)
                sleeps = algorithm.waiter_sleeps(rule.shared, lock.writer)
                granted = lock.acquire(rule.shared, core)
                wait = 0.0
                if not granted.triggered:  # queued behind another holder
                    start = env.now
                    yield granted
                    wait = env.now - start
                    if self.timeline is not None:
                        self._record_wait(lock, rule, sleeps, obj, container,
                                          core, start, wait)
                    if self.wait_log is not None:
                        self.wait_log.append((lock.name, env.now, wait, sleeps))
                        self.wait_callers.append(rule.source)
                if self.timeline is not None:
                    self.last_taker[id(lock)] = container
                cycles: float = hold
                if lock.last_core not in (-1, core):
                    cycles += self._handoff(algorithm, lock, core)
                if wait and sleeps:
                    cycles += self.sleep_cycles
                    waited[1] += wait
                else:
                    waited[0] += wait
                yield env.timeout(cycles * ns_per_cycle)
                lock.release(rule.shared, core)
                lock.last_core = core
                lock.acquisitions += 1
                held += cycles
        return int(held)

    def _handoff(self, algorithm: Algorithm, lock: SimLock, core: int) -> float:
        """Cycles to pass ``lock`` from its last holder's core to ``core``: the algorithm's
        hand-off, or a ticket lock's by sockets when ``lock.ticket_reread`` is set."""
        topology = self.topology
        line = topology.line(lock.last_core, core)
        if algorithm.grows_with_waiters and topology.reread is not None:
            same, remote_sockets = topology.queue_ahead(lock.last_core, core,
                                                        lock.waiting_cores())
            return ticket_handoff_sockets(line, topology.reread, topology.remote,
                                          same, remote_sockets)
        return algorithm.handoff(line, lock.waiting() + 1)

    def _record_wait(self, lock: SimLock, rule: LockRule, sleeps: bool, obj: object,
                     container: str, core: int, start: float, wait: float) -> None:
        """A lock wait on the timeline: which lock, on which object, in whose kernel,
        held by which container when the waiter queued, and who else ever took it."""
        self.timeline.lock_wait(core, start, wait, {
            "lock": rule.name, "algorithm": rule.algorithm, "instance": lock.name,
            "object": describe(obj), "kernel": self._placement(container) or "shared",
            "container": container, "held_by": self.last_taker.get(id(lock), ""),
            "users": sorted(lock.users), "sleeps": sleeps})
