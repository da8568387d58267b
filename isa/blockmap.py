"""Guest memory as host blocks: one engine region per block, protection per page.

Unicorn's ``uc_mem_map_ptr`` and ``uc_mem_unmap`` cost time in proportion to the
number of regions the engine already holds (about 17 ms a call at 2,500
regions), and ``uc_mem_protect`` on part of a region copies the whole region. So
the engine is never told about mappings, nor about their protection. The
guest's address space is cut into aligned :data:`BLOCK_SIZE` blocks; a block
that holds any mapping is backed by one anonymous host mapping (reserved, not
committed: untouched pages cost nothing) and shown to the engine as ONE region,
readable, writable and executable, mapped with ``uc_mem_map_ptr`` over the
block's host memory. The engine's region count is the number of blocks in use,
whatever the number of mappings or the pattern of their protection (a thread
stack's guard page, 5,000 alternating mprotects).

Each block keeps its pages' protection in a numpy array (:data:`UNMAPPED`,
:data:`PROT_NONE` or mmap ``PROT_*`` bits), and the engine runs in Unicorn's
virtual-TLB mode: a TLB miss is answered from that array, by compiled code
(:mod:`cofferos.isa.tlbhook`, which reads :attr:`BlockMap.tlb_ctl`) or, when the
kernel counts page faults, by :meth:`BlockMap.tlb_answer` in Python. A page that allows the
access is entered in the TLB at its own address; one that does not (unmapped
inside a block, ``PROT_NONE``, read-only written, not executable fetched) is
entered at :data:`TRAP_BIT` above its address, where the engine has no memory,
so the access is reported as an unmapped access at the exact guest address plus
:data:`TRAP_BIT` (see :func:`guest_address`): SIGSEGV with the right ``si_addr``.
Map, unmap and protect then only write the array and flush the engine's TLB;
engine regions change only when a block is first used or left empty.
Unmapped pages are given back to the host (``MADV_DONTNEED``), so they read as
zeros when mapped again, as fresh anonymous memory must.

:meth:`BlockMap.peek` and :meth:`BlockMap.poke` reach any mapped page whatever its
protection, for the kernel's privileged copies (fork, mremap, the loader);
:meth:`BlockMap.accessible` tells the kernel's user copies which pages a user
pointer may reach (mapped, not ``PROT_NONE``), as the engine's region map did.

The kernel's own record of areas (:mod:`cofferos.coffers.mm`) stays as fine as
Linux's; the engine's view is one region per block.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from unicorn import (
    UC_CTL_IO_WRITE,
    UC_CTL_TLB_FLUSH,
    UC_MEM_FETCH,
    UC_MEM_READ,
    UC_MEM_WRITE,
    UC_PROT_ALL,
    UC_PROT_EXEC,
    UC_PROT_NONE,
    UC_PROT_READ,
    UC_PROT_WRITE,
    UC_TLB_CPU,
    UC_TLB_VIRTUAL,
    Uc,
)
from unicorn.unicorn_py3.unicorn import uclib

from cofferos.isa.faults import MemoryFault

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
BLOCK_SIZE = 64 << 20  #: guest bytes per host block; one engine region each
PAGES_PER_BLOCK = BLOCK_SIZE // PAGE_SIZE
BLOCK_OFFSET_MASK = BLOCK_SIZE - 1
UNMAPPED = -1  #: a page's protection when nothing is mapped there
PROT_NONE = 0  #: mapped but inaccessible: kept in the host block, refused by the TLB
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4  # mmap(2) protection bits
#: Added to a refused page's address in the TLB: no engine region lies there (user
#: addresses stay below 2**47, Unicorn's x86-64 physical space reaches 2**52), so the
#: access is reported as unmapped, at the guest address plus this bit.
TRAP_BIT = 1 << 50
TRAP_SHIFT = 50
#: uc_ctl's command word: UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0) of unicorn.h.
CTL_WRITE_SHIFT = 30
TLB_FLUSH_COMMAND = UC_CTL_TLB_FLUSH | UC_CTL_IO_WRITE << CTL_WRITE_SHIFT
#: Words of ``BlockMap.tlb_ctl``, read by the compiled hook (:mod:`cofferos.isa.tlbhook`).
TLB_BLOCKS = 0  #: how many blocks the table lists
TLB_TABLE = 1  #: address of the table: (block base, address of its protection array) rows
TLB_WORDS = 2
#: The permission an access needs, by the access type the TLB hook is given.
ACCESS_NEEDS = {UC_MEM_READ: UC_PROT_READ, UC_MEM_WRITE: UC_PROT_WRITE,
                UC_MEM_FETCH: UC_PROT_EXEC}


def uc_perms(prot: int) -> int:
    """The engine's permission bits for an mmap protection (none for UNMAPPED)."""
    if prot <= PROT_NONE:
        return UC_PROT_NONE
    return ((UC_PROT_READ if prot & PROT_READ else 0) | (UC_PROT_WRITE if prot & PROT_WRITE else 0)
            | (UC_PROT_EXEC if prot & PROT_EXEC else 0))


