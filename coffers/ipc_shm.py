"""System V shared memory segments of one coffer (ipc/shm.c, ipc/util.c).

A coffer holds its own :class:`ShmIds`, as a container holds its own IPC
namespace: a key or an id means a segment of this coffer only, so one coffer can
neither find nor attach another's. Each :class:`ShmSegment` keeps its bytes in a
:class:`~cofferos.coffers.shmem.ShmemObject`, which ``shmat`` maps into the
caller's address space like a MAP_SHARED mapping; the system calls are in
:mod:`cofferos.coffers.syscalls.shm`.

Ids are made as Linux makes them (``ipc_buildid``): the slot index plus a
sequence number times :data:`SEQ_MULTIPLIER`, so a removed segment's id is not
handed out again at once. The attach count is counted, not kept: it is the number
of areas that map the segment's object in the coffer's live address spaces, as
Linux counts one per area (``shm_open``/``shm_close``). A segment removed with
IPC_RMID lives on, keyless, until its last area goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cofferos.coffers.mm import AddressSpace
    from cofferos.coffers.shmem import ShmemObject

IPC_PRIVATE = 0
SEQ_MULTIPLIER = 32768  #: IPCMNI: ids are index + seq * IPCMNI
SHMMNI = 4096  #: most segments (include/uapi/linux/shm.h)
SHMMIN = 1
SHMMAX = (1 << 64) - 1 - (1 << 24)  #: ULONG_MAX - 2^24, Linux's default
SHMALL = SHMMAX >> 12
SHM_DEST = 0o1000  #: mode bit: removed, awaiting the last detach
SHM_LOCKED = 0o2000  #: mode bit: SHM_LOCK'ed


@dataclass
class ShmSegment:
    """One segment: its key, its bytes and its ``shmid64_ds`` fields."""

    key: int
    shm: ShmemObject
    size: int
    mode: int
    uid: int
    gid: int
    cpid: int
    ctime: int
    seq: int
    cuid: int = 0
    cgid: int = 0
    lpid: int = 0
    atime: int = 0
    dtime: int = 0
    removed: bool = False


@dataclass
class ShmIds:
    """The System V shared memory namespace of one coffer (Linux's ``shm_ids``)."""

    slots: dict[int, ShmSegment] = field(default_factory=dict)
    seq: int = 0
    user_ns: Any = None
    """The user namespace owning the IPC namespace (``ipc_namespace->user_ns``; None:
    the coffer's initial one): CAP_IPC_OWNER and CAP_SYS_ADMIN count there."""
    mq: Any = None
    """The POSIX message queues of this IPC namespace (:class:`cofferos.coffers.mqueue.
    MqNamespace`), made on first use: a new namespace starts with none."""
    detached: list[ShmSegment] = field(default_factory=list)
    """Segments of an IPC namespace that is gone, still attached somewhere: no id or
    key reaches them, shmdt still detaches them."""

    def renew(self, spaces: Iterable[AddressSpace], user_ns: Any) -> ShmIds:
        """This namespace, left to nobody, goes (shm_exit_ns): its segments are removed,
        and live on only while attached; the new, empty one its last process unshares
        into, owned by ``user_ns``, keeps them to detach."""
        for seg in self.slots.values():
            seg.removed, seg.key = True, IPC_PRIVATE
        self.reap(spaces)
        if self.mq is not None:
            self.mq.release()  # its message queues go too, each with its last close
        return ShmIds(user_ns=user_ns, detached=[*self.detached, *self.slots.values()])

    def by_key(self, key: int) -> tuple[int, ShmSegment] | None:
        for index, seg in self.slots.items():
            if seg.key == key and not seg.removed:
                return index, seg
        return None

    def get(self, shmid: int) -> ShmSegment | None:
        """The segment ``shmid`` names, or None (an old id of a reused slot is stale)."""
        if shmid < 0:
            return None
        seg = self.slots.get(shmid % SEQ_MULTIPLIER)
        if seg is None or seg.seq != shmid // SEQ_MULTIPLIER:
            return None
        return seg

    def add(self, seg: ShmSegment) -> int | None:
        """Give ``seg`` a slot; its id, or None when all SHMMNI slots are taken."""
        index = next((i for i in range(SHMMNI) if i not in self.slots), None)
        if index is None:
            return None
        seg.seq = self.seq
        self.seq = (self.seq + 1) % (1 << 15)
        self.slots[index] = seg
        return index + seg.seq * SEQ_MULTIPLIER

    def shmid(self, seg: ShmSegment) -> int:
        index = next(i for i, s in self.slots.items() if s is seg)
        return index + seg.seq * SEQ_MULTIPLIER

    def highest_index(self) -> int:
        return max(self.slots, default=0)

    @staticmethod
    def attaches(seg: ShmSegment, spaces: Iterable[AddressSpace]) -> int:
        """shm_nattch: the areas of ``spaces`` (each counted once) that map ``seg``."""
        seen: set[int] = set()
        count = 0
        for mm in spaces:
            if id(mm) in seen:
                continue
            seen.add(id(mm))
            count += sum(1 for vma in mm.vmas if vma.shm is seg.shm)
        return count

    def reap(self, spaces: Iterable[AddressSpace]) -> None:
        """Forget removed segments that nothing maps any more."""
        live = list(spaces)
        for index, seg in list(self.slots.items()):
            if seg.removed and not self.attaches(seg, live):
                del self.slots[index]
        self.detached = [seg for seg in self.detached if self.attaches(seg, live)]
