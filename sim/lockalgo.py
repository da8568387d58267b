"""Lock algorithms in simulated time: who waits, who spins, and what a hand-off costs.

A kernel version (``sim/lockversions.py``) gives each lock an algorithm; the
timing machine (``sim/kernel_locks.py``) takes locks through :class:`SimLock`, a FIFO
lock with shared (reader) and exclusive (writer) holders, and charges the
acquirer the algorithm's costs:

=============  ========  =======  =================================================
algorithm      readers   waiter   hand-off to a core other than the last holder's
=============  ========  =======  =================================================
ticket         -         spins    ``line * (1 + (waiters - 1) / 2)``: grows with waiters;
                                  with ``lock.ticket_reread``, by sockets (below)
qspinlock      -         spins    ``line``: constant (MCS queue, each waiter its own line)
cna            -         spins    ``line``, as qspinlock, but granted to a waiter on the
                                  holder's socket first (NUMA-aware; not in mainline)
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
  ``sim/lockmarkov.py`` solves the chain with the same hand-off, and
  ``tests/test_lock_markov.py`` checks the simulated lock against it.
* Ticket spinlocks by sockets (``--cost lock.ticket_reread=CYCLES``, off by default;
  :func:`ticket_handoff_sockets`): Boyd-Wickizer et al. built and checked their model
  on one 48-core machine (the paper's abstract, as stored at docslib.org/doc/2134701;
  MOSBENCH's 48-core machine was AMD Opterons, which that excerpt does not name, so not
  checked here), charging each waiter's re-read of the released line a full transfer.
  An Intel Xeon of the MOSBENCH era (Nehalem-EX,
  Westmere-EX) has an inclusive, shared L3 per socket whose core-valid bits track which
  cores hold a line (Nehalem's Xeon 5500: "the L3 cache is shared and inclusive ...
  eliminating unnecessary core snoops", HP, "The Intel processor roadmap for
  industry-standard servers", technology brief, p. 17; the same design in Intel's Xeon
  E7 v2 datasheet vol. 2, sections 2.2.2 and 3: "core valid bits", "an inclusive
  cache"). After a release
  the first waiter of a socket brings the line into that socket's L3 and the others
  re-read it there: an L3 hit, not a core-to-core transfer. A waiter on another socket
  needs the line across QPI once per socket (Westmere-EX's home agent answers a remote
  socket's read: Intel Xeon E7-8800/4800/2800 (Westmere-EX) datasheet vol. 2, section
  5.2 "Directory Assisted Snoopy"). So the new holder waits on average for half of: one L3 re-read
  per other waiter on its socket (``lock.ticket_reread``) and one ``remote`` transfer
  per other socket holding waiters (not the releaser's). ``topology.TICKET_REREAD_L3``,
  40 cycles (E), is an L3 hit on
  Nehalem, half the ~75 cycles of a read of a line modified in another core, from
  Intel's "Performance Analysis Guide for Intel Core i7 Processor and Intel Xeon 5500
  Processors" as quoted in Intel's developer forum thread 700477 ("twice as slow as a
  regular L3 hit"); the L3's latency, so an upper bound on how long one re-read holds
  the others up. David, Guerraoui and Trigonakis (SOSP 2013) measured the same shape on
  an 8-socket Westmere-EX: lock throughput within a socket flattens, and falls sharply
  once a second socket takes part (a course's summary of their figures 5 and 7, IIT
  Bombay CS744 lecture 19; the paper's tables are not in the reference corpora, so
  their cycle counts are not used). With one socket and ``lock.ticket_reread`` equal to
  ``lock.handoff`` it is Boyd-Wickizer's form.
* Queued spinlocks (kernel/locking/qspinlock.c, Linux >= 4.2) and MCS locks
  (Mellor-Crummey and Scott, 1991): each waiter spins on its own node, so a
  hand-off moves one cache line whatever the number of waiters.
* CNA, the compact NUMA-aware lock (Dice and Kogan, "Compact NUMA-aware Locks",
  EuroSys 2019; Alex Kogan's Linux series "Add NUMA-awareness to qspinlock", v6 of
  Nov 2019, patch 3/5 "locking/qspinlock: Introduce CNA into the slow path of
  qspinlock", kernel/locking/qspinlock_cna.h, and 4/5 "Introduce starvation avoidance
  into CNA"): a queued spinlock whose waiters form a main queue and a secondary one.
  On release the holder scans the main queue for the first waiter on its own socket
  (NUMA node); the waiters it passes over move, in order, to the secondary queue's
  tail, and the lock goes to that local waiter. When the main queue has no local
  waiter, the secondary queue is put back in front of the main one and its head gets
  the lock. So hand-offs stay in one socket (the cheap ``line`` of
  ``sim/topology.py``) while it has waiters. Starvation avoidance (patch 4/5): a
  hand-off passes the lock to the secondary queue's head instead with probability
  1/2^16 (INTRA_NODE_HANDOFF_PROB_ARG); the model does it deterministically after
  :data:`CNA_FLUSH_EVERY` local hand-offs in a row with a non-empty secondary queue.
  Not modelled: patch 5/5's shuffle reduction (with an empty secondary queue, scan
  only with probability 1/2^7), which the kernel test robot's 73.5% (patch 3/5 alone)
  did not have either. On a one-socket machine every waiter is local and CNA grants
  in FIFO order, as qspinlock.
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
from collections.abc import Callable
from dataclasses import dataclass

import simpy

#: CNA's starvation avoidance: the secondary queue's head gets the lock after this many
#: local hand-offs in a row (the patch: with probability 1/2^16 on each hand-off,
#: INTRA_NODE_HANDOFF_PROB_ARG = 16, so on average once in 2^16).
CNA_FLUSH_EVERY = 1 << 16

TICKET = "ticket"
QSPINLOCK = "qspinlock"
CNA = "cna"  #: a queued spinlock with NUMA-aware hand-off (Dice and Kogan; qspinlock_cna.h)
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
    numa_aware: bool = False
    """Granted to a waiter on the releasing holder's socket first (CNA)."""

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


