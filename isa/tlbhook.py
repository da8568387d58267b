"""The virtual TLB's fill hook compiled by numba: the fallback of :file:`native/tlbhook.c`.

Used only without a C compiler (or with ``COFFERSIM_BLOCK_HOOK=numba``), as the
block counter's numba fallback (:mod:`cofferos.isa.native`). What follows is what
both versions do.


With page protection in the TLB (:mod:`cofferos.isa.blockmap`), Unicorn asks a
``UC_HOOK_TLB_FILL`` callback for every page the guest touches after a flush. A
Python callback there costs about 2.3 us a miss, which made a program touching
256 MiB page by page 1.8 times slower than with the engine's own TLB; this hook
is a numba ``cfunc``, as the block counter (:mod:`cofferos.isa.blockcount`), and
answers as :meth:`BlockMap.tlb_answer` does: it looks the page's block up in a
small table of (block base, address of the block's protection array) that the
block map keeps, reads the page's protection, and enters the page at its own
address with its permissions, or at ``TRAP_BIT`` above it when the access is
refused or the page lies outside every block, so that every fault lands at or
above ``TRAP_BIT``, the only range the CPU's fault hook covers (see
:mod:`cofferos.isa.cpu`: a hook on guest addresses would send every store
through Unicorn's slow path).

mmap's ``PROT_READ``/``PROT_WRITE``/``PROT_EXEC`` bits are Unicorn's
``UC_PROT_*`` bits, so a page's protection is its permission set as it stands.
The timing machine's page-fault accounting needs the kernel to see each miss, so
a CPU with ``track_pages`` keeps the Python callback.
"""

from __future__ import annotations

import numba
from numba import types
from unicorn import (
    UC_MEM_FETCH,
    UC_MEM_WRITE,
    UC_PROT_EXEC,
    UC_PROT_READ,
    UC_PROT_WRITE,
)

from cofferos.isa.blockmap import (
    BLOCK_OFFSET_MASK,
    PAGE_SHIFT,
    PROT_NONE,
    TLB_BLOCKS,
    TLB_TABLE,
    TRAP_BIT,
)
from cofferos.isa.native.jit import pointer_cast  # (and numba's cache directory is set there)

PERMS_WORD = 2  #: uc_tlb_entry: uint64 paddr, then the permissions, as 32-bit words


_u64_at = pointer_cast(types.uint64, types.uint64)  #: an integer as a ``uint64*``
_i8_at = pointer_cast(types.uint64, types.int8)  #: a block's protection array
_u64_view = pointer_cast(types.voidptr, types.uint64)  #: a ``void*`` as a ``uint64*``
_u32_view = pointer_cast(types.voidptr, types.uint32)  #: a ``void*`` as a ``uint32*``


@numba.cfunc(types.boolean(types.voidptr, types.uint64, types.int32, types.voidptr,
                           types.voidptr), cache=True)
def tlb_fill_hook(uc, page, access, entry, user_data):  # type: ignore[no-untyped-def]
    """UC_HOOK_TLB_FILL callback: ``user_data`` is the block map's ``tlb_ctl``."""
    ctl = _u64_view(user_data)
    table = _u64_at(ctl[TLB_TABLE])
    base = page & ~numba.uint64(BLOCK_OFFSET_MASK)
    needs = numba.uint32(UC_PROT_READ)
    if access == UC_MEM_WRITE:
        needs = numba.uint32(UC_PROT_WRITE)
    elif access == UC_MEM_FETCH:
        needs = numba.uint32(UC_PROT_EXEC)
    paddr = page | numba.uint64(TRAP_BIT)  # outside every block: a trap
    perms = needs
    for i in range(ctl[TLB_BLOCKS]):
        if table[2 * i] == base:
            prot = _i8_at(table[2 * i + 1])[(page & numba.uint64(BLOCK_OFFSET_MASK))
                                            >> numba.uint64(PAGE_SHIFT)]
            allowed = numba.uint32(prot) if prot > PROT_NONE else numba.uint32(0)
            if allowed & needs != 0:
                paddr = page
                perms = allowed
            break
    _u64_view(entry)[0] = paddr
    _u32_view(entry)[PERMS_WORD] = perms
    return True
