"""Guest memory as host blocks, mapped into Unicorn in as few regions as possible.

Unicorn's ``uc_mem_map`` costs time in proportion to the number of regions the
engine already holds (8,000 one-page mmaps took minutes), and ``uc_mem_protect``
on part of a region copies the whole region. So the engine is never told about
mappings one by one. Instead the guest's address space is cut into aligned
:data:`BLOCK_SIZE` blocks; a block that holds any mapping is backed by one
anonymous host mapping (reserved, not committed: untouched pages cost nothing),
and the engine sees, per block, one region per run of pages with the same
protection, mapped with ``uc_mem_map_ptr`` over the block's host memory. A
change (map, unmap, protect) recomputes the runs of the blocks it touches and
tells the engine only about the runs that differ: growing the heap or adding a
page next to another of the same protection replaces one region by a larger
one, moving no bytes, because the bytes live in the host block, not in the
engine. Unmapped pages are given back to the host (``MADV_DONTNEED``), so they
read as zeros when mapped again, as fresh anonymous memory must.

``PROT_NONE`` pages (thread stacks' guard pages, reservations) are not shown to
the engine at all: a guest access faults as on an unmapped page (SIGSEGV either
way), and a stack next to its guard is one region, not two. Their bytes stay in
the host block; :meth:`BlockMap.peek` and :meth:`BlockMap.poke` reach any mapped
page whatever its protection, for the kernel's privileged copies (fork, mremap,
the loader), as Unicorn's own ``mem_read``/``mem_write`` do for mapped regions.

The kernel's own record of areas (:mod:`cofferos.coffers.mm`) stays as fine as
Linux's; only the engine's view is coarse.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

import numpy as np
from unicorn import Uc

from cofferos.isa.cowmem import BlockBacking
from cofferos.isa.faults import MemoryFault
from cofferos.isa.hostmem import alias_shared

PAGE_SIZE = 4096
BLOCK_SIZE = 64 << 20  #: guest bytes per host block; one engine region per run inside it
PAGES_PER_BLOCK = BLOCK_SIZE // PAGE_SIZE
UNMAPPED = -1  #: a page's protection when nothing is mapped there
PROT_NONE = 0  #: mapped but inaccessible: kept in the host block, absent from the engine
PROT_WRITE = 2  #: mmap(2)'s write bit: what a kernel copy to the guest needs
ADDRESS_LIMIT = 1 << 64  #: no guest range reaches past the 64-bit address space
SCALAR_CHECK_BYTES = 4 * PAGE_SIZE  #: ranges up to this size are checked page by page


@dataclass
class _Block:
    """One aligned block: its host memory, each page's protection, its engine regions."""

    base: int  # the guest address of its first byte
    host: int  # the host address of its first byte
    prot: np.ndarray = field(default_factory=lambda: np.full(PAGES_PER_BLOCK, UNMAPPED,
                                                             dtype=np.int8))
    regions: set[tuple[int, int, int]] = field(default_factory=set)  # (first page, end, prot)
    backing: BlockBacking | None = None  #: the host memory's pages (isa/cowmem.py)

    def runs(self) -> set[tuple[int, int, int]]:
        """Maximal runs of mapped pages with equal protection, as (first page, end, prot)."""
        prot = self.prot
        edges = np.flatnonzero(np.diff(prot)) + 1
        starts = np.concatenate(([0], edges))
        ends = np.concatenate((edges, [PAGES_PER_BLOCK]))
        return {(int(s), int(e), int(prot[s])) for s, e in zip(starts, ends, strict=True)
                if prot[s] > PROT_NONE}


