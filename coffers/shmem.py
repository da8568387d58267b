"""Shared memory objects: the pages MAP_SHARED, tmpfs, memfd and System V share (mm/shmem.c).

A :class:`ShmemObject` is Linux's shmem inode with its address_space: bytes that
any number of address spaces map at once, so that a store by one process is a
load by another, as across fork, between two processes mapping one /dev/shm
file, or between shmat callers. Its bytes live in a host memory file
(:class:`cofferos.isa.hostmem.HostShmem`); :class:`~cofferos.coffers.mm.AddressSpace`
maps them into a guest by aliasing the host pages under the guest's pages, so
the engine runs on them directly and no copy is ever made.

Who makes one:

* ``mmap(MAP_SHARED | MAP_ANONYMOUS)`` a fresh object per mapping (shmem_zero_setup);
* ``mmap(MAP_SHARED)`` of a regular file, on first use, one object per inode
  (:func:`inode_shmem`): the file's bytes move into it and from then on read(2),
  write(2), truncate and every shared mapping reach the same bytes (a file copied
  in from a host --rootfs was already a copy in memory: the host is never written);
* ``shmget`` (:mod:`cofferos.coffers.syscalls.shm`) one object per segment.

End of file: an object holding a regular file's bytes knows the file's size
(:attr:`ShmemObject.eof`). A page of a mapping that lies wholly past the file's
last page is fenced off in the engine's view, so a guest access there faults
and the kernel raises SIGBUS (BUS_ADRERR), as Linux's shmem_fault does
(mm/filemap.c: "Accessing a page beyond the end of the file gives SIGBUS");
the kernel's own copies through such a pointer are EFAULT. The fence follows
the file: truncation moves it down and growth lifts it, in every address space
that maps the object (:meth:`~cofferos.coffers.mm.AddressSpace.fence_object`).
Anonymous and System V objects have no end of file.

Accounting: an object charges the coffer's memory account (and through it the
kernel-wide pool) for its size once, when it is made or grows, however many
address spaces map it; mappings of it charge nothing. A regular file's object is
charged instead for its *present* ranges (each byte once): the file's data when
it is first mapped, and what a mapping then touches. A hole of the file is
fenced off in every mapping, as the pages past its end are, and the first access
there, by the guest or by the kernel's copy through a user pointer, makes
:data:`FAULT_CHUNK` bytes around it present, charges them, and lifts their fence
(:meth:`ShmemObject.fault_in`, shmem_fault allocating a page); past the memory
limit it stays fenced and the access faults. A 6 GiB sparse file mapped whole
costs the pages the program touches, as on Linux. Bytes write(2) stores into a
hole are present too (charged to the disk quota as the file's). A truncation or
a punched hole makes the pages it frees holes again and gives back their charge
at once (:meth:`ShmemObject.forget`, as truncate_inode_pages uncharges each page);
the rest of the charge is given back when the last holder (a mapping, an inode, a
segment) lets the object go.
"""

from __future__ import annotations

import errno
import weakref
from typing import TYPE_CHECKING

from cofferos.coffers.fs.filedata import SparseData
from cofferos.coffers.mm import PAGE_SIZE, MmError, page_up
from cofferos.isa.hostmem import HostShmem

if TYPE_CHECKING:
    from cofferos.coffers.fs.inode import Inode
    from cofferos.coffers.mm import AddressSpace, MemoryAccount

FAULT_CHUNK = 1 << 20
"""Bytes of a hole one fault makes present (aligned): fewer, dearer faults than a
page each for a program that fills a fresh mapping."""


class _Holding:
    """The host file and the charge of one object: released when the object dies."""

    def __init__(self, host: HostShmem, account: MemoryAccount | None) -> None:
        self.host = host
        self.account = account
        self.charged = 0

    def charge(self, nbytes: int) -> None:
        if self.account is not None:
            self.account.charge(nbytes)
        self.charged += nbytes

    def release(self) -> None:
        self.charge(-self.charged)
        self.host.close()


