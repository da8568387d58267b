"""futex(2): the kernel half of every pthread mutex, condition variable and join.

Waiters sleep on a per-coffer table; the table lives in the Coffer, so a futex
of one coffer can never wake a task of another. As in Linux's get_futex_key, a
private futex (FUTEX_PRIVATE_FLAG) is keyed by (address space, address), and so
is a shared one in private memory; a shared futex in a shared area is keyed by
(shared memory object, offset), so processes that map one page, wherever, wait
on and wake each other. Supported: WAIT, WAKE, WAIT_BITSET, WAKE_BITSET,
REQUEUE, CMP_REQUEUE, with FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME.
:func:`exit_robust_list` is the walk of a dying thread's robust list.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.ktime import InvalidTime, ktime_add_safe, realtime_to_monotonic
from cofferos.coffers.syscalls.uaccess import copy_from_user, get_timespec
from cofferos.coffers.wait import TIMED_OUT, WOKEN, Block, WaitQueue
from cofferos.isa.faults import MemoryFault

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


def _key(task: Task, address: int, shared: bool) -> tuple[object, int]:
    if shared:
        vma = task.mm.vma_at(address)
        if vma is not None and vma.shared:
            return vma.shm, vma.shm_offset(address)
    return id(task.mm), address


def _queue(task: Task, address: int, shared: bool,
           create: bool = True) -> WaitQueue | None:
    futexes = task.coffer.futexes
    key = _key(task, address, shared)
    queue = futexes.get(key)
    if queue is None and create:
        queue = futexes[key] = WaitQueue()
    return queue  # type: ignore[return-value]


def futex_wake(task: Task, address: int, count: int, bitset: int = FUTEX_BITSET_MATCH_ANY,
               shared: bool = True) -> int:
    queue = _queue(task, address, shared, create=False)
    if queue is None:
        return 0
    woken = 0
    for waiter in list(queue.waiters):
        if woken >= count:
            break
        if waiter.futex_bitset & bitset:
            waiter.futex_woken = _key(task, address, shared)  # which futex, for futex_waitv
            task.coffer.wake(waiter, WOKEN)
            woken += 1
    if not queue.waiters:
        task.coffer.futexes.pop(_key(task, address, shared), None)  # type: ignore[arg-type]
    return woken


def _wait(task: Task, address: int, expected: int, timeout: int, absolute: bool,
          realtime: bool, bitset: int, shared: bool) -> int:
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
    raise Block([_queue(task, address, shared)], deadline)  # type: ignore[list-item]


def _requeue(task: Task, address: int, wake: int, requeue: int, target: int,
             expected: int | None, shared: bool) -> int:
    if expected is not None:
        (value,) = U32.unpack(copy_from_user(task, address, U32.size))
        if value != expected & 0xFFFFFFFF:
            return -errno.EAGAIN
    woken = futex_wake(task, address, wake, shared=shared)
    source = _queue(task, address, shared, create=False)
    moved = 0
    if source is not None:
        dest = _queue(task, target, shared)
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
    shared = not op & FUTEX_PRIVATE_FLAG
    count = min(val & 0xFFFFFFFF, INT_MAX)
    if cmd == FUTEX_WAIT:
        return _wait(task, uaddr, val, timeout, False, realtime, FUTEX_BITSET_MATCH_ANY, shared)
    if cmd == FUTEX_WAIT_BITSET:
        return _wait(task, uaddr, val, timeout, True, realtime, val3 & 0xFFFFFFFF, shared)
    if cmd == FUTEX_WAKE:
        return futex_wake(task, uaddr, count, shared=shared)
    if cmd == FUTEX_WAKE_BITSET:
        if val3 & 0xFFFFFFFF == 0:
            return -errno.EINVAL
        return futex_wake(task, uaddr, count, val3 & 0xFFFFFFFF, shared)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        # val2 (the requeue count) travels in the timeout argument's register.
        return _requeue(task, uaddr, count, min(timeout, INT_MAX), uaddr2,
                        val3 if cmd == FUTEX_CMP_REQUEUE else None, shared)
    return -errno.ENOSYS


def register(table: SyscallTable) -> None:
    table.add("futex", sys_futex, "ptr", "int", "int", "ptr", "ptr", "hex")


# -- robust futex lists (kernel/futex/core.c: exit_robust_list) ---------------------------
FUTEX_WAITERS, FUTEX_OWNER_DIED, FUTEX_TID_MASK = 0x80000000, 0x40000000, 0x3FFFFFFF
ROBUST_LIST_LIMIT = 2048  #: entries walked at most: a looping list cannot hang the kernel
U64 = struct.Struct("<Q")
ROBUST_PI_BIT = 1  #: an entry pointer's low bit marks a PI futex


def _fetch_entry(task: Task, address: int) -> tuple[int, bool]:
    (raw,) = U64.unpack(copy_from_user(task, address, U64.size))
    return raw & ~ROBUST_PI_BIT, bool(raw & ROBUST_PI_BIT)


def _futex_death(task: Task, address: int, pi: bool, pending: bool) -> None:
    """handle_futex_death: a lock the dead thread held is marked FUTEX_OWNER_DIED and
    one waiter woken, so that its next owner learns (EOWNERDEAD) and recovers it."""
    if address % U32.size:
        return
    (value,) = U32.unpack(copy_from_user(task, address, U32.size))
    owner = value & FUTEX_TID_MASK
    if pending and not pi and not owner:
        futex_wake(task, address, 1)  # it died between taking and listing: wake a waiter
        return
    if owner != task.pid:
        return
    task.cpu.write(address, U32.pack((value & FUTEX_WAITERS) | FUTEX_OWNER_DIED))
    if not pi and value & FUTEX_WAITERS:
        futex_wake(task, address, 1)


def exit_robust_list(task: Task) -> None:
    """Walk the robust list of a thread that ends (set_robust_list registered its head:
    a list pointer, the futex offset, the pending entry); a bad pointer ends the walk."""
    head = task.robust_list
    if not head:
        return
    try:
        entry, pi = _fetch_entry(task, head)
        (futex_offset,) = struct.unpack("<q", copy_from_user(task, head + 8, 8))
        pending, pending_pi = _fetch_entry(task, head + 2 * U64.size)
        for _ in range(ROBUST_LIST_LIMIT):
            if entry == head:
                break
            next_entry, next_pi = _fetch_entry(task, entry)
            if entry != pending:
                _futex_death(task, (entry + futex_offset) & (2**64 - 1), pi, False)
            entry, pi = next_entry, next_pi
        if pending:
            _futex_death(task, (pending + futex_offset) & (2**64 - 1), pending_pi, True)
    except MemoryFault:
        return