class BlockMap:
    """The engine's memory map for one address space, kept coarse (see the module doc).

    ``uc_prot`` turns mmap PROT_* bits into the engine's; the caller wraps each call
    in whatever the engine needs around memory-map changes (its TLB mode).
    """

    def __init__(self, uc: Uc, uc_prot: object) -> None:
        self.uc = uc
        self.uc_prot = uc_prot
        self.blocks: dict[int, _Block] = {}

    def _spans(self, address: int, length: int) -> list[tuple[_Block | None, int, int, int]]:
        """(block or None, base, first page, end page) per block [address, +length) touches."""
        out = []
        end = address + length
        base = address - address % BLOCK_SIZE
        while base < end:
            lo, hi = max(address, base), min(end, base + BLOCK_SIZE)
            out.append((self.blocks.get(base), base, (lo - base) // PAGE_SIZE,
                        (hi - base + PAGE_SIZE - 1) // PAGE_SIZE))
            base += BLOCK_SIZE
        return out

    def _sync(self, block: _Block) -> None:
        """Tell the engine about the runs that changed: unmap the old, map the new."""
        new = block.runs()
        for first, end, _prot in block.regions - new:
            self.uc.mem_unmap(block.base + first * PAGE_SIZE, (end - first) * PAGE_SIZE)
        for first, end, prot in new - block.regions:
            self.uc.mem_map_ptr(block.base + first * PAGE_SIZE, (end - first) * PAGE_SIZE,
                                self.uc_prot(prot),  # type: ignore[operator]
                                block.host + first * PAGE_SIZE)
        block.regions = new
        if not new and (block.prot == UNMAPPED).all():
            block.backing.close()  # type: ignore[union-attr]
            del self.blocks[block.base]

    def map(self, address: int, length: int, prot: int) -> None:
        """Map fresh zero pages (the range is unmapped: the kernel's mm unmaps first)."""
        for block, base, first, end in self._spans(address, length):
            if block is None:
                backing = BlockBacking(BLOCK_SIZE)
                block = self.blocks[base] = _Block(base, backing.host, backing=backing)
            block.prot[first:end] = prot
            self._sync(block)

    def protect(self, address: int, length: int, prot: int) -> None:
        for block, _base, first, end in self._spans(address, length):
            if block is not None:
                block.prot[first:end] = np.where(block.prot[first:end] == UNMAPPED,
                                                 UNMAPPED, prot)
                self._sync(block)

    def unmap(self, address: int, length: int) -> None:
        """Unmap, and give the pages back to the host so they read as zero next time."""
        for block, _base, first, end in self._spans(address, length):
            if block is None:
                continue
            block.prot[first:end] = UNMAPPED
            block.backing.zero(first, end)  # type: ignore[union-attr]
            self._sync(block)

    def share(self, address: int, length: int, fd: int, offset: int) -> None:
        """Back the mapped pages [address, +length) by host memory file ``fd`` from
        ``offset`` (:mod:`cofferos.isa.hostmem`): the engine's regions stay as they are."""
        for host, n in self._host_ranges(address, length):
            alias_shared(host, n, fd, offset)
            offset += n
        for block, _base, first, end in self._spans(address, length):
            block.backing.mark_shared(first, end)  # type: ignore[union-attr]

    def unshare(self, address: int, length: int) -> None:
        """Put fresh private zero pages back under the mapped range [address, +length)."""
        self._host_ranges(address, length)  # MemoryFault if any page is unmapped
        for block, _base, first, end in self._spans(address, length):
            block.backing.unshare(first, end)  # type: ignore[union-attr]

    def clone_private(self, child: BlockMap, address: int, length: int) -> None:
        """fork: ``child``'s pages [address, +length) (mapped, fresh) get this map's
        private bytes there, copy-on-write on both sides (isa/cowmem.py)."""
        self._host_ranges(address, length)
        child._host_ranges(address, length)
        for block, base, first, end in self._spans(address, length):
            runs = block.backing.snapshot(first, end)  # type: ignore[union-attr]
            child.blocks[base].backing.adopt(runs)  # type: ignore[union-attr]

    def _host_ranges(self, address: int, size: int) -> list[tuple[int, int]]:
        """(host address, length) pieces of [address, +size); MemoryFault if any page of it
        is unmapped (writing there would break the zero-on-map guarantee)."""
        pieces = []
        for block, base, first, end in self._spans(address, size):
            if block is None or (block.prot[first:end] == UNMAPPED).any():
                raise MemoryFault(address, size)
            lo = max(address, base)
            hi = min(address + size, base + BLOCK_SIZE)
            pieces.append((block.host + lo - base, hi - lo))
        return pieces

    def peek(self, address: int, size: int) -> bytes:
        """Mapped guest bytes, whatever their protection (the kernel's privileged view)."""
        if size <= 0:
            return b""
        return b"".join(ctypes.string_at(host, n) for host, n in self._host_ranges(address, size))

    def poke(self, address: int, data: bytes) -> None:
        """Store into mapped guest pages, whatever their protection."""
        offset = 0
        for host, n in self._host_ranges(address, len(data)) if data else ():
            ctypes.memmove(host, data[offset : offset + n], n)
            offset += n

    def accessible(self, address: int, size: int, writing: bool = False) -> int:
        """How many bytes of [address, +size) the guest itself may access, from the start.

        ``writing`` asks for PROT_WRITE; reading needs only a mapped page that is not
        PROT_NONE (on x86 every present page is readable). A read-only query of the
        per-page protections for the kernel's ``access_ok``
        (:mod:`cofferos.coffers.syscalls.uaccess`); 0 past the address space."""
        if size <= 0:
            return 0
        if address < 0 or address + size > ADDRESS_LIMIT:
            return 0
        offset = address % BLOCK_SIZE
        if offset + size <= BLOCK_SIZE and size <= SCALAR_CHECK_BYTES:
            return self._accessible_in_block(address - offset, offset, size, writing)
        done = address
        for block, base, first, end in self._spans(address, size):
            if block is None:
                break
            prot = block.prot[first:end]
            denied = prot <= PROT_NONE
            if writing:
                denied |= (prot & PROT_WRITE) == 0
            denied = np.flatnonzero(denied)
            if denied.size:
                done = max(done, base + (first + int(denied[0])) * PAGE_SIZE)
                break
            done = min(address + size, base + end * PAGE_SIZE)
        return done - address

    def _accessible_in_block(self, base: int, offset: int, size: int, writing: bool) -> int:
        """:meth:`accessible` for a few pages of one block, page by page: most system
        call buffers are small, and a vector operation costs more than the loop."""
        block = self.blocks.get(base)
        if block is None:
            return 0
        prot = block.prot
        page, last = offset // PAGE_SIZE, (offset + size - 1) // PAGE_SIZE
        while page <= last:
            bits = int(prot[page])
            if bits <= PROT_NONE or (writing and not bits & PROT_WRITE):
                return max(0, page * PAGE_SIZE - offset)
            page += 1
        return size

    def reset(self) -> None:
        """Unmap everything and free every host block (execve onto this engine)."""
        for block in list(self.blocks.values()):
            block.prot[:] = UNMAPPED
            self._sync(block)
