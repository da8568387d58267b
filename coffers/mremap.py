"""mremap(2): shrink, grow in place, or move a mapping, and map a shared area again.

Linux's ``mm/mremap.c`` on an :class:`~cofferos.coffers.mm.AddressSpace`: a
mapping shrinks by unmapping its tail, grows in place when the pages after it
are free, and otherwise (with MREMAP_MAYMOVE, or to a MREMAP_FIXED address)
moves: the new area goes on mapping the same object, and a private area's bytes
are copied over, :data:`COPY_CHUNK` at a time. An old length of 0 maps a shared
area's pages a second time.

:class:`Mremap` is a part of :class:`cofferos.coffers.mm.AddressSpace`.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from cofferos.coffers.vma import PAGE_MASK, MmError, page_up

if TYPE_CHECKING:
    from cofferos.coffers.mm import AddressSpace

COPY_CHUNK = 1 << 20


class Mremap:
    """mremap on an :class:`~cofferos.coffers.mm.AddressSpace` (a part of it)."""

    def _duplicate(self: AddressSpace, old: int, new_len: int, may_move: bool,
                   fixed_to: int | None) -> int:
        """mremap with an old length of 0: only a shared area can be mapped again (a
        private one gives EINVAL, as Linux's mremap_to and vma_to_resize do)."""
        vma = self.vma_at(old)
        if vma is None:
            raise MmError(errno.EFAULT)
        if not vma.shared or not may_move:
            raise MmError(errno.EINVAL)
        at = vma.shm_offset(old)
        if fixed_to is not None:
            return self.map_fixed(fixed_to, new_len, vma.prot, vma.name, vma.shm, at)
        return self.map_anywhere(new_len, vma.prot, vma.name, shm=vma.shm, offset=at)

    def move(self: AddressSpace, old: int, old_len: int, new_len: int, may_move: bool,
             fixed_to: int | None) -> int:
        """mremap: shrink, grow in place, or move the mapping (copying its bytes)."""
        old_len, new_len = page_up(old_len), page_up(new_len)
        if old & PAGE_MASK or new_len == 0:
            raise MmError(errno.EINVAL)
        if old_len == 0:  # a second mapping of a shared area's pages (mm/mremap.c)
            return self._duplicate(old, new_len, may_move, fixed_to)
        owners = self.overlapping(old, old + old_len)
        if not self.covered(old, old + old_len) or len(owners) != 1:
            raise MmError(errno.EFAULT)
        vma = owners[0]
        if fixed_to is None and new_len <= old_len:
            self.unmap(old + new_len, old_len - new_len)
            return old
        # An area goes on mapping its object; a private one's bytes are copied over it.
        shm, at, private = vma.shm, vma.shm_offset(old), vma.private
        if fixed_to is None and self.is_free(old + old_len, old + new_len):
            self.map_fixed(old + old_len, new_len - old_len, vma.prot, vma.name,
                           shm, at + old_len, private)
            return old
        if not may_move:
            raise MmError(errno.ENOMEM)
        if fixed_to is not None:
            new = self.map_fixed(fixed_to, new_len, vma.prot, vma.name, shm, at, private)
        else:
            new = self.map_anywhere(new_len, vma.prot, vma.name, shm=shm, offset=at,
                                    private=private)
        for offset in range(0, min(old_len, new_len) if not vma.shared else 0, COPY_CHUNK):
            size = min(COPY_CHUNK, min(old_len, new_len) - offset)
            self.pages.poke(new + offset, self.pages.peek(old + offset, size))
        self.unmap(old, old_len)
        return new
