"""Blocking in the kernel: wait queues, and how a system call goes to sleep.

A handler that cannot finish now (an empty pipe, a futex, a child not yet
exited) raises :class:`Block`, naming the wait queues that will wake it and,
optionally, a deadline on the coffer's clock. The dispatcher then puts the task
to sleep *with the system call not yet done*: the task's instruction pointer is
moved back onto the ``SYSCALL`` instruction (and that instruction un-counted),
so when the task is woken it executes the same call again, with the same
registers, and the handler re-checks its condition. This is how Linux restarts
calls too (``-ERESTARTSYS``); it keeps every handler a simple check-then-block
function with no saved continuation.

On the retry a handler can see why it was woken in ``task.wakeup``:
:data:`WOKEN` (an event on a queue), :data:`TIMED_OUT` (the deadline passed),
or ``None`` (first attempt). A signal does not retry the call: the signal code
returns ``-EINTR`` or restarts it, as ``SA_RESTART`` says.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from cofferos.coffers.ktime import finite_deadline

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

WOKEN = "woken"
TIMED_OUT = "timed-out"
#: 0f 05. Inside Unicorn's SYSCALL hook RIP still points at the instruction; the
#: engine adds this length when the hook returns. Kernel code that moves RIP from
#: inside the hook (block, clone, signal delivery, sigreturn) accounts for it.
SYSCALL_INSN_LENGTH = 2


class WaitQueue:
    """Tasks sleeping until something happens (``wait_queue_head_t``)."""

    __slots__ = ("waiters",)

    def __init__(self) -> None:
        self.waiters: list[Task] = []

    def add(self, task: Task) -> None:
        if task not in self.waiters:
            self.waiters.append(task)

    def remove(self, task: Task) -> None:
        if task in self.waiters:
            self.waiters.remove(task)

    def wake_all(self) -> int:
        # Every pipe read and write wakes the other side: most often nobody waits.
        return self.wake(len(self.waiters)) if self.waiters else 0

    def wake(self, count: int = 1) -> int:
        """Wake up to ``count`` waiters, oldest first; returns how many."""
        woken = 0
        for task in list(self.waiters[:count]):
            task.coffer.wake(task, WOKEN)
            woken += 1
        return woken

    def __len__(self) -> int:
        return len(self.waiters)


class Block(Exception):
    """Raised by a handler: sleep on ``queues`` until woken or ``deadline_ns`` passes.

    A deadline at KTIME_MAX (a saturated timeout) is no deadline: it never passes."""

    def __init__(self, queues: Iterable[WaitQueue] = (), deadline_ns: int | None = None,
                 interruptible: bool = True) -> None:
        super().__init__("block")
        self.queues = tuple(queues)
        self.deadline_ns = finite_deadline(deadline_ns)
        self.interruptible = interruptible
