"""capget and capset (kernel/capability.c, with security/commoncap.c's cap_capset).

The capability sets live on the process's
:class:`~cofferos.coffers.task.Credentials` (see :mod:`cofferos.coffers.capability`).
Both calls take a ``struct __user_cap_header_struct`` (version, pid) and an array
of ``struct __user_cap_data_struct`` (effective, permitted, inheritable: 32 bits
each), one element for version 1, two (the low and high halves) for versions 2
and 3. An unknown version is EINVAL, and the header is rewritten with the
version this kernel prefers (version 3); capget with a NULL data pointer is then
a probe and returns 0.

capget reads any live thread's sets (pid 0: the caller's; ESRCH for another).
capset changes only the caller's (another pid is EPERM) and, as cap_capset, only
inside the rules: the new permitted set within the old one, the new effective
set within the new permitted one, the new inheritable set within the old
inheritable and permitted sets (unless CAP_SETPCAP) and within the bounding set;
EPERM otherwise. Bits beyond CAP_LAST_CAP are dropped.

:func:`cap_task_prctl` answers prctl's capability options for :mod:`.process`:
PR_GET_KEEPCAPS and PR_SET_KEEPCAPS (SECBIT_KEEP_CAPS: EINVAL past 1, EPERM once
locked), PR_CAPBSET_READ, PR_CAPBSET_DROP (CAP_SETPCAP) and PR_GET_SECUREBITS.
"""

from __future__ import annotations

import dataclasses
import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import (
    CAP_LAST_CAP,
    CAP_SETPCAP,
    CAP_VALID_MASK,
    SECBIT_KEEP_CAPS,
    SECBIT_KEEP_CAPS_LOCKED,
    cap_raised,
    has_capability,
)
from cofferos.coffers.syscalls.sched import find_process_by_pid
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/linux/capability.h
LINUX_CAPABILITY_VERSION_1 = 0x19980330
LINUX_CAPABILITY_VERSION_2 = 0x20071026
LINUX_CAPABILITY_VERSION_3 = 0x20080522
KERNEL_CAPABILITY_VERSION = LINUX_CAPABILITY_VERSION_3
#: 32-bit words of each set a version carries (_LINUX_CAPABILITY_U32S_*).
U32S = {LINUX_CAPABILITY_VERSION_1: 1, LINUX_CAPABILITY_VERSION_2: 2,
        LINUX_CAPABILITY_VERSION_3: 2}
HEADER = struct.Struct("<Ii")  #: version, pid
DATA = struct.Struct("<III")  #: effective, permitted, inheritable
WORD_BITS = 32
WORD_MASK = (1 << WORD_BITS) - 1
# prctl options (include/uapi/linux/prctl.h)
PR_GET_KEEPCAPS, PR_SET_KEEPCAPS = 7, 8
PR_CAPBSET_READ, PR_CAPBSET_DROP = 23, 24
PR_GET_SECUREBITS = 27


def _validate_magic(task: Task, header: int) -> int:
    """cap_validate_magic: the words per set of the header's version; for an unknown
    version, the preferred one is written back and EINVAL raised (as a negative)."""
    version, _ = HEADER.unpack(copy_from_user(task, header, HEADER.size))
    if version not in U32S:
        copy_to_user(task, header, struct.pack("<I", KERNEL_CAPABILITY_VERSION))
        return -errno.EINVAL
    return U32S[version]


def sys_capget(task: Task, header: int, dataptr: int) -> int:
    words = _validate_magic(task, header)
    if not dataptr or words < 0:
        return 0 if not dataptr and words == -errno.EINVAL else min(words, 0)
    _, pid = HEADER.unpack(copy_from_user(task, header, HEADER.size))
    if pid < 0:
        return -errno.EINVAL
    target = find_process_by_pid(task, pid)
    if target is None:
        return -errno.ESRCH
    creds = target.creds
    sets = (creds.cap_effective, creds.cap_permitted, creds.cap_inheritable)
    data = b"".join(DATA.pack(*(s >> (WORD_BITS * i) & WORD_MASK for s in sets))
                    for i in range(words))
    copy_to_user(task, dataptr, data)
    return 0


def sys_capset(task: Task, header: int, data: int) -> int:
    words = _validate_magic(task, header)
    if words < 0:
        return words
    _, pid = HEADER.unpack(copy_from_user(task, header, HEADER.size))
    if pid not in (0, task.pid):
        return -errno.EPERM  # may only affect current now
    raw = copy_from_user(task, data, DATA.size * words)
    effective = permitted = inheritable = 0
    for i in range(words):
        e, p, inh = DATA.unpack_from(raw, DATA.size * i)
        effective |= e << (WORD_BITS * i)
        permitted |= p << (WORD_BITS * i)
        inheritable |= inh << (WORD_BITS * i)
    effective, permitted, inheritable = (
        s & CAP_VALID_MASK for s in (effective, permitted, inheritable))
    old = task.creds
    capped = not has_capability(old, CAP_SETPCAP)
    if capped and inheritable & ~(old.cap_inheritable | old.cap_permitted):
        return -errno.EPERM
    if inheritable & ~(old.cap_inheritable | old.cap_bset):
        return -errno.EPERM
    if permitted & ~old.cap_permitted or effective & ~permitted:
        return -errno.EPERM
    task.process.creds = dataclasses.replace(
        old, cap_effective=effective, cap_permitted=permitted, cap_inheritable=inheritable)
    return 0


def cap_task_prctl(task: Task, option: int, arg2: int) -> int | None:
    """The answer to a capability prctl option, or None for any other option."""
    creds = task.creds
    if option == PR_GET_KEEPCAPS:
        return int(bool(creds.securebits & SECBIT_KEEP_CAPS))
    if option == PR_SET_KEEPCAPS:
        if arg2 > 1:
            return -errno.EINVAL
        if creds.securebits & SECBIT_KEEP_CAPS_LOCKED:
            return -errno.EPERM
        bits = creds.securebits & ~SECBIT_KEEP_CAPS | (SECBIT_KEEP_CAPS if arg2 else 0)
        task.process.creds = dataclasses.replace(creds, securebits=bits)
        return 0
    if option == PR_GET_SECUREBITS:
        return creds.securebits
    if option in (PR_CAPBSET_READ, PR_CAPBSET_DROP):
        if arg2 > CAP_LAST_CAP:
            return -errno.EINVAL  # cap_valid
        if option == PR_CAPBSET_READ:
            return int(cap_raised(creds.cap_bset, arg2))
        if not has_capability(creds, CAP_SETPCAP):
            return -errno.EPERM
        task.process.creds = dataclasses.replace(creds, cap_bset=creds.cap_bset & ~(1 << arg2))
        return 0
    return None


def register(table: SyscallTable) -> None:
    table.add("capget", sys_capget, "ptr", "ptr")
    table.add("capset", sys_capset, "ptr", "ptr")
