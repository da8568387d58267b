"""System V shared memory: shmget, shmat, shmdt, shmctl (ipc/shm.c).

Segments are the coffer's own (:class:`cofferos.coffers.ipc_shm.ShmIds`); their
bytes are a shared memory object that ``shmat`` maps as MAP_SHARED memory, so
every process that attaches one sees the others' stores, and fork hands the
child the parent's attaches. Permissions follow ``ipcperms``: the owner, group
or other bits of the segment's mode against the caller's effective ids, with
CAP_IPC_OWNER overriding them; IPC_SET and IPC_RMID need the owner or creator,
or CAP_SYS_ADMIN, SHM_LOCK and SHM_UNLOCK the owner or creator, or CAP_IPC_LOCK.
These capabilities count in the user namespace that owns the IPC
namespace (ns_capable: the coffer's initial one, unless a user namespace unshared
CLONE_NEWIPC), so a user namespace's root does not reach the coffer's segments.
The segment's owner and creator ids are kernel ids: IPC_STAT shows them in the
caller's user namespace (65534 when unmapped) and IPC_SET takes ids of it (EINVAL
for one it does not map), as kernel_to_ipc64_perm and ipc_update_perm do.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_ADMIN
from cofferos.coffers.ipc_shm import (
    IPC_PRIVATE,
    SHM_DEST,
    SHM_LOCKED,
    SHMALL,
    SHMMAX,
    SHMMIN,
    SHMMNI,
    ShmIds,
    ShmSegment,
)
from cofferos.coffers.mm import PAGE_MASK, PAGE_SIZE, MmError, page_up
from cofferos.coffers.shmem import ShmemObject
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user
from cofferos.coffers.userns import (
    GID_MAP,
    INVALID_ID,
    UID_MAP,
    from_kid_munged,
    make_kid,
    ns_capable,
)

if TYPE_CHECKING:
    from cofferos.coffers.mm import AddressSpace
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/linux/ipc.h and shm.h
IPC_CREAT, IPC_EXCL = 0o1000, 0o2000
IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
IPC_64 = 0x0100  #: glibc's flag for the 64-bit structures: the only layout here
SHM_LOCK, SHM_UNLOCK, SHM_STAT, SHM_INFO, SHM_STAT_ANY = 11, 12, 13, 14, 15
SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC = 0o10000, 0o20000, 0o40000, 0o100000
SHMLBA = PAGE_SIZE  #: x86-64's attach alignment
CAP_IPC_LOCK, CAP_IPC_OWNER = 14, 15  #: include/uapi/linux/capability.h
S_IRUGO, S_IWUGO = 0o444, 0o222
MODE_BITS = 0o777
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
NS_PER_SECOND = 1_000_000_000
SHMSEG = SHMMNI  #: attaches per process (unenforced, reported by IPC_INFO)

#: struct ipc64_perm (asm-generic/ipcbuf.h): key, uid, gid, cuid, cgid, mode, seq, 2 unused
IPC64_PERM = struct.Struct("<iIIIIIHH4xQQ")
#: struct shmid64_ds (x86-64): perm, segsz, atime, dtime, ctime, cpid, lpid, nattch, 2 unused
SHMID64_DS = struct.Struct("<" + IPC64_PERM.format[1:] + "QqqqiiQQQ")
#: struct shminfo64: shmmax, shmmin, shmmni, shmseg, shmall, 4 unused
SHMINFO64 = struct.Struct("<9Q")
#: struct shm_info: used_ids, shm_tot, shm_rss, shm_swp, swap_attempts, swap_successes
SHM_INFO_STRUCT = struct.Struct("<i4x5Q")


def _ids(task: Task) -> ShmIds:
    """The task's IPC namespace: its process's, or the coffer's first one."""
    ns = task.process.ipc_ns
    return task.coffer.shm_ids if ns is None else ns


def _spaces(task: Task) -> list[AddressSpace]:
    return [t.mm for t in task.coffer.tasks.values() if t.alive and t.mm is not None]


def _now(task: Task) -> int:
    return task.coffer.realtime_ns() // NS_PER_SECOND


