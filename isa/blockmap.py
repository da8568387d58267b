"""Guest memory as host blocks: one engine region per block, protection per page.

Unicorn's ``uc_mem_map_ptr`` and ``uc_mem_unmap`` cost time in proportion to the
number of regions the engine already holds (about 17 ms a call at 2,500
regions), and ``uc_mem_protect`` on part of a region copies the whole region. So
the engine is never told about mappings, nor about their protection. The
guest's address space is cut into aligned :data:`BLOCK_SIZE` blocks; a block
that holds any mapping is backed by host memory (:mod:`cofferos.isa.cowmem`: a
host memory file, reserved, not committed, so untouched pages cost nothing; fork
shares it copy-on-write) and shown to the engine as ONE region,
readable, writable and executable, mapped with ``uc_mem_map_ptr`` over the
block's host memory. The engine's region count is the number of blocks in use,
whatever the number of mappings or the pattern of their protection (a thread
stack's guard page, 5,000 alternating mprotects).

Each block keeps its pages' protection in a byte array (:data:`UNMAPPED`,
:data:`PROT_NONE` or mmap ``PROT_*`` bits; a ctypes array, :mod:`cofferos.isa.words`,
its range operations done by ``bytes.translate`` and ``find``, so a run need not
import numpy), and the engine runs in Unicorn's
virtual-TLB mode: a TLB miss is answered from that array, by compiled code
(:mod:`cofferos.isa.tlbhook`, which reads :attr:`BlockMap.tlb_ctl`) or, when the
kernel counts page faults, by :meth:`BlockMap.tlb_answer` in Python. A page that allows the
access is entered in the TLB at its own address; one that does not (outside
every block, unmapped inside one, ``PROT_NONE``, read-only written, not
executable fetched) is entered at :data:`TRAP_BIT` above its address, where the
engine has no memory,
so the access is reported as an unmapped access at the exact guest address plus
:data:`TRAP_BIT` (see :func:`guest_address`): SIGSEGV with the right ``si_addr``.
Map, unmap and protect then only write the array and flush the engine's TLB;
engine regions change only when a block is first used or left empty, and a block
left empty keeps its region, parked, for the next map at its base
(:mod:`cofferos.isa.wipe`, which also says what a wiped engine keeps of its code).
Unmapped pages are given back to the host (the backing punches them out), so they
read as zeros when mapped again, as fresh anonymous memory must. The host memory
behind the blocks (shared areas, fork's copy-on-write, the kernel's privileged
copies) is :mod:`cofferos.isa.blockhost`'s; how much of a user buffer the guest
itself may reach (mapped, not ``PROT_NONE``, writable to write), which the kernel's
user copies ask, is :mod:`cofferos.isa.useraccess`'s; the page and block sizes and
the protection byte are :mod:`cofferos.isa.pagegeometry`'s.

The kernel's own record of areas (:mod:`cofferos.coffers.mm`) stays as fine as
Linux's; the engine's view is one region per block.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

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

from cofferos.isa import wipe, words
from cofferos.isa.blockhost import HostAccess
from cofferos.isa.cowmem import BlockBacking, Charge, unmap_ranges
from cofferos.isa.faults import MemoryFault
from cofferos.isa.pagegeometry import (
    BLOCK_OFFSET_MASK,
    BLOCK_SIZE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PAGES_PER_BLOCK,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    UNMAPPED,
    UNMAPPED_BYTE,
)
from cofferos.isa.useraccess import UserAccess

#: What a block holds of the host beyond its pages (arrays, host file mapping, engine
#: region): 73.9 KiB measured (docs/security.md, hostmem bigmap), rounded up. Charged
#: to :attr:`BlockMap.block_account`, as a memory cgroup charges page tables.
BLOCK_HOST_BYTES = 80 << 10
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
#: Address of the table of each block's touched array (a byte per page, 1 once the
#: guest has used it), row by row as TLB_TABLE: the page-fault counting hook's.
TLB_TOUCHED = 2
TLB_TOUCH_FN = 3  #: what that hook calls on a page's first use (the CPU's, see isa/cpu.py)
#: That hook's log of first uses, each the counter's cycles then (isa/touchlog.py): the
#: log's address (0: none), its capacity, the entries in it, and the cycles' address.
TLB_LOG, TLB_LOG_CAP, TLB_LOGGED, TLB_CYCLES = 4, 5, 6, 7
TLB_WORDS = 8
#: The permission an access needs, by the access type the TLB hook is given.
ACCESS_NEEDS = {UC_MEM_READ: UC_PROT_READ, UC_MEM_WRITE: UC_PROT_WRITE,
                UC_MEM_FETCH: UC_PROT_EXEC}


def _no_charge(_nbytes: int) -> None:
    """No kernel keeps an account of this engine's memory (tests, benchmarks)."""


