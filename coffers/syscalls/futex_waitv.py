"""futex_waitv(2) (kernel/futex/syscalls.c, waitwake.c): wait on up to 128 futexes at once.

Each ``struct futex_waitv`` names a 32-bit futex word (FUTEX2_SIZE_U32, the only
size Linux implements), the value it must still hold, and FUTEX2_PRIVATE. The
caller sleeps on every word's wait queue of :mod:`.futex` until a FUTEX_WAKE on
one of them, and the call returns that word's index; a word that already differs
fails the call with EAGAIN, and an absolute timeout on CLOCK_MONOTONIC or
CLOCK_REALTIME with ETIMEDOUT. Arguments are checked in Linux's order: the call's
flags and count, the timeout, every entry (EFAULT, then EINVAL), every word's
address (alignment EINVAL, then EFAULT), and only then the values.

Kept apart from :mod:`.futex` so that how futexes are keyed (``futex._key``)
stays that module's alone: this one only asks it for the queues.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.ktime import InvalidTime, realtime_to_monotonic
from cofferos.coffers.syscalls.futex import FUTEX_BITSET_MATCH_ANY, U32, _key, _queue
from cofferos.coffers.syscalls.time import CLOCK_MONOTONIC, CLOCK_REALTIME
from cofferos.coffers.syscalls.uaccess import copy_from_user, get_timespec
from cofferos.coffers.wait import TIMED_OUT, WOKEN, Block, WaitQueue

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

FUTEX_WAITV_MAX = 128
#: struct futex_waitv: __u64 val, __u64 uaddr, __u32 flags, __u32 __reserved.
FUTEX_WAITV = struct.Struct("<QQII")
# futex2 flags (include/uapi/linux/futex.h)
FUTEX2_SIZE_U32, FUTEX2_SIZE_MASK = 0x02, 0x03
FUTEX2_NUMA, FUTEX2_MPOL, FUTEX2_PRIVATE = 0x04, 0x08, 128
FUTEX2_VALID_MASK = FUTEX2_SIZE_MASK | FUTEX2_NUMA | FUTEX2_MPOL | FUTEX2_PRIVATE
U32_MAX = 0xFFFF_FFFF
#: The top of user address space (access_ok in get_futex_key).
TASK_SIZE_MAX = (1 << 47) - 4096


def _entries(task: Task, waiters: int, count: int) -> list[tuple[int, int, bool]] | int:
    """(address, expected value, shared) of every entry (futex_parse_waitv), or an errno.
    A word without FUTEX2_PRIVATE is keyed by its shared object, as a shared futex."""
    entries = []
    for index in range(count):
        raw = copy_from_user(task, waiters + index * FUTEX_WAITV.size, FUTEX_WAITV.size)
        value, address, flags, reserved = FUTEX_WAITV.unpack(raw)
        if flags & ~FUTEX2_VALID_MASK or reserved:
            return -errno.EINVAL
        if flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32 or flags & FUTEX2_NUMA:
            return -errno.EINVAL  # futex_flags_valid: only 32-bit words, no NUMA node word
        if value > U32_MAX:
            return -errno.EINVAL  # futex_validate_input
        entries.append((address, value, not flags & FUTEX2_PRIVATE))
    return entries


def _forget_empty_queues(task: Task, entries: list[tuple[int, int, bool]]) -> None:
    """After the wake-up: drop the queues of the other words that nobody waits on now
    (futex_wake drops only the one it woke)."""
    futexes = task.coffer.futexes
    for address, _, shared in entries:
        queue = _queue(task, address, shared, create=False)
        if queue is not None and not queue.waiters:
            futexes.pop(_key(task, address, shared), None)


def sys_futex_waitv(task: Task, waiters: int, count: int, flags: int, timeout: int,
                    clockid: int) -> int:
    count &= U32_MAX
    if flags & U32_MAX:
        return -errno.EINVAL
    if not count or count > FUTEX_WAITV_MAX or not waiters:
        return -errno.EINVAL
    deadline = None
    if timeout:
        clockid &= U32_MAX
        if clockid not in (CLOCK_REALTIME, CLOCK_MONOTONIC):
            return -errno.EINVAL
        try:
            when = get_timespec(task, timeout)
        except InvalidTime:
            return -errno.EINVAL
        epoch = task.coffer.config.epoch_ns if clockid == CLOCK_REALTIME else 0
        deadline = realtime_to_monotonic(when, epoch)  # absolute, as FUTEX_WAIT_BITSET
    entries = _entries(task, waiters, count)
    if isinstance(entries, int):
        return entries
    for address, _, _shared in entries:  # get_futex_key for every word before any is read
        if address % U32.size:
            return -errno.EINVAL
        if address + U32.size > TASK_SIZE_MAX:
            return -errno.EFAULT
    if task.wakeup in (WOKEN, TIMED_OUT):
        _forget_empty_queues(task, entries)
    if task.wakeup == WOKEN:
        woken = task.futex_woken
        task.futex_woken = None
        for index, (address, _, shared) in enumerate(entries):
            if _key(task, address, shared) == woken:
                return index
    if task.wakeup == TIMED_OUT:
        return -errno.ETIMEDOUT
    queues: list[WaitQueue] = []
    for address, expected, shared in entries:
        (value,) = U32.unpack(copy_from_user(task, address, U32.size))
        if value != expected:
            return -errno.EAGAIN
        queues.append(_queue(task, address, shared))  # type: ignore[arg-type]
    task.futex_bitset = FUTEX_BITSET_MATCH_ANY
    raise Block(queues, deadline)


def register(table: SyscallTable) -> None:
    table.add("futex_waitv", sys_futex_waitv, "ptr", "uint", "hex", "ptr", "int")
