"""What of a user buffer the guest itself may reach: the kernel's ``access_ok``.

A system call's buffer is the guest's memory only where the guest could touch it:
mapped, not ``PROT_NONE``, and writable for the kernel to store there. These
questions are answered from the block map's per-page protection bytes
(:mod:`cofferos.isa.pagegeometry`), without the engine: :meth:`UserAccess.reachable`
and :meth:`UserAccess.accessible` (after the kernel faults in a mapped file's hole)
say how much of a range may be used, and :meth:`UserAccess.user_view` gives the
host bytes of a small buffer for a copy that needs no engine call
(:mod:`cofferos.coffers.syscalls.uaccess`).

:class:`UserAccess` is a part of :class:`~cofferos.isa.blockmap.BlockMap`, which
keeps the blocks and their protections.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofferos.isa.pagegeometry import (
    BLOCK_OFFSET_MASK,
    BLOCK_SIZE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_NONE,
    PROT_WRITE,
    UNMAPPED_BYTE,
)

if TYPE_CHECKING:
    from cofferos.isa.blockmap import BlockMap

ADDRESS_LIMIT = 1 << 64  #: no guest range reaches past the 64-bit address space
SCALAR_CHECK_BYTES = 4 * PAGE_SIZE  #: ranges up to this size are checked page by page
#: ``bytes.translate`` tables over the protection bytes: 1 where a page refuses a read
#: (unmapped or PROT_NONE), or a write (also not PROT_WRITE).
_DENIES_READ = bytes(int(byte == UNMAPPED_BYTE or byte == PROT_NONE) for byte in range(256))
_DENIES_WRITE = bytes(int(byte == UNMAPPED_BYTE or not byte & PROT_WRITE) for byte in range(256))


class UserAccess:
    """The kernel's view of a :class:`~cofferos.isa.blockmap.BlockMap`'s user buffers
    (a part of it)."""

    def accessible(self: BlockMap, address: int, size: int, writing: bool = False) -> int:
        """:meth:`reachable`, after the kernel's :attr:`fault_in` made what it could of
        the range reachable (a hole of a mapped file touched by a system call)."""
        done = self.reachable(address, size, writing)
        while done < size and self.fault_in is not None and self.fault_in(address + done,
                                                                          writing):
            done = self.reachable(address, size, writing)
        return done

    def reachable(self: BlockMap, address: int, size: int, writing: bool = False) -> int:
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
            denied = block.prot[first:end].tobytes().translate(
                _DENIES_WRITE if writing else _DENIES_READ).find(1)
            if denied >= 0:
                done = max(done, base + (first + denied) * PAGE_SIZE)
                break
            done = min(address + size, base + end * PAGE_SIZE)
        return done - address

    def user_view(self: BlockMap, address: int, size: int, need: int = 0,
                  refuse: int = 0) -> memoryview | None:
        """The host bytes of [address, +size), for a copy to or from the guest without
        an engine call, when every page is mapped, not PROT_NONE, has the protection
        bits ``need`` and none of ``refuse``, and the range is a few pages of one block
        (most system call buffers); None otherwise (the caller takes the engine path).

        A store the kernel makes here bypasses the engine, which would drop code
        translated from the page: callers storing pass ``refuse=PROT_EXEC``, and
        :meth:`protect` drops the code of pages that stop being executable."""
        offset = address & BLOCK_OFFSET_MASK
        if not 0 < size <= SCALAR_CHECK_BYTES or offset + size > BLOCK_SIZE or address < 0:
            return None
        block = self.blocks.get(address - offset)  # a block in the map has its memory
        if block is None:
            return None
        prot = block.prot_items
        page, last = offset >> PAGE_SHIFT, (offset + size - 1) >> PAGE_SHIFT
        while True:
            bits = prot[page]
            if bits <= PROT_NONE or bits & need != need or bits & refuse:
                return None
            if page == last:
                return block.memory[offset : offset + size]  # type: ignore[index]
            page += 1

    def _accessible_in_block(self: BlockMap, base: int, offset: int, size: int,
                             writing: bool) -> int:
        """:meth:`accessible` for a few pages of one block, page by page: most system
        call buffers are small, and a vector operation costs more than the loop."""
        block = self.blocks.get(base)
        if block is None:
            return 0
        prot = block.prot_items  # signed: UNMAPPED reads -1
        page, last = offset // PAGE_SIZE, (offset + size - 1) // PAGE_SIZE
        while page <= last:
            bits = prot[page]
            if bits <= PROT_NONE or (writing and not bits & PROT_WRITE):
                return max(0, page * PAGE_SIZE - offset)
            page += 1
        return size