def ticket_handoff_sockets(line_cycles: float, reread: float, remote: float,
                           same_socket: int, remote_sockets: int) -> float:
    """A ticket lock's hand-off on sockets with inclusive last-level caches: the line
    moved to the new holder, then half the re-reads queued ahead of it on average
    (``(reread * same_socket + remote * remote_sockets) / 2``): each of the
    ``same_socket`` other waiters on its socket re-reads the released line from that
    socket's L3 (``reread``), and each of the ``remote_sockets`` other sockets with
    waiters (the releaser's aside) first brings it across the interconnect (``remote``).
    With one socket and ``reread`` equal to ``line_cycles`` this is
    :meth:`Algorithm.handoff`'s Boyd-Wickizer form."""
    return line_cycles + (reread * same_socket + remote * remote_sockets) / 2


ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (
    Algorithm(TICKET, grows_with_waiters=True),
    Algorithm(QSPINLOCK),
    Algorithm(CNA, numa_aware=True),
    Algorithm(RWLOCK, readers_share=True),
    Algorithm(MUTEX, sleeps=True),
    Algorithm(RWSEM, readers_share=True, sleeps=True),
    Algorithm(MUTEX_SPIN, sleeps=True, spins_on_owner=True),
    Algorithm(RWSEM_SPIN, readers_share=True, sleeps=True, spins_on_owner=True),
    Algorithm(ATOMIC),
    Algorithm(RCU, readers_share=True, free=True),
)}