class BlockAccount(Protocol):
    """Where blocks' host cost is charged (a coffer's mm.MemoryAccount)."""

    def fits(self, extra: int) -> bool: ...
    def charge(self, nbytes: int) -> None: ...


def uc_perms(prot: int) -> int:
    """The engine's permission bits for an mmap protection (none for UNMAPPED)."""
    if prot <= PROT_NONE:
        return UC_PROT_NONE
    return ((UC_PROT_READ if prot & PROT_READ else 0) | (UC_PROT_WRITE if prot & PROT_WRITE else 0)
            | (UC_PROT_EXEC if prot & PROT_EXEC else 0))


#: uc_perms of every value a page's protection takes, indexed by protection + 1.
_PERMS_BY_PROT = tuple(uc_perms(prot)
                       for prot in range(UNMAPPED, (PROT_READ | PROT_WRITE | PROT_EXEC) + 1))


_ALL_UNMAPPED = bytes([UNMAPPED_BYTE]) * PAGES_PER_BLOCK
#: ``bytes.translate`` table over the protection bytes: 1 where a page is mapped executable.
_EXECUTABLE = bytes(int(byte != UNMAPPED_BYTE and bool(byte & PROT_EXEC)) for byte in range(256))


@functools.cache
def _reprotect_table(prot: int) -> bytes:
    """The ``bytes.translate`` table that gives every mapped page ``prot`` (mprotect)."""
    return bytes(UNMAPPED_BYTE if byte == UNMAPPED_BYTE else prot for byte in range(256))


def guest_address(engine_address: int) -> int:
    """The guest address of a fault the engine reports (see :data:`TRAP_BIT`)."""
    if engine_address >> TRAP_SHIFT == 1:  # kernel-half addresses have every high bit set
        return engine_address - TRAP_BIT
    return engine_address


@dataclass
class _Block:
    """One aligned block: its host memory (one engine region) and each page's protection."""

    base: int  # the guest address of its first byte
    host: int  # the host address of its first byte
    #: Each page's protection, an int8 the compiled TLB hook reads.
    prot_array: ctypes.Array = field(default_factory=lambda: words.new_array(
        PAGES_PER_BLOCK, words.I8, UNMAPPED))
    #: 1 for each page the guest has used since it was mapped (page faults, isa/cpu.py).
    touched_array: ctypes.Array = field(default_factory=lambda: words.new_array(
        PAGES_PER_BLOCK, words.U8))
    backing: BlockBacking | None = None  #: the host memory's pages (isa/cowmem.py)
    #: The block's host memory as bytes, for the kernel's small copies (see
    #: BlockMap.user_view); dropped before the memory is given back.
    memory: memoryview | None = None
    #: ``prot_array``'s items, signed (UNMAPPED is -1), for one page's test.
    prot_items: memoryview = field(init=False)
    #: ``prot_array``'s bytes (UNMAPPED_BYTE), for range operations on whole slices.
    prot: memoryview = field(init=False)
    touched: memoryview = field(init=False)  #: ``touched_array``'s bytes
    #: Where the block's BLOCK_HOST_BYTES were charged when it was made (given back there).
    account: BlockAccount | None = None

    def __post_init__(self) -> None:
        self.prot_items = words.items(self.prot_array, words.I8)
        self.prot = words.items(self.prot_array, words.U8)
        self.touched = words.items(self.touched_array, words.U8)
        if self.backing is not None:
            host = (ctypes.c_ubyte * BLOCK_SIZE).from_address(self.host)
            self.memory = memoryview(host).cast("B")


