"""Lock algorithms in simulated time: who waits, who spins, and what a hand-off costs.

A kernel version (``sim/lockversions.py``) gives each lock an algorithm; the
timing machine (``sim/kernel_locks.py``) takes locks through :class:`SimLock`, a FIFO
lock with shared (reader) and exclusive (writer) holders, and charges the
acquirer the algorithm's costs:

=============  ========  =======  =================================================
algorithm      readers   waiter   hand-off to a core other than the last holder's
=============  ========  =======  =================================================
ticket         -         spins    ``line * (1 + (waiters - 1) / 2)``: grows with waiters
qspinlock      -         spins    ``line``: constant (MCS queue, each waiter its own line)
rwlock         share     spins    ``line`` (queued rwlock)
mutex          -         sleeps   ``line``, and a waiter that slept pays switch + wake-up
rwsem          share     sleeps   ``line``, as mutex
atomic         -         spins    ``line``: the cache line of a refcount or lockref moves
rcu            free      never    none: a sequence read (RCU-walk, seqlock readers)
=============  ========  =======  =================================================

Sources:

* Ticket spinlocks: Boyd-Wickizer, Kaashoek, Morris and Zeldovich, "Non-scalable
  locks are dangerous", Linux Symposium 2012. Their Markov model has service time
  growing linearly in the number of waiting cores ``k``: on a release every waiter's
  copy of the ticket line is invalidated and the waiters re-read it one after the
  other; the next holder's read comes on average after half of them. We use that
  closed form, ``line * (1 + (k - 1) / 2)``, per hand-off, rather than solving the
  chain. It is what makes throughput *fall* once a lock saturates (collapse).
* Queued spinlocks (kernel/locking/qspinlock.c, Linux >= 4.2) and MCS locks
  (Mellor-Crummey and Scott, 1991): each waiter spins on its own node, so a
  hand-off moves one cache line whatever the number of waiters.
* Mutexes and rw-semaphores (kernel/locking/mutex.c, rwsem.c): a waiter sleeps; the
  core is free meanwhile, and the waiter pays a context switch and a wake-up. The
  optimistic spinning of both (osq_lock while the owner runs) is not modelled.
  The machine keeps the waiter's core reserved while it sleeps (no other thread
  is put there); its wait is reported as idle, not as lock wait.
* RCU and seqlock read sides (Documentation/RCU, include/linux/seqlock.h): a
  reader takes nothing; retries after a concurrent writer are not modelled.
* Atomic reference counts and lockref (lib/lockref.c): every operation needs the
  line exclusive, so operations on one hot object serialize on the line and each
  moves it when another core touched it last.
"""

from __future__ import annotations

import weakref
from collections import deque
from dataclasses import dataclass

import simpy

TICKET = "ticket"
QSPINLOCK = "qspinlock"
RWLOCK = "rwlock"
MUTEX = "mutex"
RWSEM = "rwsem"
ATOMIC = "atomic"
RCU = "rcu"


@dataclass(frozen=True)
class Algorithm:
    """How one kind of lock behaves. Each field: meaning."""

    name: str
    readers_share: bool = False
    """Shared acquisitions hold the lock together (rwlock, rwsem)."""
    sleeps: bool = False
    """A waiter sleeps (the core is free) and pays a context switch and a wake-up."""
    free: bool = False
    """Readers take nothing: no wait and no hand-off (RCU, seqlock read side)."""
    grows_with_waiters: bool = False
    """The hand-off cost grows with the number of waiters (ticket spinlock)."""

    def handoff(self, line_cycles: float, waiters: int) -> float:
        """Cycles to pass the lock to a core other than the last holder's, with
        ``waiters`` cores waiting when it is granted (the new holder included)."""
        if self.grows_with_waiters and waiters > 1:
            return line_cycles * (1 + (waiters - 1) / 2)
        return line_cycles


ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (
    Algorithm(TICKET, grows_with_waiters=True),
    Algorithm(QSPINLOCK),
    Algorithm(RWLOCK, readers_share=True),
    Algorithm(MUTEX, sleeps=True),
    Algorithm(RWSEM, readers_share=True, sleeps=True),
    Algorithm(ATOMIC),
    Algorithm(RCU, readers_share=True, free=True),
)}


class SimLock:
    """One lock instance: FIFO grants, shared holders together, exclusive alone."""

    def __init__(self, env: simpy.Environment, name: str) -> None:
        self.env = env
        self.name = name
        self.readers = 0
        self.writer = False
        self.queue: deque[tuple[bool, simpy.Event]] = deque()
        self.last_core = -1
        self.acquisitions = 0
        self.contended = 0
        self.users: set[str] = set()
        """Containers whose calls took this lock (the isolation experiment ``surface``)."""
        self.owner: weakref.ref[object] | None = None
        """The kernel object this lock lives on (None: a global lock or a keyed bucket)."""

    def busy(self, shared: bool) -> bool:
        return self.writer or bool(self.queue) or (not shared and self.readers > 0)

    def acquire(self, shared: bool) -> simpy.Event:
        """An event granted when this lock is held (at once when free)."""
        event = self.env.event()
        if not self.busy(shared):
            self._grant(shared, event)
        else:
            self.contended += 1
            self.queue.append((shared, event))
        return event

    def _grant(self, shared: bool, event: simpy.Event) -> None:
        if shared:
            self.readers += 1
        else:
            self.writer = True
        event.succeed()

    def release(self, shared: bool) -> None:
        if shared:
            self.readers -= 1
        else:
            self.writer = False
        queue = self.queue
        while queue and not self.writer:
            want_shared, event = queue[0]
            if not want_shared and self.readers:
                break
            queue.popleft()
            self._grant(want_shared, event)
            if not want_shared:
                break

    def hold_forever(self) -> None:
        """The holder died holding it: granted to nobody ever again (when next free)."""
        self.queue.append((False, self.env.event()))
        if not self.writer and not self.readers:
            self.queue.popleft()
            self.writer = True
