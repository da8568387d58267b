"""File locks (fs/locks.c): flock(2) locks and POSIX record locks, kept per inode.

Every inode that has ever been locked carries a :class:`FileLockContext` (Linux's
``i_flctx``, see :attr:`~cofferos.coffers.fs.Inode.flctx`) holding two lists:

* **flock locks** - whole-file, shared or exclusive, owned by an *open file
  description*: a ``dup``'ed or inherited descriptor shares the lock, and it goes
  away when the last descriptor of that open file is closed
  (:func:`locks_remove_file`, called from the open file's ``release``);
* **POSIX record locks** (fcntl F_SETLK) - byte ranges, read or write, owned by
  the *descriptor table* of the process (Linux's ``fl_owner = current->files``):
  not inherited by fork, and all of the owner's locks on an inode are dropped
  when the owner closes *any* descriptor of that inode (:func:`locks_remove_posix`,
  called from :class:`~cofferos.coffers.fdtable.FdTable` on every close, so also at
  exit and exec). Open-file-description locks (F_OFD_SETLK) are the same ranges
  owned by the open file instead, and released with it.

Owners are compared by identity, never by value. A conflicting request either
fails (the caller turns that into EAGAIN) or sleeps on the context's wait queue,
which is woken whenever a lock on the inode is dropped or weakened.

**Deadlocks.** Before a POSIX owner sleeps in F_SETLKW, :func:`posix_locks_deadlock`
follows the chain "the holder of the lock I wait for waits for a lock held by
..." as Linux's posix_locks_deadlock does, for at most MAX_DEADLK_ITERATIONS
steps; if it comes back to the caller, the request fails with EDEADLK. A
sleeping owner's request is kept in :class:`LockWait` on its descriptor table
(Linux's blocked_hash); an entry whose task no longer waits (woken by a signal,
dead) is ignored. OFD locks are not owned by a process and are never checked,
as in Linux.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from cofferos.coffers.wait import WOKEN, WaitQueue

if TYPE_CHECKING:
    from cofferos.coffers.fs import Inode
    from cofferos.coffers.leases import Lease
    from cofferos.coffers.task import Task

# Lock types (include/uapi/asm-generic/fcntl.h); flock(2) maps LOCK_SH and LOCK_EX to them.
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
#: The last byte a lock can cover: a range "to end of file" ends here (OFFSET_MAX).
OFFSET_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class FileLock:
    """One held lock (``struct file_lock``): [start, end] inclusive, by ``owner``."""

    owner: object  #: an FdTable (POSIX) or an OpenFile (flock, OFD)
    pid: int  #: the process that took it, as F_GETLK reports (-1 for OFD locks)
    type: int  #: F_RDLCK or F_WRLCK
    start: int = 0
    end: int = OFFSET_MAX

    def overlaps(self, other: FileLock) -> bool:
        return self.start <= other.end and other.start <= self.end

    def conflicts(self, other: FileLock) -> bool:
        """Another owner's lock that cannot coexist with this one."""
        return (self.owner is not other.owner and self.overlaps(other)
                and F_WRLCK in (self.type, other.type))


