"""The address space of a process: its memory areas (VMAs), brk and mmap placement.

Like Linux's ``mm_struct``, an :class:`AddressSpace` records which ranges of the
guest's virtual memory are mapped, with what protection and for what purpose
(``[stack]``, ``[heap]``, the program's file, anonymous memory), and keeps the
emulated CPU's page mappings in step with that record. The system calls in
:mod:`cofferos.coffers.syscalls.mmap` are thin wrappers over these methods.

Placement is deterministic, with no randomisation: ``mmap`` without a hint takes
the highest free gap below :data:`MMAP_TOP`, just as Linux's top-down allocator
does with ASLR turned off. Private mappings count against the coffer's memory
limit; past it, calls fail with ENOMEM and the simulator goes on. After a fork,
as a memory cgroup charges resident pages, the pages parent and child share
copy-on-write are charged once, by the host files that hold them, and a copy
when the host makes it (:meth:`AddressSpace.settle_cow`).

The areas themselves are :mod:`cofferos.coffers.vma`'s; an address space's file
mappings fault as :mod:`cofferos.coffers.filemap` says, and mremap is
:mod:`cofferos.coffers.mremap`'s (each a base class of :class:`AddressSpace`).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cofferos.coffers.filemap import FileMapFaults
from cofferos.coffers.mremap import COPY_CHUNK as COPY_CHUNK  # (re-exported: mmap uses it)
from cofferos.coffers.mremap import Mremap
from cofferos.coffers.vma import PAGE_MASK, PAGE_SIZE, PROT_EXEC, MmError, Vma, merge_vmas, page_up

if TYPE_CHECKING:
    from cofferos.coffers.shmem import ShmemObject

#: Top of the mmap area: just below the stack gap, as Linux places mmap_base.
MMAP_TOP = 0x7FFFF7FFF000
#: Lowest address mmap hands out without MAP_FIXED (Linux's vm.mmap_min_addr).
MMAP_MIN = 0x10000
#: Highest user address + 1 on x86-64 with 4-level paging.
USER_TOP = 0x800000000000
#: vm.max_map_count's default (DEFAULT_MAX_MAP_COUNT, include/linux/mm.h): the most VMAs
#: one address space may hold; a mapping, unmapping or protection change that would
#: leave more fails with ENOMEM.
MAX_MAP_COUNT = 65530
#: Host memory one address space holds beyond its guest pages: its emulator engine,
#: measured at 0.88 MB with Unicorn 2.1.4 after the first translation (with transparent
#: huge pages off, isa/cpu.py), rounded up. A coffer's account is charged it as a memory
#: cgroup charges a process's kernel memory (page tables, kernel stack), so the memory
#: limit bounds what a coffer's processes hold of the host, asleep or not.
ENGINE_BYTES = 1 << 20


class PageMapper(Protocol):
    """What the address space needs from the CPU (see :class:`cofferos.isa.cpu.Cpu`)."""

    def map(self, address: int, length: int, prot: int) -> None: ...
    def unmap(self, address: int, length: int) -> None: ...
    def code_changed(self) -> None: ...
    def protect(self, address: int, length: int, prot: int) -> None: ...
    def read(self, address: int, size: int) -> bytes: ...
    def write(self, address: int, data: bytes) -> None: ...
    def peek(self, address: int, size: int) -> bytes: ...
    def poke(self, address: int, data: bytes) -> None: ...
    def poke_file(self, address: int, fd: int, offset: int, length: int) -> int: ...
    def share(self, address: int, length: int, fd: int, offset: int,
              private: bool = False) -> None: ...
    def unshare(self, address: int, length: int) -> None: ...
    def clone_private(self, child: PageMapper, address: int, length: int) -> None: ...
    def cow_pages(self, copies: bool = True) -> tuple[int, int]: ...


@dataclass
class MemoryAccount:
    """The coffer-wide memory budget every address space of the coffer draws on."""

    limit_bytes: int
    used_bytes: int = 0
    pool: MemoryAccount | None = None
    """The kernel-wide RAM this account also draws on (a shared kernel's), or None."""

    def fits(self, extra: int) -> bool:
        """Would ``extra`` more bytes stay within this account and its pool?"""
        if self.used_bytes + extra > self.limit_bytes:
            return False
        return self.pool is None or extra <= 0 or self.pool.fits(extra)

    def charge(self, nbytes: int) -> None:
        """Take (or, negative, give back) ``nbytes`` here and in the pool."""
        self.used_bytes += nbytes
        if self.pool is not None:
            self.pool.charge(nbytes)

    def try_charge(self, nbytes: int) -> bool:
        """:meth:`charge` ``nbytes`` if they :meth:`fits`; False, taking nothing, if not.
        One call where most growth fits (a file's every appending write, issue #17)."""
        if nbytes > 0 and (self.used_bytes + nbytes > self.limit_bytes
                           or self.pool is not None and not self.pool.fits(nbytes)):
            return False
        self.used_bytes += nbytes
        if self.pool is not None:
            self.pool.charge(nbytes)
        return True


class AddressSpace(FileMapFaults, Mremap):
    """The VMAs of one address space, kept in step with the CPU's page tables."""

    def __init__(self, pages: PageMapper, account: MemoryAccount | int,
                 engine_bytes: int = 0) -> None:
        self.pages = pages
        memory_map = getattr(pages, "memory_map", None)  # the kernel's copies fault in too
        if memory_map is not None:
            memory_map.fault_in = self._fault_in_for_kernel
        self.account = account if isinstance(account, MemoryAccount) else MemoryAccount(account)
        #: What holding this address space costs beyond its pages (:data:`ENGINE_BYTES`
        #: for a coffer's; 0 where no engine stands behind it), charged until release.
        self.engine_bytes = engine_bytes
        self.account.charge(engine_bytes)
        self.vmas: list[Vma] = []
        self.touched: set[int] = set()  #: page numbers the guest has used (first touch = fault)
        #: Pages this address space has faulted in, and those a fork gave it (Linux's
        #: copy_page_range copies the parent's entries): what a fork of it copies
        #: (:attr:`resident_pages`). Counted only while the coffer counts page faults.
        self.faulted_pages = 0
        self.brk_start = 0
        self.brk = 0
        self.max_map_count = MAX_MAP_COUNT
        #: What :meth:`settle_cow` last added to the account (copies less frozen pages);
        #: ``cow``: a fork froze pages here, so there is something to settle.
        self.cow_charge = 0
        self.cow = False

    # -- queries ---------------------------------------------------------------
    @property
    def mapped_bytes(self) -> int:
        return sum(vma.length for vma in self.vmas)

    @property
    def private_bytes(self) -> int:
        """Bytes of private areas: what this address space charges its account (shared
        areas are charged once, by their object: :mod:`cofferos.coffers.shmem`)."""
        return sum(vma.length for vma in self.vmas if not vma.shared)

    @property
    def resident_pages(self) -> int:
        """The pages a fork copies the entries of: :attr:`faulted_pages`, at most the
        private areas' (a child's inherited pages are counted, not tracked one by one, so
        unmapping them in the child subtracts only those it has used itself)."""
        return min(self.faulted_pages, self.private_bytes // PAGE_SIZE)

    def vma_at(self, address: int) -> Vma | None:
        """The area holding ``address``, or None."""
        for vma in self.vmas:
            if vma.start <= address < vma.end:
                return vma
        return None

    def overlapping(self, start: int, end: int) -> list[Vma]:
        return [vma for vma in self.vmas if vma.start < end and start < vma.end]

    def is_free(self, start: int, end: int) -> bool:
        return not self.overlapping(start, end)

    def covered(self, start: int, end: int) -> bool:
        """True when every page of [start, end) is mapped."""
        cursor = start
        for vma in sorted(self.overlapping(start, end), key=lambda v: v.start):
            if vma.start > cursor:
                return False
            cursor = max(cursor, vma.end)
        return cursor >= end

    def protection_at(self, address: int) -> int | None:
        """The protection of the page holding ``address``, or None when unmapped."""
        for vma in self.vmas:
            if vma.start <= address < vma.end:
                return vma.prot
        return None

    def first_touch(self, address: int) -> bool:
        """Record a use of the page holding ``address``; True the first time (a page fault)."""
        page = address // PAGE_SIZE
        if page in self.touched:
            return False
        self.touched.add(page)
        return True

    def find_free(self, length: int) -> int:
        """Highest gap of ``length`` bytes below MMAP_TOP (top-down, like Linux)."""
        ceiling = MMAP_TOP
        for vma in sorted(self.vmas, key=lambda v: v.start, reverse=True):
            if vma.start >= ceiling:
                continue
            if vma.end <= ceiling - length:
                return ceiling - length
            ceiling = min(ceiling, vma.start)
        if ceiling - length >= MMAP_MIN:
            return ceiling - length
        raise MmError(errno.ENOMEM)

    # -- the GuestMemory protocol the ELF loader uses ------------------------------
    def map(self, addr: int, length: int, prot: int, name: str) -> None:
        self.map_fixed(addr, length, prot, name)

    def write(self, addr: int, data: bytes) -> None:
        """The kernel's privileged store: whatever the pages' protection (PROT_NONE too)."""
        self.pages.poke(addr, data)

    def write_file(self, addr: int, fd: int, offset: int, length: int) -> int:
        """:meth:`write` of ``length`` bytes of host file ``fd`` from ``offset``; the bytes
        written (fewer at the file's end). OSError if the file cannot be read."""
        return self.pages.poke_file(addr, fd, offset, length)

    # -- changes ---------------------------------------------------------------------
    def _layout_after(self, start: int, end: int, fill: list[Vma]) -> list[Vma]:
        """The VMAs once [start, end) holds ``fill`` (nothing, if empty), merged: what an
        operation would leave, computed before it is made (for vm.max_map_count)."""
        after: list[Vma] = []
        for vma in self.vmas:
            if vma.end <= start or end <= vma.start:
                after.append(vma)
                continue
            if vma.start < start:
                after.append(vma.piece(vma.start, start))
            if end < vma.end:
                after.append(vma.piece(end, vma.end))
        return merge_vmas(after + fill)

    def _check_map_count(self, after: list[Vma]) -> list[Vma]:
        if len(after) > self.max_map_count:
            raise MmError(errno.ENOMEM)
        return after

    def map_fixed(self, start: int, length: int, prot: int, name: str = "",
                  shm: ShmemObject | None = None, offset: int = 0,
                  private: bool = False, *, inherit: bool = False) -> int:
        """Map [start, start+length) replacing whatever was there (MAP_FIXED semantics):
        fresh private zero pages, or, with ``shm``, that object's pages from ``offset``
        (``private``: copy-on-write, MAP_PRIVATE of a file; charged as private memory,
        since every page may become a copy). ``inherit``: fork's copy of a parent's
        area, which takes no room until copied (:meth:`settle_cow`)."""
        end = start + page_up(length)
        if start & PAGE_MASK or length <= 0 or end > USER_TOP:
            raise MmError(errno.EINVAL)
        replaced = sum(min(v.end, end) - max(v.start, start)
                       for v in self.overlapping(start, end) if not v.shared)
        charge = 0 if shm is not None and not private else end - start
        if not inherit and not self.account.fits(charge - replaced):
            raise MmError(errno.ENOMEM)
        memory_map = getattr(self.pages, "memory_map", None)
        if memory_map is not None and not memory_map.blocks_fit(start, end - start):
            raise MmError(errno.ENOMEM)  # the host blocks' charge is refused (BLOCK_HOST_BYTES)
        area = Vma(start, end, prot, name, shm, offset, private and shm is not None)
        after = self._check_map_count(self._layout_after(start, end, [area]))
        if shm is not None:
            shm.cover(offset, offset + end - start)
        self._unmap(start, end)
        self.pages.map(start, end - start, prot)
        if shm is not None:
            self.pages.share(start, end - start, shm.fd, offset, area.private)
            self._fence(area)
        self.account.charge(charge)
        self.vmas = after
        if self.cow:
            self.settle_cow()
        return start

    def map_anywhere(self, length: int, prot: int, name: str = "", hint: int = 0,
                     shm: ShmemObject | None = None, offset: int = 0,
                     private: bool = False) -> int:
        length = page_up(length)
        if hint and not hint & PAGE_MASK and MMAP_MIN <= hint and hint + length <= USER_TOP:
            if self.is_free(hint, hint + length):
                return self.map_fixed(hint, length, prot, name, shm, offset, private)
        return self.map_fixed(self.find_free(length), length, prot, name, shm, offset, private)

    def unmap(self, start: int, length: int) -> None:
        """Unmap every page of [start, start+length); unmapped holes are fine (munmap).
        ENOMEM if splitting an area would leave more than max_map_count of them."""
        end = start + page_up(length)
        after = self._check_map_count(self._layout_after(start, end, []))
        self._unmap(start, end)
        self.vmas = after
        if self.cow:
            self.settle_cow()

    def _unmap(self, start: int, end: int) -> None:
        """Take [start, end) out of the engine and the account (the VMA list is the caller's)."""
        if any(vma.prot & PROT_EXEC for vma in self.overlapping(start, end)):
            self.pages.code_changed()
        if self.faulted_pages:  # (zap_pte_range: the unmapped pages are resident no more)
            self.faulted_pages = max(0, self.faulted_pages - self._used_pages(start, end))
        if self.touched and self.overlapping(start, end):  # a page mapped anew faults again
            first, last = start // PAGE_SIZE, end // PAGE_SIZE
            self.touched = {page for page in self.touched if not first <= page < last}
        for vma in self.overlapping(start, end):
            cut_start, cut_end = max(vma.start, start), min(vma.end, end)
            if vma.shm is not None:  # the object keeps its bytes; this range gets zeros
                self.pages.unshare(cut_start, cut_end - cut_start)
            self.pages.unmap(cut_start, cut_end - cut_start)
            if not vma.shared:
                self.account.charge(-(cut_end - cut_start))

    def protect(self, start: int, length: int, prot: int) -> None:
        """Change protection of [start, start+length); ENOMEM if any page is unmapped."""
        end = start + page_up(length)
        if not self.covered(start, end):
            raise MmError(errno.ENOMEM)
        changed = [vma.piece(max(vma.start, start), min(vma.end, end), prot)
                   for vma in self.overlapping(start, end)]
        after = self._check_map_count(self._layout_after(start, end, changed))
        for vma in changed:
            self.pages.protect(vma.start, vma.length, prot)
            self._fence(vma)
        self.vmas = after

    def release(self) -> None:
        """The address space is gone (exit or exec): give its bytes back to the account."""
        self.account.charge(-self.private_bytes - self.engine_bytes - self.cow_charge)
        self.engine_bytes = self.cow_charge = 0
        self.vmas = []

    @property
    def charged_bytes(self) -> int:
        """What this address space's private pages are charged now (fork's shared
        pages are their files', :meth:`settle_cow`)."""
        return self.private_bytes + self.cow_charge

    def settle_cow(self, copies: bool = True) -> None:
        """Charge the account what the host holds of this address space's private pages
        since a fork: not the frozen pages it shares with its parent or children (their
        files hold them, charged once: :mod:`cofferos.isa.cowmem`), but each copy the
        host has made of one on a store, the guest's or the kernel's, as a memory
        cgroup charges a copy-on-write fault. Called after every fork, mapping change
        and slice (a store between two calls is charged at the slice's end).
        ``copies=False``: none can have been made (right after a fork's snapshot)."""
        frozen, copied = self.pages.cow_pages(copies)
        charge = (copied - frozen) * PAGE_SIZE
        self.account.charge(charge - self.cow_charge)
        self.cow_charge = charge

    def _used_pages(self, start: int, end: int) -> int:
        """Pages of [start, end)'s private areas the guest has used since they were mapped
        (by whichever TLB path counted them: this object's set or the engine's map)."""
        memory_map = getattr(self.pages, "memory_map", None)
        used = 0
        for vma in self.overlapping(start, end):
            if vma.shared:
                continue
            lo, hi = max(start, vma.start), min(end, vma.end)
            used += sum(1 for page in self.touched if lo // PAGE_SIZE <= page < hi // PAGE_SIZE)
            if memory_map is not None:
                used += memory_map.touched_pages(lo, hi - lo)
        return used

    def copy_into(self, child: AddressSpace) -> None:
        """fork: give ``child`` the same mappings with the same contents.

        Shared areas map the same object in the child. Private areas are
        copy-on-write (:mod:`cofferos.isa.cowmem`): parent and child map the same
        frozen host pages, and the host copies a page when either side first
        stores to it; nothing is copied up front, and the shared pages are charged
        once (:meth:`settle_cow`).
        """
        copied = False
        try:
            for vma in self.vmas:
                child.map_fixed(vma.start, vma.length, vma.prot, vma.name, vma.shm,
                                vma.offset, vma.private, inherit=True)
                if not vma.shared:  # a private file area's pages not yet copied stay the file's
                    self.pages.clone_private(child.pages, vma.start, vma.length)
            copied = True
        except OSError as err:  # the host refused a mapping (its vm.max_map_count)
            raise MmError(errno.ENOMEM) from err
        finally:  # (a whole copy maps every frozen page afresh: no copies on either side)
            self.cow = child.cow = True
            self.settle_cow(copies=not copied)
            child.settle_cow(copies=False)
        child.brk_start, child.brk = self.brk_start, self.brk
        child.faulted_pages = self.resident_pages

    def set_brk(self, requested: int) -> int:
        """Move the program break; returns the new break (the old one on failure), as brk(2)."""
        if requested < self.brk_start:
            return self.brk
        old_top, new_top = page_up(self.brk), page_up(requested)
        try:
            if new_top > old_top:
                if not self.is_free(old_top, new_top):
                    return self.brk
                self.map_fixed(old_top, new_top - old_top, 3, "[heap]")  # PROT_READ|WRITE
            elif new_top < old_top:
                self.unmap(new_top, old_top - new_top)
        except MmError:
            return self.brk
        self.brk = requested
        return self.brk
