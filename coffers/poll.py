"""Waiting for readiness: the loop poll, select and epoll share (fs/select.c's do_poll).

Every open file answers :meth:`~cofferos.coffers.files.OpenFile.poll_mask` (what
it is ready for now), :meth:`~cofferos.coffers.files.OpenFile.wait_queues` (the
queues woken when that may change) and
:meth:`~cofferos.coffers.files.OpenFile.deadline_ns` (when it changes by itself
on the coffer's clock: a timerfd's next expiry). :func:`do_poll` is one pass of
Linux's wait loop in the retry model of :mod:`cofferos.coffers.wait`:

1. on the first attempt the timeout becomes a deadline on the coffer's
   monotonic clock, kept on the task across retries (as nanosleep keeps
   ``task.sleep_deadline``), saturated as a timespec64 is; a deadline past
   KTIME_MAX never passes (:mod:`cofferos.coffers.ktime`);
2. the caller's ``scan`` computes readiness; if anything is ready, or the
   deadline has passed, the call returns;
3. otherwise the task sleeps on every file's queues until the earliest of its
   own deadline and the files' deadlines, and the call runs again when woken.

A temporary signal mask (ppoll, pselect6, epoll_pwait) is installed for the
wait with ``task.saved_blocked`` holding the caller's mask, as rt_sigsuspend
does: a signal that interrupts the wait is delivered with the temporary mask in
force and the handler's frame restores the caller's (the signal code returns
-EINTR: these calls are never restarted); a call that returns normally puts the
caller's mask back itself.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from cofferos.coffers.files import DEV_RANDOM, DEV_URANDOM, DeviceFile, InodeFile, OpenFile
from cofferos.coffers.ktime import timespec_add_safe
from cofferos.coffers.signals import UNBLOCKABLE, bit
from cofferos.coffers.wait import Block, WaitQueue

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

# include/uapi/asm-generic/poll.h (the EPOLL* bits of eventpoll.h have the same values)
POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND = 0x40, 0x80, 0x100, 0x200
POLLRDHUP = 0x2000
MASK64 = (1 << 64) - 1
#: Kept on the task across the retries of one waiting call.
DEADLINE_ATTR = "poll_deadline"


def file_poll(file: OpenFile) -> int:
    """``vfs_poll``: the file's readiness, with POLLRDNORM/POLLWRNORM beside POLLIN/POLLOUT
    as Linux's pipes, sockets, ttys and files without a poll method report them."""
    mask = file.poll_mask()
    if mask & POLLIN:
        mask |= POLLRDNORM
    if mask & POLLOUT:
        mask |= POLLWRNORM
    return mask


def can_poll(file: OpenFile) -> bool:
    """``file_can_poll``: false for files whose driver has no poll method (epoll's EPERM):
    regular files and directories, and the memory devices other than the random ones."""
    if file.flags & os.O_PATH or isinstance(file, InodeFile):
        return False
    if isinstance(file, DeviceFile):
        rdev = file.inode.rdev
        return (os.major(rdev), os.minor(rdev)) in (DEV_RANDOM, DEV_URANDOM)
    return True


def wait_queues_of(files: Iterable[OpenFile]) -> list[WaitQueue]:
    """Every queue of every file, each once, in a stable order."""
    queues: dict[int, WaitQueue] = {}
    for file in files:
        for queue in file.wait_queues():
            if isinstance(queue, WaitQueue):
                queues.setdefault(id(queue), queue)
    return list(queues.values())


def earliest_deadline(files: Iterable[OpenFile], deadline: int | None) -> int | None:
    """The earliest of ``deadline`` and the files' own deadlines (None: no deadline)."""
    deadlines = [d for d in (file.deadline_ns() for file in files) if d is not None]
    if deadline is not None:
        deadlines.append(deadline)
    return min(deadlines) if deadlines else None


def poll_deadline(task: Task) -> int | None:
    """The deadline of the waiting call ``task`` is in (None: no timeout)."""
    deadline: int | None = getattr(task, DEADLINE_ATTR, None)
    return deadline


def remaining_ns(task: Task) -> int:
    """Time left before the call's deadline, never negative (for the timeout write-back)."""
    deadline = poll_deadline(task)
    return 0 if deadline is None else max(deadline - task.coffer.monotonic_ns(), 0)


# -- the temporary signal mask ---------------------------------------------------------
def set_sigmask(task: Task, mask: int | None) -> None:
    """``set_user_sigmask``: wait with ``mask`` blocked, the caller's mask saved."""
    if mask is None:
        return
    if task.saved_blocked is None:  # a retry keeps the mask saved by the first attempt
        task.saved_blocked = task.blocked
    task.blocked = mask & ~UNBLOCKABLE & MASK64


def restore_sigmask(task: Task, mask: int | None) -> None:
    """``restore_saved_sigmask``: the call returns normally, the caller's mask is back."""
    if mask is not None and task.saved_blocked is not None:
        task.blocked, task.saved_blocked = task.saved_blocked, None


def signal_interrupts(task: Task) -> bool:
    """A pending signal the wait's mask lets through and that is not ignored."""
    pending = task.pending.mask | task.process.pending.mask
    allowed = pending & ((~task.blocked & MASK64) | UNBLOCKABLE)
    handlers = task.process.handlers
    return any(allowed & bit(sig) and not handlers.ignores(sig)
               for sig in range(1, allowed.bit_length() + 1))


# -- the wait loop -----------------------------------------------------------------------
#: ``scan()`` returns (how many are ready, the files whose queues to sleep on).
Scan = Callable[[], tuple[int, list[OpenFile]]]


def do_poll(task: Task, timeout_ns: int | None, scan: Scan, sigmask: int | None = None) -> int:
    """One attempt of a waiting call: the ready count, 0 on timeout, or -EINTR.

    ``timeout_ns`` None waits without limit, 0 only looks. Raises
    :class:`~cofferos.coffers.wait.Block` to sleep; the call is retried when woken.
    """
    now = task.coffer.monotonic_ns()
    if task.wakeup is None:  # the first attempt: the timeout starts now
        setattr(task, DEADLINE_ATTR,
                None if timeout_ns is None else timespec_add_safe(now, timeout_ns))
    deadline = poll_deadline(task)
    set_sigmask(task, sigmask)
    ready, files = scan()
    if ready or (deadline is not None and now >= deadline):
        restore_sigmask(task, sigmask)
        return ready
    if sigmask is not None and signal_interrupts(task):
        return -errno.EINTR  # delivering the signal restores the saved mask
    raise Block(wait_queues_of(files), earliest_deadline(files, deadline))