def unshare_ipc(task: Task, user_ns: object) -> None:
    """unshare(CLONE_NEWIPC): a new, empty namespace of segments owned by ``user_ns``
    for the caller's process. The old one stays for the processes still in it; left
    to nobody, it goes (its segments are removed, see :meth:`ShmIds.renew`)."""
    old = _ids(task)
    if any(_ids(other) is old for other in task.coffer.tasks.values()
           if other.alive and other.process is not task.process):
        task.process.ipc_ns = ShmIds(user_ns=user_ns)
    else:
        task.process.ipc_ns = old.renew(_spaces(task), user_ns)


def _ipc_capable(task: Task, cap: int) -> bool:
    """ns_capable in the user namespace owning the IPC namespace."""
    return ns_capable(task.creds, _ids(task).user_ns, cap)


def _permitted(task: Task, seg: ShmSegment, flag: int) -> bool:
    """ipcperms: may the caller have the access ``flag``'s rwx bits ask for?"""
    creds = task.creds
    requested = ((flag >> 6) | (flag >> 3) | flag) & 0o7
    granted = seg.mode
    if creds.euid in (seg.uid, seg.cuid):
        granted >>= 6
    elif creds.egid in (seg.gid, seg.cgid) or seg.gid in creds.groups:
        granted >>= 3
    return not requested & ~granted & 0o7 or _ipc_capable(task, CAP_IPC_OWNER)


def sys_shmget(task: Task, key: int, size: int, flags: int) -> int:
    key = struct.unpack("<i", struct.pack("<I", key & 0xFFFFFFFF))[0]
    ids = _ids(task)
    ids.reap(_spaces(task))
    found = None if key == IPC_PRIVATE else ids.by_key(key)
    if found is not None:
        _index, seg = found
        if flags & IPC_CREAT and flags & IPC_EXCL:
            return -errno.EEXIST
        if size > seg.size:
            return -errno.EINVAL
        if not _permitted(task, seg, flags):
            return -errno.EACCES
        return ids.shmid(seg)
    if not flags & IPC_CREAT and key != IPC_PRIVATE:
        return -errno.ENOENT
    if size < SHMMIN or size > SHMMAX:
        return -errno.EINVAL
    try:
        shm = ShmemObject(f"SYSV{key & 0xFFFFFFFF:08x}", size, task.mm.account)
    except MmError:
        return -errno.ENOMEM
    creds = task.creds
    seg = ShmSegment(key=key, shm=shm, size=size, mode=flags & MODE_BITS, uid=creds.euid,
                     gid=creds.egid, cuid=creds.euid, cgid=creds.egid,
                     cpid=task.process.tgid, ctime=_now(task), seq=0)
    shmid = ids.add(seg)
    return -errno.ENOSPC if shmid is None else shmid


def sys_shmat(task: Task, shmid: int, addr: int, flags: int) -> int:
    seg = _ids(task).get(shmid)
    if seg is None:
        return -errno.EINVAL
    if addr & (SHMLBA - 1):
        if not flags & SHM_RND:
            return -errno.EINVAL
        addr &= ~(SHMLBA - 1)
    prot = PROT_READ if flags & SHM_RDONLY else PROT_READ | PROT_WRITE
    if flags & SHM_EXEC:
        prot |= PROT_EXEC
    if not _permitted(task, seg, S_IRUGO if flags & SHM_RDONLY else S_IRUGO | S_IWUGO):
        return -errno.EACCES
    mm, length = task.mm, page_up(seg.size)
    if addr:
        if not flags & SHM_REMAP and not mm.is_free(addr, addr + length):
            return -errno.EINVAL
        start = mm.map_fixed(addr, length, prot, "", seg.shm, 0)
    else:
        start = mm.map_anywhere(length, prot, "", shm=seg.shm)
    seg.atime, seg.lpid = _now(task), task.process.tgid
    return start


def sys_shmdt(task: Task, addr: int) -> int:
    """Detach the segment attached at ``addr``: every area of it from there on."""
    if addr & PAGE_MASK:
        return -errno.EINVAL
    mm = task.mm
    ids = _ids(task)
    first = mm.vma_at(addr)
    spaces = [ids, *(_ids(t) for t in task.coffer.tasks.values() if t.alive)]
    seg = next((s for space in spaces for s in [*space.slots.values(), *space.detached]
                if first is not None and s.shm is first.shm), None)  # (any namespace's)
    if first is None or first.start != addr or seg is None:
        return -errno.EINVAL
    end = addr + page_up(seg.size) - first.offset
    for vma in list(mm.overlapping(addr, end)):
        if vma.shm is seg.shm:
            mm.unmap(vma.start, vma.length)
    seg.dtime, seg.lpid = _now(task), task.process.tgid
    ids.reap(_spaces(task))
    return 0


