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
mutex_spin     -         spins*   ``line``: a mutex with optimistic spinning (*: while the
                                  owner runs; else it sleeps, as mutex)
rwsem_spin     share     spins*   ``line``: an rwsem whose writers spin on a running writer
                                  owner; readers and writers behind readers sleep
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
  core is free meanwhile, and the waiter pays a context switch and a wake-up.
  The machine keeps the waiter's core reserved while it sleeps (no other thread
  is put there); its wait is reported as idle, not as lock wait.
* Optimistic spinning (``mutex_spin``, ``rwsem_spin``): mutexes since 2.6.30
  (CONFIG_MUTEX_SPIN_ON_OWNER, "adaptive spinning", Peter Zijlstra; kernel/mutex.c,
  later kernel/locking/mutex.c mutex_optimistic_spin) and rw-semaphores' writers since
  3.10 (Tim Chen, "rwsem: do optimistic spinning for writer lock acquisition";
  rwsem_optimistic_spin in kernel/locking/rwsem.c) do not sleep while the lock's owner
  is running on a CPU (mutex_spin_on_owner / rwsem_spin_on_owner test owner->on_cpu):
  the waiters queue on the lock's osq (kernel/locking/osq_lock.c, an MCS queue, each
  spinner on its own per-CPU node), the queue's head spins on the owner field, and on
  release takes the lock with one cmpxchg. So a spinning waiter's core is busy (its
  wait is lock wait, spinning, as a spinlock's), it pays no context switch or wake-up,
  and the hand-off moves the lock word's line once, whatever the number of spinners
  (the MCS property, as qspinlock). A waiter sleeps, as before, when the owner is not
  running. In this model a holder always runs through its hold (holds are work on its
  core, never preempted), so the owner runs whenever a writer holds the lock: mutex
  waiters always spin, rwsem writers spin behind a writer. Not modelled: a writer's
  time-bounded spin on a reader-owned rwsem (rwsem_rspin_threshold, 5.x), during which
  the model's writer sleeps; readers' optimistic spinning (5.3 to 5.10, removed by
  "locking/rwsem: Remove reader optimistic spinning"), so readers sleep; a spinner
  giving up on need_resched (the validation runs one worker per core); and
  lock_sock, which has no optimistic spinning (net/core/sock.c __lock_sock sleeps) and
  stays ``mutex``.
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
MUTEX_SPIN = "mutex_spin"  #: a mutex with optimistic spinning (Linux >= 2.6.30)
RWSEM_SPIN = "rwsem_spin"  #: an rw-semaphore whose writers spin optimistically (>= 3.10)
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
    spins_on_owner: bool = False
    """A sleeping lock whose exclusive waiter spins instead while a running writer owns
    it (optimistic spinning: osq_lock, then mutex_spin_on_owner / rwsem_spin_on_owner)."""

    def waiter_sleeps(self, shared: bool, writer_owned: bool) -> bool:
        """Whether a waiter that found the lock taken sleeps (else it spins): a spinlock's
        never does; a sleeping lock's does unless it spins on a running writer owner
        (``writer_owned``: the lock was held exclusive when the waiter arrived; holders
        always run in this model)."""
        if not self.sleeps:
            return False
        return not (self.spins_on_owner and not shared and writer_owned)

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
    Algorithm(MUTEX_SPIN, sleeps=True, spins_on_owner=True),
    Algorithm(RWSEM_SPIN, readers_share=True, sleeps=True, spins_on_owner=True),
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
