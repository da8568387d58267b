"""File leases (fs/locks.c: generic_setlease, __break_lease, fcntl_getlease).

A lease lets the process holding an open file hear, by a signal, that another
open of the same file is coming, and finish what it does with it first. A read
lease (F_RDLCK) is granted only while nobody has the file open for writing; a
write lease (F_WRLCK) only while the file has no other open file description at
all (check_conflicting_open). Taking a lease makes the caller's process the
file's owner (:mod:`cofferos.coffers.fown`). Leases live in the inode's lock
context next to its locks, belong to the open file description, and go with it.

**Breaking.** An open that conflicts (any open against a write lease, an open
for writing against a read lease) starts a break: each conflicting lease is
marked to become F_UNLCK (an opener for writing) or F_RDLCK (a reader against a
write lease), its owner is sent SIGIO or its F_SETSIG signal with POLL_MSG, and
F_GETLEASE already answers the target type. An O_NONBLOCK opener fails with
EWOULDBLOCK at once; any other sleeps until the holder gives the lease up (or
downgrades it) with F_SETLEASE, or until ``/proc/sys/fs/lease-break-time``
(:data:`LEASE_BREAK_TIME_NS`) has passed, when the kernel does it for the holder
(time_out_leases).

truncate(2) breaks leases as an open for writing does (vfs_truncate).
Simplifications, documented in docs/kernel.md: the break of an open runs after
open(2) has applied O_TRUNC, where Linux breaks first; no NFS delegations.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.file_locks import F_RDLCK, F_UNLCK, F_WRLCK, locks_inode_context
from cofferos.coffers.files import OpenFile
from cofferos.coffers.fown import F_OWNER_PID, POLL_MSG, FileOwner, send_sigio
from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.wait import Block

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

#: /proc/sys/fs/lease-break-time's default: 45 seconds to give a lease up.
LEASE_BREAK_TIME_NS = 45 * 1_000_000_000
LEASE_TYPES = (F_RDLCK, F_WRLCK, F_UNLCK)


@dataclass(eq=False)
class Lease:
    """One lease (a ``struct file_lease``) held through open file ``file``."""

    file: OpenFile
    type: int  #: F_RDLCK or F_WRLCK
    fd: int  #: the descriptor it was taken on: the signal's si_fd
    target: int | None = None  #: while breaking: F_UNLCK or F_RDLCK
    deadline_ns: int = 0  #: while breaking: when the kernel breaks it itself


def _open_counts(task: Task, inode: Inode, file: OpenFile) -> tuple[int, int]:
    """Open file descriptions of ``inode`` other than ``file``: (for writing, read-only)
    - Linux's i_writecount and i_readcount, found by walking the coffer's tables."""
    seen: set[int] = set()
    writers = readers = 0
    for other in task.coffer.tasks.values():
        if not other.alive or id(other.files) in seen:
            continue
        seen.add(id(other.files))
        for entry in other.files.fds.values():
            opened = entry.file
            if opened is file or opened.inode is not inode or id(opened) in seen:
                continue
            seen.add(id(opened))
            if opened.flags & os.O_PATH:
                continue
            if opened.flags & os.O_ACCMODE == os.O_RDONLY:
                readers += 1
            else:
                writers += 1
    return writers, readers


def fcntl_setlease(task: Task, file: OpenFile, fd: int, arg: int) -> int:
    """F_SETLEASE (fcntl_setlease / generic_setlease)."""
    inode = file.inode
    if arg not in LEASE_TYPES:
        return -errno.EINVAL
    if inode is None or not inode.is_reg():
        return -errno.EINVAL
    if task.creds.fsuid != inode.uid and task.creds.fsuid != 0:
        return -errno.EACCES  # the file's owner, or CAP_LEASE
    ctx = locks_inode_context(inode)
    _time_out(ctx.leases, task.coffer.monotonic_ns())
    mine = next((lease for lease in ctx.leases if lease.file is file), None)
    if arg == F_UNLCK:  # generic_delete_lease: EAGAIN when there is none to drop
        if mine is None:
            return -errno.EAGAIN
        _delete(ctx.leases, mine)
        ctx.waiters.wake_all()
        return 0
    writers, readers = _open_counts(task, inode, file)
    own_writer = file.flags & os.O_ACCMODE != os.O_RDONLY
    if arg == F_RDLCK and (writers or own_writer):
        return -errno.EAGAIN
    if arg == F_WRLCK and (writers or readers):
        return -errno.EAGAIN
    for lease in ctx.leases:
        if lease is not mine and (arg == F_WRLCK or lease.target == F_UNLCK):
            return -errno.EAGAIN  # another's lease, or one being given up (FL_UNLOCK_PENDING)
    if mine is None:
        ctx.leases.append(Lease(file, arg, fd))
    else:  # lease_modify: a downgrade ends a pending downgrade, never a pending unlock
        mine.type, mine.fd = arg, fd
        if arg == F_RDLCK and mine.target == F_RDLCK:
            mine.target = None
        ctx.waiters.wake_all()
    # do_fcntl_add_lease: the caller's process becomes the owner, the signal stays.
    signum = file.owner.signum if file.owner is not None else 0
    file.owner = FileOwner(F_OWNER_PID, task.tgid, signum)
    return 0


def fcntl_getlease(task: Task, file: OpenFile) -> int:
    """F_GETLEASE: this file's lease, or the type a break in progress will leave."""
    inode = file.inode
    if inode is None or inode.flctx is None:
        return F_UNLCK
    _time_out(inode.flctx.leases, task.coffer.monotonic_ns())
    for lease in inode.flctx.leases:
        if lease.file is file:
            return lease.target if lease.target is not None else lease.type
    return F_UNLCK