@dataclass(eq=False)
class FileLockContext:
    """The locks on one inode (``struct file_lock_context``) and who waits for them."""

    flocks: list[FileLock] = field(default_factory=list)
    posix: list[FileLock] = field(default_factory=list)
    leases: list[Lease] = field(default_factory=list)  #: :mod:`cofferos.coffers.leases`
    waiters: WaitQueue = field(default_factory=WaitQueue)

    # -- flock(2) ---------------------------------------------------------------------
    def flock_set(self, request: FileLock) -> bool:
        """Take, convert or (F_UNLCK) drop ``request.owner``'s lock; False on conflict.

        As flock_lock_inode: a conversion drops the old lock first, so a failed
        upgrade leaves the owner with no lock at all."""
        mine = next((lock for lock in self.flocks if lock.owner is request.owner), None)
        if mine is not None:
            if mine.type == request.type:
                return True
            self.flocks.remove(mine)
            self.waiters.wake_all()
        if request.type == F_UNLCK:
            return True
        if any(lock.conflicts(request) for lock in self.flocks):
            return False
        self.flocks.append(request)
        return True

    # -- POSIX record locks -----------------------------------------------------------
    def posix_test(self, request: FileLock) -> FileLock | None:
        """The first lock of another owner that conflicts with ``request`` (F_GETLK)."""
        return next((lock for lock in self.posix if lock.conflicts(request)), None)

    def posix_set(self, request: FileLock) -> bool:
        """Lock, relock or (F_UNLCK) unlock a range; False, changing nothing, on conflict."""
        if request.type != F_UNLCK and self.posix_test(request) is not None:
            return False
        owner = request.owner
        kept: list[FileLock] = []
        weakened = False
        for lock in self.posix:
            if lock.owner is not owner or not lock.overlaps(request):
                kept.append(lock)
                continue
            weakened = weakened or lock.type == F_WRLCK or request.type == F_UNLCK
            if lock.start < request.start:
                kept.append(replace(lock, end=request.start - 1))
            if lock.end > request.end:
                kept.append(replace(lock, start=request.end + 1))
        if request.type != F_UNLCK:
            kept.append(request)
        self.posix = _coalesce(kept, owner)
        if weakened:
            self.waiters.wake_all()
        return True

    def posix_remove_owner(self, owner: object) -> None:
        before = len(self.posix)
        self.posix = [lock for lock in self.posix if lock.owner is not owner]
        if len(self.posix) != before:
            self.waiters.wake_all()

    def remove_owner(self, owner: object) -> None:
        """Drop every lock, flock or record, and every lease that ``owner`` holds here."""
        before = len(self.flocks) + len(self.leases)
        self.flocks = [lock for lock in self.flocks if lock.owner is not owner]
        self.leases = [lease for lease in self.leases if lease.file is not owner]
        if len(self.flocks) + len(self.leases) != before:
            self.waiters.wake_all()
        self.posix_remove_owner(owner)


def _coalesce(locks: list[FileLock], owner: object) -> list[FileLock]:
    """Merge ``owner``'s touching or overlapping locks of one type, as Linux does."""
    others = [lock for lock in locks if lock.owner is not owner]
    merged: list[FileLock] = []
    for lock in sorted((lock for lock in locks if lock.owner is owner), key=lambda k: k.start):
        last = merged[-1] if merged else None
        if last is not None and last.type == lock.type and last.end >= lock.start - 1:
            merged[-1] = replace(last, end=max(last.end, lock.end))
        else:
            merged.append(lock)
    return others + merged


#: How many "waits for" steps the detector follows before it gives up (fs/locks.c).
MAX_DEADLK_ITERATIONS = 10


@dataclass(frozen=True)
class LockWait:
    """An owner's F_SETLKW request asleep on ``ctx`` (an entry of Linux's blocked_hash)."""

    task: Task
    ctx: FileLockContext
    request: FileLock

    def current(self) -> bool:
        """Whether the task still waits: asleep on the queue, or woken and about to retry."""
        task = self.task
        if not task.alive:
            return False
        return task in self.ctx.waiters.waiters or (task.runnable and task.wakeup == WOKEN)


def what_owner_is_waiting_for(owner: object) -> FileLock | None:
    """The lock that blocks the request ``owner`` sleeps for, if it sleeps."""
    wait = getattr(owner, "lock_wait", None)
    if not isinstance(wait, LockWait) or not wait.current():
        return None
    return wait.ctx.posix_test(wait.request)


def posix_locks_deadlock(caller: object, blocker: FileLock) -> bool:
    """Would ``caller`` sleeping on ``blocker`` close a cycle of waiting owners?"""
    for _ in range(MAX_DEADLK_ITERATIONS + 1):
        found = what_owner_is_waiting_for(blocker.owner)
        if found is None:
            return False
        if found.owner is caller:
            return True
        blocker = found
    return False


def locks_inode_context(inode: Inode) -> FileLockContext:
    """The inode's lock context, made on first use (locks_get_lock_context)."""
    if inode.flctx is None:
        inode.flctx = FileLockContext()
    return inode.flctx


def locks_remove_posix(inode: Inode | None, owner: object) -> None:
    """A descriptor of ``inode`` was closed by ``owner`` (a descriptor table): drop
    the owner's record locks on the inode, whichever descriptor took them."""
    if inode is not None and inode.flctx is not None:
        inode.flctx.posix_remove_owner(owner)


def locks_remove_file(inode: Inode | None, file: object) -> None:
    """The last descriptor of open file ``file`` went: drop its flock and OFD locks."""
    if inode is not None and inode.flctx is not None:
        inode.flctx.remove_owner(file)
