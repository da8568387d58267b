"""futex(2): the kernel half of every pthread mutex, condition variable and join.

Waiters sleep on a per-coffer table keyed by (address space, address); the
table lives in the Coffer, so a futex of one coffer can never wake a task of
another. Supported: WAIT, WAKE, WAIT_BITSET, WAKE_BITSET, REQUEUE, CMP_REQUEUE,
with FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME. Private and shared futexes
are keyed alike: memory is never shared between address spaces here, so a
shared futex can only be reached from one address space anyway.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.ktime import InvalidTime, ktime_add_safe, realtime_to_monotonic
from cofferos.coffers.syscalls.uaccess import copy_from_user, get_timespec
from cofferos.coffers.wait import TIMED_OUT, WOKEN, Block, WaitQueue

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE = 0, 1, 3, 4
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 9, 10
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_CMD_MASK = ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF
U32 = struct.Struct("<I")
INT_MAX = (1 << 31) - 1


def _key(task: Task, address: int) -> tuple[int, int]:
    return id(task.mm), address


def _queue(task: Task, address: int, create: bool = True) -> WaitQueue | None:
    futexes = task.coffer.futexes
    key = _key(task, address)
    queue = futexes.get(key)
    if queue is None and create:
        queue = futexes[key] = WaitQueue()
    return queue  # type: ignore[return-value]


def futex_wake(task: Task, address: int, count: int, bitset: int = FUTEX_BITSET_MATCH_ANY) -> int:
    queue = _queue(task, address, create=False)
    if queue is None:
        return 0
    woken = 0
    for waiter in list(queue.waiters):
        if woken >= count:
            break
        if waiter.futex_bitset & bitset:
            waiter.futex_woken = _key(task, address)  # which futex, for futex_waitv
            task.coffer.wake(waiter, WOKEN)
            woken += 1
    if not queue.waiters:
        task.coffer.futexes.pop(_key(task, address), None)
    return woken


def _wait(task: Task, address: int, expected: int, timeout: int, absolute: bool,
          realtime: bool, bitset: int) -> int:
    if task.wakeup == WOKEN:
        return 0
    if task.wakeup == TIMED_OUT:
        return -errno.ETIMEDOUT
    if bitset == 0:
        return -errno.EINVAL
    (value,) = U32.unpack(copy_from_user(task, address, U32.size))
    if value != expected & 0xFFFFFFFF:
        return -errno.EAGAIN
    deadline = None
    if timeout:
        try:
            span = get_timespec(task, timeout)
        except InvalidTime:
            return -errno.EINVAL
        coffer = task.coffer
        if absolute:  # an absolute time on CLOCK_REALTIME or CLOCK_MONOTONIC
            deadline = realtime_to_monotonic(span, coffer.config.epoch_ns if realtime else 0)
        else:
            deadline = ktime_add_safe(coffer.monotonic_ns(), span)
    task.futex_bitset = bitset
    raise Block([_queue(task, address)], deadline)  # type: ignore[list-item]


def _requeue(task: Task, address: int, wake: int, requeue: int, target: int,
             expected: int | None) -> int:
    if expected is not None:
        (value,) = U32.unpack(copy_from_user(task, address, U32.size))
        if value != expected & 0xFFFFFFFF:
            return -errno.EAGAIN
    woken = futex_wake(task, address, wake)
    source = _queue(task, address, create=False)
    moved = 0
    if source is not None:
        dest = _queue(task, target)
        for waiter in list(source.waiters[:requeue]):
            source.remove(waiter)
            dest.add(waiter)  # type: ignore[union-attr]
            waiter.wait_queues = tuple(dest if q is source else q for q in waiter.wait_queues)  # type: ignore[misc]
            moved += 1
    return woken + moved


def sys_futex(task: Task, uaddr: int, op: int, val: int, timeout: int, uaddr2: int,
              val3: int) -> int:
    if uaddr % U32.size:
        return -errno.EINVAL
    cmd = op & FUTEX_CMD_MASK
    realtime = bool(op & FUTEX_CLOCK_REALTIME)
    count = min(val & 0xFFFFFFFF, INT_MAX)
    if cmd == FUTEX_WAIT:
        return _wait(task, uaddr, val, timeout, False, realtime, FUTEX_BITSET_MATCH_ANY)
    if cmd == FUTEX_WAIT_BITSET:
        return _wait(task, uaddr, val, timeout, True, realtime, val3 & 0xFFFFFFFF)
    if cmd == FUTEX_WAKE:
        return futex_wake(task, uaddr, count)
    if cmd == FUTEX_WAKE_BITSET:
        if val3 & 0xFFFFFFFF == 0:
            return -errno.EINVAL
        return futex_wake(task, uaddr, count, val3 & 0xFFFFFFFF)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        # val2 (the requeue count) travels in the timeout argument's register.
        return _requeue(task, uaddr, count, min(timeout, INT_MAX), uaddr2,
                        val3 if cmd == FUTEX_CMP_REQUEUE else None)
    return -errno.ENOSYS


def register(table: SyscallTable) -> None:
    table.add("futex", sys_futex, "ptr", "int", "int", "ptr", "ptr", "hex")