class SimLock:
    """One lock instance: FIFO grants, shared holders together, exclusive alone (a NUMA-aware
    lock, :attr:`socket_of` set, grants to the releasing holder's socket first: CNA)."""

    def __init__(self, env: simpy.Environment, name: str) -> None:
        self.env = env
        self.name = name
        self.readers = 0
        self.writer = False
        #: Waiters in grant order: (shared, granted event, core it waits on).
        self.queue: deque[tuple[bool, simpy.Event, int]] = deque()
        self.last_core = -1
        self.acquisitions = 0
        self.contended = 0
        self.users: set[str] = set()
        """Containers whose calls took this lock (the isolation experiment ``surface``)."""
        self.owner: weakref.ref[object] | None = None
        """The kernel object this lock lives on (None: a global lock or a keyed bucket)."""
        self.socket_of: Callable[[int], int] | None = None
        """A core's socket, for a NUMA-aware lock (CNA); None: FIFO."""
        #: CNA's secondary queue: remote waiters passed over, in the order they were.
        self.secondary: deque[tuple[bool, simpy.Event, int]] = deque()
        self.local_streak = 0  #: CNA: local hand-offs in a row with waiters passed over

    def busy(self, shared: bool) -> bool:
        return (self.writer or bool(self.queue) or bool(self.secondary)
                or (not shared and self.readers > 0))

    def waiting(self) -> int:
        """Cores waiting for this lock."""
        return len(self.queue) + len(self.secondary)

    def waiting_cores(self) -> list[int]:
        """The cores waiting for this lock (-1: unknown), main queue then secondary."""
        return [core for _shared, _event, core in (*self.queue, *self.secondary)]

    def acquire(self, shared: bool, core: int = -1) -> simpy.Event:
        """An event granted when this lock is held (at once when free), by ``core``."""
        event = self.env.event()
        if not self.busy(shared):
            self._grant(shared, event)
        else:
            self.contended += 1
            self.queue.append((shared, event, core))
        return event

    def _grant(self, shared: bool, event: simpy.Event) -> None:
        if shared:
            self.readers += 1
        else:
            self.writer = True
        event.succeed()

    def release(self, shared: bool, core: int = -1) -> None:
        """Release a hold taken on ``core`` and grant the next waiter(s)."""
        if shared:
            self.readers -= 1
        else:
            self.writer = False
        if self.socket_of is not None and not self.writer and not self.readers:
            self._cna_order(self.socket_of(core))
        queue = self.queue
        while queue and not self.writer:
            want_shared, event, _core = queue[0]
            if not want_shared and self.readers:
                break
            queue.popleft()
            self._grant(want_shared, event)
            if not want_shared:
                break

    def _cna_order(self, socket: int) -> None:
        """CNA's hand-off (cna_pass_lock): put the waiter to grant next at the main queue's
        head. The first waiter on ``socket`` (the releasing holder's) if the main queue
        has one, the waiters before it moving to the secondary queue's tail; else the
        secondary queue goes back in front of the main queue. Every CNA_FLUSH_EVERY local
        hand-offs in a row, the secondary queue goes first (starvation avoidance)."""
        main, secondary, socket_of = self.queue, self.secondary, self.socket_of
        assert socket_of is not None
        if secondary and self.local_streak >= CNA_FLUSH_EVERY:
            self._cna_splice()
            return
        for index, (_shared, _event, core) in enumerate(main):
            if socket_of(core) == socket:
                for _ in range(index):
                    secondary.append(main.popleft())
                self.local_streak = self.local_streak + 1 if secondary else 0
                return
        self._cna_splice()

    def _cna_splice(self) -> None:
        """The secondary queue back in front of the main queue (its head is granted next)."""
        self.secondary.extend(self.queue)
        self.queue, self.secondary = self.secondary, deque()
        self.local_streak = 0

    def hold_forever(self) -> None:
        """The holder died holding it: granted to nobody ever again (when next free)."""
        self.queue.append((False, self.env.event(), -1))
        if not self.writer and not self.readers:
            self.queue.popleft()
            self.writer = True