def _shmid_ds(task: Task, seg: ShmSegment) -> bytes:
    mode = seg.mode | (SHM_DEST if seg.removed else 0)
    ns = task.creds.userns
    uid, cuid = (from_kid_munged(ns, UID_MAP, kid) for kid in (seg.uid, seg.cuid))
    gid, cgid = (from_kid_munged(ns, GID_MAP, kid) for kid in (seg.gid, seg.cgid))
    return SHMID64_DS.pack(seg.key, uid, gid, cuid, cgid, mode, seg.seq, 0,
                           0, 0, seg.size, seg.atime, seg.dtime, seg.ctime, seg.cpid,
                           seg.lpid, ShmIds.attaches(seg, _spaces(task)), 0, 0)


def _info(task: Task, cmd: int, buf: int) -> int:
    ids = _ids(task)
    if cmd == IPC_INFO:
        copy_to_user(task, buf, SHMINFO64.pack(SHMMAX, SHMMIN, SHMMNI, SHMSEG, SHMALL,
                                               0, 0, 0, 0))
    else:
        pages = sum(page_up(s.size) for s in ids.slots.values()) // PAGE_SIZE
        copy_to_user(task, buf, SHM_INFO_STRUCT.pack(len(ids.slots), pages, pages, 0, 0, 0))
    return ids.highest_index()


def sys_shmctl(task: Task, shmid: int, cmd: int, buf: int) -> int:
    cmd &= ~IPC_64
    ids = _ids(task)
    ids.reap(_spaces(task))
    if cmd in (IPC_INFO, SHM_INFO):
        return _info(task, cmd, buf)
    if cmd in (SHM_STAT, SHM_STAT_ANY):  # by slot index, returning the id
        seg = ids.slots.get(shmid)
        if seg is None:
            return -errno.EINVAL
        copy_to_user(task, buf, _shmid_ds(task, seg))
        return ids.shmid(seg)
    if cmd not in (IPC_RMID, IPC_SET, IPC_STAT, SHM_LOCK, SHM_UNLOCK):
        return -errno.EINVAL
    seg = ids.get(shmid)
    if seg is None:
        return -errno.EINVAL
    if cmd == IPC_STAT:
        if not _permitted(task, seg, S_IRUGO):
            return -errno.EACCES
        copy_to_user(task, buf, _shmid_ds(task, seg))
        return 0
    owner = task.creds.euid in (seg.uid, seg.cuid) or _ipc_capable(task, CAP_SYS_ADMIN)
    if cmd in (SHM_LOCK, SHM_UNLOCK):
        if not _ipc_capable(task, CAP_IPC_LOCK) and task.creds.euid not in (seg.uid, seg.cuid):
            return -errno.EPERM  # shmctl_do_lock: the owner, or CAP_IPC_LOCK
        seg.mode = seg.mode | SHM_LOCKED if cmd == SHM_LOCK else seg.mode & ~SHM_LOCKED
        return 0
    if not owner:
        return -errno.EPERM
    if cmd == IPC_SET:
        fields = SHMID64_DS.unpack(copy_from_user(task, buf, SHMID64_DS.size))
        uid = make_kid(task.creds.userns, UID_MAP, fields[1])
        gid = make_kid(task.creds.userns, GID_MAP, fields[2])
        if INVALID_ID in (uid, gid):
            return -errno.EINVAL
        seg.uid, seg.gid = uid, gid
        seg.mode = (seg.mode & ~MODE_BITS) | (fields[5] & MODE_BITS)
        seg.ctime = _now(task)
        return 0
    seg.removed = True  # IPC_RMID: keyless now, gone with its last attach
    seg.key = IPC_PRIVATE
    ids.reap(_spaces(task))
    return 0


def register(table: SyscallTable) -> None:
    table.add("shmget", sys_shmget, "hex", "size", "hex")
    table.add("shmat", sys_shmat, "int", "ptr", "hex")
    table.add("shmdt", sys_shmdt, "ptr")
    table.add("shmctl", sys_shmctl, "int", "int", "ptr")
