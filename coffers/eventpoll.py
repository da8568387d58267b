"""epoll instances (fs/eventpoll.c): an interest list of (descriptor, file) pairs.

An :class:`EventPoll` remembers, for each watched file, the events asked for and
the 64-bit ``data`` to hand back. As in Linux an item is keyed by the file *and*
the descriptor number it was added under, and belongs to the open file
description: closing one descriptor of a file that is still open elsewhere
(a dup, a forked child) leaves the item in place; the item goes when the file's
last descriptor closes (here, lazily: an item whose file has no descriptor left
is dropped the next time the instance is looked at).

Readiness is level-triggered: :meth:`EventPoll.ready_events` asks every watched
file for its readiness now. Reported items go to the back of the list so that a
small ``maxevents`` still sees every ready item in turn, like Linux's ready
list. EPOLLONESHOT disables an item after it is reported, until EPOLL_CTL_MOD.
EPOLLET is accepted and treated as level-triggered: a program that uses edge
triggering correctly (reading until EAGAIN) sees at most extra wake-ups; this
model keeps no per-file wake-up callbacks, so it cannot tell an edge.

An epoll descriptor is itself pollable (readable while any item is ready), so
instances nest. EPOLL_CTL_ADD of an instance refuses what Linux's ep_loop_check
refuses (ELOOP): a loop, or a nesting in which the instances below the added one
(:meth:`EventPoll.depth_below`), the new link and the instances above the one it
is added to (:meth:`EventPoll.depth_above`, through :attr:`EventPoll.watchers`,
Linux's ``ep->refs``) are more than EP_MAX_NESTS deep. A diamond, two paths to
one instance, is no loop and is allowed.
The syscalls are in :mod:`cofferos.coffers.syscalls.eventpoll`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cofferos.coffers.anon_inodes import AnonInodeFile
from cofferos.coffers.files import OpenFile
from cofferos.coffers.poll import (
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLOUT,
    POLLRDNORM,
    earliest_deadline,
    file_poll,
    wait_queues_of,
)
from cofferos.coffers.wait import WaitQueue

# include/uapi/linux/eventpoll.h
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31
#: Bits that steer the item rather than name events.
EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
#: The only bits EPOLLEXCLUSIVE may be combined with.
EPOLLEXCLUSIVE_OK_BITS = POLLIN | POLLOUT | POLLERR | POLLHUP | EPOLLWAKEUP | EPOLLET \
    | EPOLLEXCLUSIVE
EP_MAX_NESTS = 4  #: deepest nesting of epoll instances


@dataclass(eq=False)
class EpItem:
    """One watched (descriptor, file): ``struct epitem``."""

    fd: int
    file: OpenFile
    events: int  #: asked for, plus POLLERR | POLLHUP, plus the private bits
    data: int

    def revents(self) -> int:
        if not self.events & ~EP_PRIVATE_BITS:  # a fired EPOLLONESHOT item
            return 0
        return file_poll(self.file) & self.events


class EventPoll(AnonInodeFile):
    """One ``struct eventpoll`` and the open file on it."""

    def __init__(self, flags: int) -> None:
        super().__init__("eventpoll", flags)
        self.items: dict[tuple[int, int], EpItem] = {}  #: by (id(file), fd)
        self.wq = WaitQueue()  #: epoll_wait sleepers, woken when the interest list changes
        self.watchers: list[EventPoll] = []  #: instances with an item for this one, once each

    # -- the interest list -----------------------------------------------------------------
    def live_items(self) -> list[EpItem]:
        """The items whose file still has a descriptor somewhere (eventpoll_release)."""
        for key, item in list(self.items.items()):
            if item.file.refs <= 0:
                self._unlink(self.items.pop(key))
        return list(self.items.values())

    def _unlink(self, item: EpItem) -> None:
        if isinstance(item.file, EventPoll) and self in item.file.watchers:
            item.file.watchers.remove(self)

    def find(self, fd: int, file: OpenFile) -> EpItem | None:
        self.live_items()
        return self.items.get((id(file), fd))

    def insert(self, fd: int, file: OpenFile, events: int, data: int) -> None:
        self.items[(id(file), fd)] = EpItem(fd, file, events, data)
        if isinstance(file, EventPoll):
            file.watchers.append(self)
        self.wq.wake_all()

    def modify(self, item: EpItem, events: int, data: int) -> None:
        item.events, item.data = events, data
        self.wq.wake_all()

    def remove(self, item: EpItem) -> None:
        if self.items.pop((id(item.file), item.fd), None) is not None:
            self._unlink(item)

    def nested(self) -> list[EventPoll]:
        return [item.file for item in self.live_items() if isinstance(item.file, EventPoll)]

    def depth_below(self, inserting_into: EventPoll, level: int = 0) -> int:
        """How many instances deep the nesting under this one goes (0: none), or more
        than EP_MAX_NESTS if ``inserting_into`` is among them (ep_loop_check_proc)."""
        result = 0
        for inner in self.nested():
            if inner is inserting_into or level > EP_MAX_NESTS:
                result = EP_MAX_NESTS + 1
            else:
                result = max(result, inner.depth_below(inserting_into, level + 1) + 1)
            if result > EP_MAX_NESTS:
                break
        return result

    def depth_above(self, level: int = 0) -> int:
        """How many instances deep the nesting above this one goes (ep_get_upwards_depth_proc)."""
        if level > EP_MAX_NESTS:
            return level
        return max((watcher.depth_above(level + 1) + 1 for watcher in self.watchers),
                   default=0)

    # -- readiness -------------------------------------------------------------------------
    def ready_events(self, maxevents: int) -> list[tuple[int, int]]:
        """Up to ``maxevents`` (events, data) pairs of ready items; the ep_send_events loop."""
        found: list[tuple[int, int]] = []
        for item in self.live_items():
            if len(found) >= maxevents:
                break
            revents = item.revents()
            if not revents:
                continue
            found.append((revents, item.data))
            if item.events & EPOLLONESHOT:
                item.events &= EP_PRIVATE_BITS
            key = (id(item.file), item.fd)  # to the back: the next call starts with others
            self.items[key] = self.items.pop(key)
        return found

    def poll_mask(self) -> int:
        ready = any(item.revents() for item in self.live_items())
        return POLLIN | POLLRDNORM if ready else 0

    def files(self) -> list[OpenFile]:
        return [item.file for item in self.live_items()]

    def wait_queues(self) -> tuple[WaitQueue, ...]:
        return (self.wq, *wait_queues_of(self.files()))

    def deadline_ns(self) -> int | None:
        return earliest_deadline(self.files(), None)

    def release(self) -> None:
        for item in self.items.values():
            self._unlink(item)
        self.items.clear()
        self.wq.wake_all()