class ShmemObject:
    """Bytes that several address spaces map; see the module docstring.

    Hashable by identity: shared futexes are keyed by (object, offset).
    """

    def __init__(self, name: str, size: int, account: MemoryAccount | None,
                 by_range: bool = False) -> None:
        self.name = name
        size = page_up(size)
        #: Charged for its present ranges (a file's object) rather than for its size:
        #: the disjoint [start, end) ranges present now, in order; and those of them
        #: charged to the memory account (the rest write(2) stored: the disk quota's).
        self.present_ranges: list[tuple[int, int]] | None = [] if by_range else None
        self.charged_ranges: list[tuple[int, int]] = []
        if account is not None and not by_range and not account.fits(size):
            raise MmError(errno.ENOMEM)
        try:
            self.host = HostShmem(name, size)
        except OSError:  # the host is out of memory files (EMFILE, ENFILE) or memory
            raise MmError(errno.ENOMEM) from None
        self._holding = _Holding(self.host, account)
        self._holding.charge(0 if by_range else size)
        weakref.finalize(self, self._holding.release)
        #: The size of the regular file whose bytes these are; None for anonymous
        #: memory and System V segments, which have no end to map past.
        self.eof: int | None = None
        #: The address spaces that map this object, to move their fences at a
        #: change of :attr:`eof`'s last page (weak: an ended process drops out).
        self.mappers: weakref.WeakSet[AddressSpace] = weakref.WeakSet()

    @property
    def fd(self) -> int:
        """The host memory file a guest mapping aliases (:meth:`AddressSpace.map_fixed`)."""
        return self.host.fd

    @property
    def size(self) -> int:
        return self.host.size

    def cover(self, start: int, end: int) -> None:
        """Make the object at least ``end`` bytes (page-rounded) long, so that a mapping
        of [start, end) has pages under it; ENOMEM past the memory limit. (A file's
        object charges nothing here: its holes are fenced until touched.)"""
        end = page_up(end)
        extra = 0 if self.present_ranges is not None else end - self.host.size
        account = self._holding.account
        if extra > 0 and account is not None and not account.fits(extra):
            raise MmError(errno.ENOMEM)
        if end > self.host.size:
            self.host.resize(end)
        if extra > 0:
            self._holding.charge(extra)

    def make_present(self, start: int, end: int, charge: bool = True) -> bool:
        """[start, end) of a file's object is present from now on (charged, unless
        ``charge`` is False: bytes write(2) stored, which the disk quota holds); True
        if anything was a hole. ENOMEM past the memory limit."""
        if self.present_ranges is None or end <= start:
            return False
        holes = self.holes(start, end)
        extra = sum(hi - lo for lo, hi in holes)
        if extra <= 0:
            return False
        account = self._holding.account
        if charge and account is not None and not account.fits(extra):
            raise MmError(errno.ENOMEM)
        self.present_ranges = _add_range(self.present_ranges, start, end)[1]
        if charge:
            for lo, hi in holes:
                self.charged_ranges = _add_range(self.charged_ranges, lo, hi)[1]
            self._holding.charge(extra)
        return True

    def forget(self, start: int, end: int) -> None:
        """The pages of [start, end) (page-aligned) of a file's object are holes again,
        their bytes gone (truncation, a punched hole): what the memory account was
        charged for them is given back at once, as truncate_inode_pages uncharges
        each page, and their fences go up again in every mapping."""
        if self.present_ranges is None or end <= start:
            return
        gone, self.present_ranges = _remove_range(self.present_ranges, start, end)
        uncharged, self.charged_ranges = _remove_range(self.charged_ranges, start, end)
        self._holding.charge(-uncharged)
        if gone:
            self.refence()

    def holes(self, start: int, end: int) -> list[tuple[int, int]]:
        """The ranges of [start, end) not yet present (fenced in every mapping)."""
        if self.present_ranges is None:
            return []
        out, cursor = [], start
        for lo, hi in self.present_ranges:
            if hi <= cursor:
                continue
            if lo >= end:
                break
            if lo > cursor:
                out.append((cursor, lo))
            cursor = max(cursor, hi)
        if cursor < end:
            out.append((cursor, end))
        return out

    def fault_in(self, offset: int) -> bool:
        """An access to the hole at ``offset`` (inside the file): make the
        :data:`FAULT_CHUNK` around it present and lift its fences; False if it was
        no hole or the memory limit refuses it."""
        if self.eof is None or offset >= page_up(self.eof):
            return False
        start = offset - offset % FAULT_CHUNK
        try:
            if not self.make_present(start, min(start + FAULT_CHUNK, page_up(self.eof))):
                return False
        except MmError:
            return False
        self.refence()
        return True

    def refence(self) -> None:
        """Redraw the fences of every mapping of this object (its holes or end moved)."""
        for mm in list(self.mappers):
            mm.fence_object(self)

    def set_eof(self, size: int) -> None:
        """The file is now ``size`` bytes: move the fences if its last page moved."""
        old, self.eof = self.eof, size
        if old is None or page_up(old) != page_up(size):
            self.refence()

    def read(self, offset: int, n: int) -> bytes:
        return self.host.read(offset, n)

    def write(self, offset: int, data: bytes | memoryview) -> None:
        self.host.write(offset, data)

    def zero(self, offset: int, end: int) -> None:
        """Bytes [offset, end) read as zeros, in every mapping (MADV_REMOVE, truncation)."""
        self.host.zero(offset, end)


def _add_range(ranges: list[tuple[int, int]], start: int,
               end: int) -> tuple[int, list[tuple[int, int]]]:
    """(bytes of [start, end) not in ``ranges``, the ranges with it added, merged)."""
    new = end - start
    merged: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if hi < start or end < lo:
            merged.append((lo, hi))
            continue
        new -= max(0, min(hi, end) - max(lo, start))
        start, end = min(lo, start), max(hi, end)
    merged.append((start, end))
    return new, sorted(merged)