#: uc_perms of every value a page's protection takes, indexed by protection + 1.
_PERMS_BY_PROT = tuple(uc_perms(prot)
                       for prot in range(UNMAPPED, (PROT_READ | PROT_WRITE | PROT_EXEC) + 1))


def guest_address(engine_address: int) -> int:
    """The guest address of a fault the engine reports (see :data:`TRAP_BIT`)."""
    if engine_address >> TRAP_SHIFT == 1:  # kernel-half addresses have every high bit set
        return engine_address - TRAP_BIT
    return engine_address


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long)
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
MAP_FAILED = ctypes.c_void_p(-1).value
MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)  # reserve address space, commit on touch


def _host_block() -> int:
    """A fresh zero-filled host block: address space only until pages are touched."""
    addr = _libc.mmap(None, BLOCK_SIZE, mmap.PROT_READ | mmap.PROT_WRITE,
                      mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    if addr in (None, MAP_FAILED):
        raise MemoryError("the host refused a guest memory block")
    return int(addr)


@dataclass
class _Block:
    """One aligned block: its host memory (one engine region) and each page's protection."""

    base: int  # the guest address of its first byte
    host: int  # the host address of its first byte
    prot: np.ndarray = field(default_factory=lambda: np.full(PAGES_PER_BLOCK, UNMAPPED,
                                                             dtype=np.int8))


class BlockMap:
    """The engine's memory map for one address space: a region per block (module doc).

    ``virtual_tlb`` says the engine runs in virtual-TLB mode, in which Unicorn 2.1
    trips on ``uc_mem_map_ptr``/``uc_mem_unmap``; region changes then run in the
    engine's own TLB mode, and switching back flushes the TLB.
    """

    def __init__(self, uc: Uc, virtual_tlb: bool = False) -> None:
        self.uc = uc
        self.virtual_tlb = virtual_tlb
        self.blocks: dict[int, _Block] = {}
        self._ctl = uc._uch  # the engine pointer uc_ctl takes
        #: What the compiled TLB hook reads: see TLB_BLOCKS, TLB_TABLE.
        self.tlb_ctl = np.zeros(TLB_WORDS, dtype=np.uint64)
        self._tlb_table = np.zeros((0, 2), dtype=np.uint64)
        self._publish_blocks()

    def _publish_blocks(self) -> None:
        """Give the compiled TLB hook the current blocks (a new table, then its address)."""
        table = np.array([(block.base, block.prot.ctypes.data) for block in self.blocks.values()],
                         dtype=np.uint64).reshape(-1, 2)
        self.tlb_ctl[TLB_BLOCKS] = 0  # never a count beyond the table being replaced
        self.tlb_ctl[TLB_TABLE] = table.ctypes.data
        self.tlb_ctl[TLB_BLOCKS] = len(table)
        self._tlb_table = table  # kept alive while the hook may read it

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

    @contextlib.contextmanager
    def _engine_regions(self) -> Iterator[None]:
        if not self.virtual_tlb:
            yield
            return
        self.uc.ctl_set_tlb_mode(UC_TLB_CPU)
        try:
            yield
        finally:
            self.uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)

    def flush_tlb(self) -> None:
        """Forget every page the engine's TLB holds: protections changed."""
        uclib.uc_ctl(self._ctl, TLB_FLUSH_COMMAND)

    def _new_block(self, base: int) -> _Block:
        block = self.blocks[base] = _Block(base, _host_block())
        with self._engine_regions():
            self.uc.mem_map_ptr(base, BLOCK_SIZE, UC_PROT_ALL, block.host)
        self._publish_blocks()
        return block

    def _release_if_empty(self, block: _Block) -> None:
        if (block.prot == UNMAPPED).all():
            with self._engine_regions():
                self.uc.mem_unmap(block.base, BLOCK_SIZE)
            _libc.munmap(block.host, BLOCK_SIZE)
            del self.blocks[block.base]
            self._publish_blocks()

    def map(self, address: int, length: int, prot: int) -> None:
        """Map fresh zero pages (the range is unmapped: the kernel's mm unmaps first)."""
        for block, base, first, end in self._spans(address, length):
            if block is None:
                block = self._new_block(base)
            block.prot[first:end] = prot
        self.flush_tlb()

    def protect(self, address: int, length: int, prot: int) -> None:
        for block, _base, first, end in self._spans(address, length):
            if block is not None:
                pages = block.prot[first:end]
                pages[pages != UNMAPPED] = prot
        self.flush_tlb()

    def unmap(self, address: int, length: int) -> None:
        """Unmap, and give the pages back to the host so they read as zero next time."""
        for block, _base, first, end in self._spans(address, length):
            if block is None:
                continue
            with self._engine_regions():  # code translated from these pages is stale
                self.uc.ctl_remove_cache(block.base + first * PAGE_SIZE,
                                         block.base + end * PAGE_SIZE)
            block.prot[first:end] = UNMAPPED
            _libc.madvise(block.host + first * PAGE_SIZE, (end - first) * PAGE_SIZE,
                          mmap.MADV_DONTNEED)
            self._release_if_empty(block)
        self.flush_tlb()

    def protection(self, address: int) -> int:
        """The protection of the page holding ``address`` (UNMAPPED if none)."""
        block = self.blocks.get(address - (address & BLOCK_OFFSET_MASK))
        if block is None:
            return UNMAPPED
        return int(block.prot[(address & BLOCK_OFFSET_MASK) >> PAGE_SHIFT])

    def tlb_answer(self, page: int, access: int) -> tuple[int, int]:
        """(engine address, permissions) for a TLB miss on ``page`` by ``access``.

        Outside every block the page is entered as it is, and the engine, which has
        no region there, reports an unmapped access. Inside a block a page that
        refuses the access is entered at :data:`TRAP_BIT` above itself, with just
        that access allowed, so the engine reports it there (module doc).
        """
        block = self.blocks.get(page - (page & BLOCK_OFFSET_MASK))
        if block is None:
            return page, UC_PROT_ALL
        perms = _PERMS_BY_PROT[block.prot[(page & BLOCK_OFFSET_MASK) >> PAGE_SHIFT] + 1]
        needs = ACCESS_NEEDS.get(access, UC_PROT_READ)
        if perms & needs:
            return page, perms
        return page + TRAP_BIT, needs

    def accessible(self, address: int, size: int) -> bool:
        """Whether every page of [address, +size) is mapped and not PROT_NONE: what a
        user pointer the kernel copies through may reach."""
        offset = address & BLOCK_OFFSET_MASK
        if offset + size <= BLOCK_SIZE:  # the usual case: one block
            block = self.blocks.get(address - offset)
            if block is None:
                return False
            first, last = offset >> PAGE_SHIFT, (offset + size - 1) >> PAGE_SHIFT
            if first == last:
                return bool(block.prot[first] > PROT_NONE)
            return bool(block.prot[first : last + 1].min() > PROT_NONE)
        base, end = address - offset, address + size
        while base < end:  # block by block, so a huge bogus size stops at the first hole
            block = self.blocks.get(base)
            if block is None:
                return False
            lo, hi = max(address, base) - base, min(end, base + BLOCK_SIZE) - base
            if block.prot[lo >> PAGE_SHIFT : ((hi - 1) >> PAGE_SHIFT) + 1].min() <= PROT_NONE:
                return False
            base += BLOCK_SIZE
        return True

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

    def reset(self) -> None:
        """Unmap everything and free every host block (execve onto this engine)."""
        for block in list(self.blocks.values()):
            block.prot[:] = UNMAPPED
            self._release_if_empty(block)
        self.flush_tlb()
