"""Kernel locks in simulated time: which calls take which locks, and how long.

The system call implementations are functional; the locks they would take in
Linux are modelled here, in simulated time, so that contention *emerges*: a
lock is a SimPy resource of capacity one; a call that needs it waits while
another core holds it (spinning: the waiting core is busy, and the wait is
reported as lock wait), holds it for its hold time, and pays a cache-line
hand-off when the previous holder ran on another core.

Where the lock lives is the whole difference between architectures: on
``linux`` there is one lock of each kind for the whole machine (one kernel);
elsewhere each container has its own (a Coffer, a guest kernel, a sandbox), so
only threads of the same container can contend.

The lock set per call follows the MOSBENCH analysis (Boyd-Wickizer et al.,
OSDI 2010) and Kleen and Chen's Exim profile (docs/calibration.md): path walks take
dentry reference counts and the mount lock; creating and removing names take
the parent's dentry lock and the inode hash lock; fork and exit take the
tasklist lock; mapping memory takes the zone lock; futexes the futex hash
bucket lock; sockets the network stack's locks.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

HANDOFF_CYCLES = 300  #: E: a contended lock's cache line moving between cores (200-400)

# Hold times in cycles (E: a few hundred cycles of work under each lock).
DENTRY_REF = 120  #: dget/dput on a path component (atomic on a shared cache line)
MOUNT_LOOKUP = 100  #: vfsmount_lock around mount traversal
DENTRY_CREATE = 400  #: d_alloc/d_instantiate or d_delete under the parent's lock
INODE_HASH = 200  #: inode_hash_lock on inode creation or eviction
TASKLIST = 1_500  #: write_lock_irq(&tasklist_lock) in fork and exit
ZONE = 250  #: the page allocator's zone lock
FUTEX_BUCKET = 150  #: the futex hash bucket lock
NET_STACK = 300  #: socket and protocol locks on the send/receive path
PATH_COMPONENTS = 4  #: components of a typical path walked (metadata workload: 5 deep)
#: E: mount and umount2 hold namespace_sem and mount_lock's write side around
#: attach_recursive_mnt / umount_tree: hashing or unhashing one mount and its mountpoint,
#: a few list and hash updates plus the seqlock writes, ~0.5 us, more than a lookup's
#: read side by an order of magnitude.
MOUNT_WRITE = 1_500


@dataclass(frozen=True)
class LockUse:
    lock: str
    hold: int


def _walk(extra: tuple[LockUse, ...] = ()) -> tuple[LockUse, ...]:
    return (LockUse("dcache", DENTRY_REF * PATH_COMPONENTS), LockUse("mount", MOUNT_LOOKUP),
            *extra)


_CREATE = (LockUse("dentry_parent", DENTRY_CREATE), LockUse("inode_hash", INODE_HASH))
_NET = (LockUse("net", NET_STACK),)

#: The locks each system call takes, by name (calls not listed take none modelled).
CALL_LOCKS: dict[str, tuple[LockUse, ...]] = {
    **{name: _walk() for name in ("stat", "lstat", "newfstatat", "statx", "access",
                                  "faccessat", "faccessat2", "readlink", "readlinkat",
                                  "chdir", "execve")},
    **{name: _walk(_CREATE) for name in ("open", "openat", "creat", "mkdir", "mkdirat",
                                         "unlink", "unlinkat", "rmdir", "rename", "renameat",
                                         "renameat2", "link", "linkat", "symlink",
                                         "symlinkat", "mknod", "mknodat")},
    **{name: (LockUse("tasklist", TASKLIST),) for name in ("clone", "fork", "vfork",
                                                          "exit_group", "exit", "wait4")},
    **{name: (LockUse("zone", ZONE),) for name in ("mmap", "munmap", "brk", "mremap")},
    "futex": (LockUse("futex", FUTEX_BUCKET),),
    **{name: _walk((LockUse("mount", MOUNT_WRITE),)) for name in ("mount", "umount2")},
    **{name: _NET for name in ("sendto", "recvfrom", "sendmsg", "recvmsg", "connect",
                               "accept", "accept4", "socket")},
}


#: Lock kinds whose hold time can be overridden (``--cost lock.NAME=CYCLES``). One value
#: per lock: ``lock.mount`` sets both the lookup hold (MOUNT_LOOKUP) and mount/umount2's
#: write hold (MOUNT_WRITE), since LockTable.take looks holds up by lock name.
LOCK_HOLDS: dict[str, int] = {
    "dcache": DENTRY_REF * PATH_COMPONENTS, "mount": MOUNT_LOOKUP,
    "dentry_parent": DENTRY_CREATE, "inode_hash": INODE_HASH, "tasklist": TASKLIST,
    "zone": ZONE, "futex": FUTEX_BUCKET, "net": NET_STACK,
}
HANDOFF_KEY = "handoff"


class KernelLock:
    """One lock: a SimPy resource, and the core that held it last."""

    def __init__(self, env: simpy.Environment, name: str) -> None:
        self.name = name
        self.resource = simpy.Resource(env, capacity=1)
        self.last_core = -1
        self.acquisitions = 0
        self.contended = 0
        self.users: set[str] = set()
        """Containers whose calls took this lock (the isolation experiment ``surface``)."""


class LockTable:
    """The locks of one machine, placed per architecture (shared or per container)."""

    def __init__(self, env: simpy.Environment, shared_kernel: bool,
                 handoff_cycles: int = HANDOFF_CYCLES,
                 holds: dict[str, int] | None = None) -> None:
        self.env = env
        self.shared_kernel = shared_kernel
        self.handoff_cycles = handoff_cycles
        self.holds = holds or {}  #: overridden hold times by lock kind
        self.locks: dict[tuple[str, str], KernelLock] = {}
        self.noted: dict[str, set[int]] = {}  #: call numbers already noted, per container
        self.poisoned: list[KernelLock] = []  #: locks whose holder died holding them

    def hold_forever(self, names: tuple[str, ...], container: str) -> None:
        """The holder died in the kernel: ``names`` stay held (each when next free)."""
        for name in names:
            lock = self.lock(name, container)
            self.poisoned.append(lock)
            lock.resource.request()  # granted when free, never released

    def lock(self, name: str, container: str) -> KernelLock:
        key = (name, "" if self.shared_kernel else container)
        found = self.locks.get(key)
        if found is None:
            found = self.locks[key] = KernelLock(self.env, f"{name}@{key[1] or 'kernel'}")
        return found

    def note(self, container: str, calls: list[tuple[object, int, int, int]],
             call_locks: list[tuple[LockUse, ...]]) -> None:
        """Record ``container`` as a user of the locks its slice's ``calls`` take, also
        when the machine replays them without taking any (nothing to contend with)."""
        seen = self.noted.setdefault(container, set())
        for nr in {call[1] for call in calls} - seen:
            seen.add(nr)
            for use in call_locks[nr] if nr < len(call_locks) else ():
                self.lock(use.lock, container).users.add(container)

    def take(self, uses: tuple[LockUse, ...], container: str, core: int,
             ns_per_cycle: float, waited: list[float]) -> Generator[Any, Any, int]:
        """Acquire, hold and release each lock in turn; returns the cycles spent holding.

        ``waited[0]`` accumulates the simulated ns spent waiting (spinning).
        """
        held = 0
        for use in uses:
            lock = self.lock(use.lock, container)
            lock.users.add(container)
            if lock.resource.count:  # held now (looked at before asking: a free lock is
                lock.contended += 1  # granted at once, and would count itself)
            request = lock.resource.request()
            start = self.env.now
            yield request
            waited[0] += self.env.now - start
            base = self.holds.get(use.lock, use.hold)
            hold = base + (self.handoff_cycles if lock.last_core not in (-1, core) else 0)
            yield self.env.timeout(hold * ns_per_cycle)
            lock.resource.release(request)
            lock.last_core = core
            lock.acquisitions += 1
            held += hold
        return held