class BlockMap(HostAccess, UserAccess):
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
        self._tlb_ctl_array = words.new_array(TLB_WORDS)
        self.tlb_ctl = words.items(self._tlb_ctl_array)
        self._tlb_table = self._touched_table = words.new_array(0)
        self._publish_blocks()
        #: Asked, at a page the guest may not reach, whether the kernel can make it
        #: reachable, (address, writing) -> True to look again: a hole of a mapped file
        #: (:meth:`cofferos.coffers.mm.AddressSpace.fault_in`). None: it cannot.
        self.fault_in: Callable[[int, bool], bool] | None = None
        #: Where a fork charges the frozen pages' host memory (a kernel's memory
        #: account; :meth:`cofferos.isa.cowmem.SnapshotFile.hold`).
        self.host_charge: Charge = _no_charge
        #: Charged BLOCK_HOST_BYTES per block until it is freed; None: nowhere (tests).
        self.block_account: BlockAccount | None = None
        self.kept_views: dict[tuple[int, int, int, int], memoryview] = {}  #: see kept_view
        #: Empty blocks whose engine regions stay mapped, by base (isa/wipe.py), and
        #: their host ranges (reserved, empty; unmapped with the map).
        self.parked: dict[int, _Block] = {}
        self.parked_ranges: list[int] = []
        weakref.finalize(self, unmap_ranges, self.parked_ranges, BLOCK_SIZE)
        #: Guest bytes whose translations were removed since the cache was last emptied
        #: (their translated code stays in the engine's buffer: isa/wipe.py).
        self.code_removed = 0

    @property
    def tlb_ctl_address(self) -> int:
        """Where the compiled TLB hooks find :attr:`tlb_ctl` (their user data)."""
        return words.address(self._tlb_ctl_array)

    def _publish_blocks(self) -> None:
        """Give the compiled TLB hook the current blocks (a new table, then its address)."""
        blocks = list(self.blocks.values())
        rows = [value for block in blocks
                for value in (block.base, words.address(block.prot_array))]
        table = (ctypes.c_uint64 * len(rows))(*rows)
        touched = (ctypes.c_uint64 * len(blocks))(
            *[words.address(block.touched_array) for block in blocks])
        self.tlb_ctl[TLB_BLOCKS] = 0  # never a count beyond the table being replaced
        self.tlb_ctl[TLB_TABLE] = words.address(table)
        self.tlb_ctl[TLB_TOUCHED] = words.address(touched)
        self.tlb_ctl[TLB_BLOCKS] = len(blocks)
        self._tlb_table, self._touched_table = table, touched  # alive while the hook reads

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
    def engine_regions(self) -> Iterator[None]:
        """Change the engine's regions (or its translated code) in its own TLB mode."""
        if not self.virtual_tlb:
            yield
            return
        self.uc.ctl_set_tlb_mode(UC_TLB_CPU)
        try:
            yield
        finally:
            self.uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)

    def flush_tlb(self) -> None:
        """Forget every page the engine's TLB holds, and the kernel's kept views
        (:meth:`kept_view`): protections changed."""
        uclib.uc_ctl(self._ctl, TLB_FLUSH_COMMAND)
        self.kept_views.clear()

    def blocks_fit(self, address: int, length: int) -> bool:
        """Would the block account take the blocks mapping [address, +length) adds?"""
        if self.block_account is None:
            return True
        new = sum(1 for block, *_ in self._spans(address, length) if block is None)
        return self.block_account.fits(new * BLOCK_HOST_BYTES)

    def _new_block(self, base: int) -> _Block:
        block = wipe.unpark(self, base, BLOCK_SIZE)  # (its engine region is mapped)
        if block is None:
            backing = BlockBacking(BLOCK_SIZE)
            block = _Block(base, backing.host, backing=backing)
            with self.engine_regions():
                self.uc.mem_map_ptr(base, BLOCK_SIZE, UC_PROT_ALL, block.host)
        self.blocks[base] = block
        block.account = self.block_account
        if block.account is not None:
            block.account.charge(BLOCK_HOST_BYTES)
        self._publish_blocks()
        return block

    def _release_if_empty(self, block: _Block) -> None:
        if block.prot.tobytes() == _ALL_UNMAPPED:
            if block.account is not None:
                block.account.charge(-BLOCK_HOST_BYTES)
                block.account = None
            del self.blocks[block.base]
            self._publish_blocks()
            if not wipe.park(self, block):
                with self.engine_regions():
                    self.uc.mem_unmap(block.base, BLOCK_SIZE)
                block.memory = None
                block.backing.close()  # type: ignore[union-attr]

    def map(self, address: int, length: int, prot: int) -> None:
        """Map fresh zero pages (the range is unmapped: the kernel's mm unmaps first)."""
        for block, base, first, end in self._spans(address, length):
            if block is None:
                block = self._new_block(base)
            block.prot[first:end] = bytes([prot]) * (end - first)
            block.touched[first:end] = bytes(end - first)  # fresh: first use is a page fault
        self.flush_tlb()

    def protect(self, address: int, length: int, prot: int) -> None:
        for block, _base, first, end in self._spans(address, length):
            if block is not None:
                pages = block.prot[first:end].tobytes()
                if not prot & PROT_EXEC and 1 in pages.translate(_EXECUTABLE):
                    # Code translated from these pages may be stale once the kernel
                    # stores into them directly (user_view refuses executable pages
                    # only): drop it, as unmap does.
                    with self.engine_regions():
                        self.uc.ctl_remove_cache(block.base + first * PAGE_SIZE,
                                                 block.base + end * PAGE_SIZE)
                block.prot[first:end] = pages.translate(_reprotect_table(prot))
        self.flush_tlb()

    def touched_pages(self, address: int, length: int) -> int:
        """How many pages of [address, +length) were used since they were mapped."""
        return sum(block.touched[first:end].tobytes().count(1)
                   for block, _base, first, end in self._spans(address, length)
                   if block is not None and first < end)

    def unmap(self, address: int, length: int) -> None:
        """Unmap, and give the pages back to the host so they read as zero next time."""
        for block, _base, first, end in self._spans(address, length):
            if block is None or first >= end:  # (Unicorn refuses an empty range: UC_ERR_ARG)
                continue
            with self.engine_regions():  # code translated from these pages is stale
                self.uc.ctl_remove_cache(block.base + first * PAGE_SIZE,
                                         block.base + end * PAGE_SIZE)
            block.prot[first:end] = _ALL_UNMAPPED[: end - first]
            block.touched[first:end] = bytes(end - first)
            block.backing.zero(first, end)  # type: ignore[union-attr]
            self._release_if_empty(block)
        self.flush_tlb()

    def protection(self, address: int) -> int:
        """The protection of the page holding ``address`` (UNMAPPED if none)."""
        block = self.blocks.get(address - (address & BLOCK_OFFSET_MASK))
        if block is None:
            return UNMAPPED
        return block.prot_items[(address & BLOCK_OFFSET_MASK) >> PAGE_SHIFT]

    def tlb_answer(self, page: int, access: int) -> tuple[int, int]:
        """(engine address, permissions) for a TLB miss on ``page`` by ``access``.

        A page outside every block, or one that refuses the access, is entered at
        :data:`TRAP_BIT` above itself, with just that access allowed, so the engine,
        which has no memory there, reports an unmapped access there (module doc).
        """
        needs = ACCESS_NEEDS.get(access, UC_PROT_READ)
        block = self.blocks.get(page - (page & BLOCK_OFFSET_MASK))
        if block is None:
            return page | TRAP_BIT, needs
        perms = _PERMS_BY_PROT[block.prot_items[(page & BLOCK_OFFSET_MASK) >> PAGE_SHIFT] + 1]
        if perms & needs:
            return page, perms
        return page | TRAP_BIT, needs

    def _host_ranges(self, address: int, size: int) -> list[tuple[int, int]]:
        """(host address, length) pieces of [address, +size); MemoryFault if any page of it
        is unmapped (writing there would break the zero-on-map guarantee)."""
        pieces = []
        for block, base, first, end in self._spans(address, size):
            if block is None or UNMAPPED_BYTE in block.prot[first:end].tobytes():
                raise MemoryFault(address, size)
            lo = max(address, base)
            hi = min(address + size, base + BLOCK_SIZE)
            pieces.append((block.host + lo - base, hi - lo))
        return pieces

    def reset(self) -> None:
        """Unmap everything and free every host block (execve onto this engine); the
        blocks' engine regions stay, parked (isa/wipe.py)."""
        for block in list(self.blocks.values()):
            block.prot[:] = _ALL_UNMAPPED
            self._release_if_empty(block)
        self.flush_tlb()