def _remove_range(ranges: list[tuple[int, int]], start: int,
                  end: int) -> tuple[int, list[tuple[int, int]]]:
    """(bytes of ``ranges`` inside [start, end), the ranges without [start, end))."""
    removed, kept = 0, []
    for lo, hi in ranges:
        if hi <= start or end <= lo:
            kept.append((lo, hi))
            continue
        removed += min(hi, end) - max(lo, start)
        if lo < start:
            kept.append((lo, start))
        if end < hi:
            kept.append((end, hi))
    return removed, kept


class ShmemContents:
    """A regular file's bytes kept in a :class:`ShmemObject` (a file mapped shared).

    Answers the few bytearray operations :class:`~cofferos.coffers.fs.inode.Inode`
    makes on its contents (length, slices, slice assignment, extend, delete of a
    tail), so the inode's own code serves read(2), write(2) and truncate unchanged
    while every shared mapping sees the same bytes.
    """

    def __init__(self, shm: ShmemObject, contents: bytes | bytearray | SparseData) -> None:
        self.shm = shm
        if isinstance(contents, SparseData):  # its held pages only: holes stay holes
            for offset, data in contents.runs():
                shm.make_present(offset, page_up(offset + len(data)))
                shm.write(offset, data)
        else:
            shm.make_present(0, page_up(len(contents)))
            shm.write(0, memoryview(contents))
        self._length = len(contents)
        shm.set_eof(self._length)

    @property
    def length(self) -> int:
        """The file's size; every change moves the object's end-of-file fence."""
        return self._length

    @length.setter
    def length(self, size: int) -> None:
        if size != self._length:
            self._length = size
            self.shm.set_eof(size)

    def __len__(self) -> int:
        return self.length

    def held(self) -> int:
        """The host memory the bytes hold (st_blocks, the disk quota's charge): the
        pages written, or touched through a mapping, as tmpfs counts them."""
        return self.shm.host.allocated()

    def new_bytes(self, offset: int, end: int) -> int:
        """At most this many bytes more are held once [offset, end) is written."""
        return page_up(end) - (offset - offset % PAGE_SIZE)

    def _bounds(self, key: slice) -> tuple[int, int]:
        start, stop, step = key.indices(self.length)
        if step != 1:
            raise ValueError("file contents are sliced contiguously")
        return start, max(start, stop)

    def __getitem__(self, key: slice) -> bytes:
        start, stop = self._bounds(key)
        return self.shm.read(start, stop - start)

    def __setitem__(self, key: slice, data: bytes) -> None:
        start, stop = key.start or 0, key.stop if key.stop is not None else self.length
        if stop - start != len(data) or start > self.length:
            raise ValueError("file contents are replaced in place or extended at the end")
        self._store(start, data)
        self.length = max(self.length, stop)

    def extend(self, data: bytes) -> None:
        self._store(self.length, data)
        self.length += len(data)

    def _store(self, start: int, data: bytes) -> None:
        """write(2)'s bytes: present from now on in every mapping (not a hole)."""
        self.shm.write(start, data)
        first = start - start % PAGE_SIZE
        if self.shm.make_present(first, page_up(start + len(data)), charge=False):
            self.shm.refence()

    def __delitem__(self, key: slice) -> None:
        start, _stop = self._bounds(key)
        self.shm.zero(start, self.shm.size)  # a later extension reads zeros there
        self.shm.forget(page_up(start), page_up(max(self.length, self.shm.size)))
        self.length = start

    def punch(self, offset: int, end: int) -> None:
        """FALLOC_FL_PUNCH_HOLE: [offset, end) reads as zeros, whole pages freed."""
        end = min(end, self.length)
        self.shm.zero(offset, end)
        self.shm.forget(page_up(offset), end - end % PAGE_SIZE)

    def data_after(self, offset: int) -> tuple[int, int] | None:
        """(start, end) of the data at or after ``offset``, as the host memory file's
        SEEK_DATA/SEEK_HOLE find it (pages written or touched through a mapping)."""
        return self.shm.host.data_after(offset, self.length)

    def resize(self, size: int) -> None:
        """ftruncate up when the bytes are shared: the hole is the object's own zeros."""
        if size > self.length:
            self.shm.zero(self.length, size)
            self.length = size


def inode_shmem(inode: Inode, account: MemoryAccount | None) -> ShmemObject:
    """The shared memory object of a regular file, made on its first shared mapping;
    the file's bytes move into it (see the module docstring)."""
    if inode.shmem is None:
        shm = ShmemObject(f"inode:{inode.ino}", inode.size, account, by_range=True)

        size = inode.size  # a hole at the end becomes the object's zeros

        def adopt(contents: bytearray) -> ShmemContents:
            store = ShmemContents(shm, contents)
            store.resize(size)
            return store

        inode.move_contents(adopt)  # type: ignore[arg-type]
        inode.shmem = shm
    return inode.shmem