def _delete(leases: list[Lease], lease: Lease) -> None:
    """Drop ``lease`` (lease_modify with F_UNLCK): the file loses its owner and its
    F_SETSIG signal too, so a later lease signals with plain SIGIO unless set again."""
    leases.remove(lease)
    lease.file.owner = FileOwner(F_OWNER_PID, 0, 0)


def _time_out(leases: list[Lease], now_ns: int) -> None:
    """Apply the breaks whose time is up (time_out_leases)."""
    for lease in list(leases):
        if lease.target is None or lease.deadline_ns > now_ns:
            continue
        if lease.target == F_UNLCK:
            _delete(leases, lease)
        else:
            lease.type, lease.target = lease.target, None


def break_lease(task: Task, inode: Inode, flags: int, file: OpenFile | None = None) -> None:
    """An open of ``inode`` with ``flags`` (as ``file``), or a truncate (O_WRONLY): break
    the leases it conflicts with (__break_lease), and wait for them or fail."""
    ctx = inode.flctx
    if ctx is None or not ctx.leases:
        return
    want_write = flags & os.O_ACCMODE != os.O_RDONLY
    now = task.coffer.monotonic_ns()
    _time_out(ctx.leases, now)

    def conflicting() -> list[Lease]:
        return [lease for lease in ctx.leases
                if lease.file is not file and (want_write or lease.type == F_WRLCK)]

    if not conflicting():
        return
    for lease in conflicting():
        if lease.target is not None and (lease.target == F_UNLCK or not want_write):
            continue  # already being broken at least this far
        lease.target = F_UNLCK if want_write else F_RDLCK
        lease.deadline_ns = now + LEASE_BREAK_TIME_NS
        if lease.file.owner is not None:
            send_sigio(task.coffer, lease.file.owner, lease.fd, POLL_MSG)
    if flags & os.O_NONBLOCK:
        raise FsError(errno.EWOULDBLOCK, "lease being broken")
    deadline = min(lease.deadline_ns for lease in conflicting())
    raise Block([ctx.waiters], deadline)
