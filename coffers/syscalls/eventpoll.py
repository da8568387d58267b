"""epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait, epoll_pwait2 (fs/eventpoll.c).

The instance is :class:`cofferos.coffers.eventpoll.EventPoll`; waiting is the
loop of :mod:`cofferos.coffers.poll`. Arguments are checked in Linux's order:
the event is copied first (EFAULT), then the two descriptors (EBADF), whether
the target can be polled at all (EPERM for regular files and directories),
whether ``epfd`` is an epoll instance other than the target (EINVAL), the
EPOLLEXCLUSIVE rules (EINVAL), loops (ELOOP), and last the operation itself
(EEXIST, ENOENT). ``struct epoll_event`` is packed on x86-64: 12 bytes.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.eventpoll import (
    EP_MAX_NESTS,
    EPOLL_CTL_ADD,
    EPOLL_CTL_DEL,
    EPOLL_CTL_MOD,
    EPOLLEXCLUSIVE,
    EPOLLEXCLUSIVE_OK_BITS,
    EventPoll,
)
from cofferos.coffers.files import OpenFile
from cofferos.coffers.poll import POLLERR, POLLHUP, can_poll, do_poll
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.select import InvalidArgument, get_sigmask, get_timeout
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user, fd_arg, signed
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

EPOLL_EVENT = struct.Struct("<IQ")  #: struct epoll_event, __attribute__((packed)) on x86-64
EPOLL_CLOEXEC = os.O_CLOEXEC
INT_MAX = (1 << 31) - 1
EP_MAX_EVENTS = INT_MAX // EPOLL_EVENT.size
NS_PER_MS = 1_000_000
#: The top of user address space (access_ok).
TASK_SIZE_MAX = (1 << 47) - 4096


def sys_epoll_create1(task: Task, flags: int) -> int:
    flags = signed(flags, 32)
    if flags & ~EPOLL_CLOEXEC:
        return -errno.EINVAL
    return task.files.install(EventPoll(flags), cloexec=bool(flags & EPOLL_CLOEXEC))


def sys_epoll_create(task: Task, size: int) -> int:
    if signed(size, 32) <= 0:
        return -errno.EINVAL
    return sys_epoll_create1(task, 0)


def _loops(ep: EventPoll, target: OpenFile) -> bool:
    """Would watching ``target`` from ``ep`` close a loop or nest too deep (ep_loop_check)?"""
    if not isinstance(target, EventPoll):
        return False
    below = target.depth_below(ep)
    return below > EP_MAX_NESTS or below + 1 + ep.depth_above() > EP_MAX_NESTS


def sys_epoll_ctl(task: Task, epfd: int, op: int, fd: int, event: int) -> int:
    op, fd = signed(op, 32), fd_arg(fd)
    events = data = 0
    has_event = op != EPOLL_CTL_DEL  # ep_op_has_event
    if has_event:
        events, data = EPOLL_EVENT.unpack(copy_from_user(task, event, EPOLL_EVENT.size))
    ep = fdget(task, fd_arg(epfd))
    target = fdget(task, fd)
    if not can_poll(target):
        return -errno.EPERM
    if ep is target or not isinstance(ep, EventPoll):
        return -errno.EINVAL
    if has_event and events & EPOLLEXCLUSIVE:
        if op == EPOLL_CTL_MOD:
            return -errno.EINVAL
        if op == EPOLL_CTL_ADD and (isinstance(target, EventPoll)
                                    or events & ~EPOLLEXCLUSIVE_OK_BITS):
            return -errno.EINVAL
    if op == EPOLL_CTL_ADD and _loops(ep, target):
        return -errno.ELOOP
    item = ep.find(fd, target)
    if op == EPOLL_CTL_ADD:
        if item is not None:
            return -errno.EEXIST
        ep.insert(fd, target, events | POLLERR | POLLHUP, data)
        return 0
    if op == EPOLL_CTL_DEL:
        if item is None:
            return -errno.ENOENT
        ep.remove(item)
        return 0
    if op == EPOLL_CTL_MOD:
        if item is None:
            return -errno.ENOENT
        if item.events & EPOLLEXCLUSIVE:
            return -errno.EINVAL
        ep.modify(item, events | POLLERR | POLLHUP, data)
        return 0
    return -errno.EINVAL


def do_epoll_wait(task: Task, epfd: int, events: int, maxevents: int,
                  timeout_ns: int | None, sigmask: int | None = None) -> int:
    maxevents = signed(maxevents, 32)
    if maxevents <= 0 or maxevents > EP_MAX_EVENTS:
        return -errno.EINVAL
    if events + maxevents * EPOLL_EVENT.size > TASK_SIZE_MAX:
        return -errno.EFAULT  # access_ok
    ep = fdget(task, fd_arg(epfd))
    if not isinstance(ep, EventPoll):
        return -errno.EINVAL
    found: list[tuple[int, int]] = []

    def scan() -> tuple[int, list[OpenFile]]:
        found[:] = ep.ready_events(maxevents)
        return len(found), [ep]

    result = do_poll(task, timeout_ns, scan, sigmask)
    if result > 0:
        raw = b"".join(EPOLL_EVENT.pack(revents, data)
                       for revents, data in found)
        try:
            copy_to_user(task, events, raw)
        except MemoryFault:
            return -errno.EFAULT
    return result


def _ms_timeout(timeout: int) -> int | None:
    timeout = signed(timeout, 32)
    return timeout * NS_PER_MS if timeout >= 0 else None


def sys_epoll_wait(task: Task, epfd: int, events: int, maxevents: int, timeout: int) -> int:
    return do_epoll_wait(task, epfd, events, maxevents, _ms_timeout(timeout))


def sys_epoll_pwait(task: Task, epfd: int, events: int, maxevents: int, timeout: int,
                    sigmask: int, sigsetsize: int) -> int:
    try:
        mask = get_sigmask(task, sigmask, sigsetsize)
    except InvalidArgument:
        return -errno.EINVAL
    return do_epoll_wait(task, epfd, events, maxevents, _ms_timeout(timeout), mask)


def sys_epoll_pwait2(task: Task, epfd: int, events: int, maxevents: int, timeout: int,
                     sigmask: int, sigsetsize: int) -> int:
    try:
        timeout_ns = get_timeout(task, timeout)
        mask = get_sigmask(task, sigmask, sigsetsize)
    except InvalidArgument:
        return -errno.EINVAL
    return do_epoll_wait(task, epfd, events, maxevents, timeout_ns, mask)


def register(table: SyscallTable) -> None:
    table.add("epoll_create", sys_epoll_create, "int")
    table.add("epoll_create1", sys_epoll_create1, "hex")
    table.add("epoll_ctl", sys_epoll_ctl, "fd", "int", "fd", "ptr")
    table.add("epoll_wait", sys_epoll_wait, "fd", "ptr", "int", "int")
    table.add("epoll_pwait", sys_epoll_pwait, "fd", "ptr", "int", "int", "ptr", "size")
    table.add("epoll_pwait2", sys_epoll_pwait2, "fd", "ptr", "int", "ptr", "ptr", "size")
