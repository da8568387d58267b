"""File mappings' faults: fences past a file's end and over its holes, SIGBUS, truncation.

A file mapping (shared or private) must fault where Linux's ``filemap_fault``
would: past the file's last page (SIGBUS), and in a hole of a sparse file not
yet present (the page is made present and the access retried). The engine's
view of those pages is fenced off (PROT_NONE, while the area keeps its own
protection), so the guest's access stops there and the kernel decides; a change
of the file's size redraws the fences of every mapping of it, and truncation
drops a private mapping's copies past the new end.

:class:`FileMapFaults` is a part of :class:`cofferos.coffers.mm.AddressSpace`; the
file's pages themselves are :mod:`cofferos.coffers.shmem`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofferos.coffers.vma import PROT_NONE, PROT_READ, PROT_WRITE, Vma, page_down, page_up

if TYPE_CHECKING:
    from cofferos.coffers.mm import AddressSpace
    from cofferos.coffers.shmem import ShmemObject


class FileMapFaults:
    """The file mappings of an :class:`~cofferos.coffers.mm.AddressSpace` (a part of it)."""

    def _fence(self: AddressSpace, vma: Vma) -> None:
        """Fence off the pages of a file mapping (shared or private) that lie past the
        file's last page, or in a hole not yet present, in the engine's view (the area
        keeps its protection), so an access there faults: SIGBUS past the end
        (:meth:`past_eof`), a page made present in a hole (:meth:`fault_in`). See
        :mod:`cofferos.coffers.shmem`."""
        shm = vma.shm
        if shm is None or shm.eof is None:
            return
        shm.mappers.add(self)
        last = page_up(shm.eof)
        first = vma.start + max(0, last - vma.offset)
        if first < vma.end:
            self.pages.protect(first, vma.end - first, PROT_NONE)
        for lo, hi in shm.holes(vma.offset, min(vma.offset + vma.length, last)):
            self.pages.protect(vma.start + lo - vma.offset, hi - lo, PROT_NONE)

    def _fault_in_for_kernel(self: AddressSpace, address: int, writing: bool) -> bool:
        return self.fault_in(address, PROT_WRITE if writing else PROT_READ)

    def fault_in(self: AddressSpace, address: int, access: int) -> bool:
        """A fault at ``address`` by ``access`` (a PROT_* bit) that the area allows, in
        a hole of a mapped file: make it present (:meth:`ShmemObject.fault_in`) so the
        access goes through when retried; False if it is no such fault."""
        vma = self.vma_at(address)
        if vma is None or vma.shm is None or not vma.prot & access:
            return False
        return vma.shm.fault_in(vma.shm_offset(page_down(address)))

    def fence_object(self: AddressSpace, shm: ShmemObject) -> None:
        """The file under ``shm`` changed size: redraw the fences of its mappings here.
        A private area's copies past the new end go, as truncation unmaps them
        (unmap_mapping_range with even_cows): grown back, those pages read the file."""
        for vma in self.vmas:
            if vma.shm is shm and vma.private and shm.eof is not None:
                first = vma.start + max(0, page_up(shm.eof) - vma.offset)
                if first < vma.end:
                    self.drop_copies(vma, first, vma.end)
            if vma.shm is shm:
                self.pages.protect(vma.start, vma.length, vma.prot)
                self._fence(vma)

    def past_eof(self: AddressSpace, address: int, access: int) -> bool:
        """Was a guest fault at ``address`` by ``access`` (a PROT_* bit) an access past
        the end of a mapped file, which the area itself allows? Then it is SIGBUS."""
        vma = self.vma_at(address)
        if vma is None or vma.shm is None or vma.shm.eof is None or not vma.prot & access:
            return False
        return vma.shm_offset(page_down(address)) >= page_up(vma.shm.eof)

    def drop_copies(self: AddressSpace, vma: Vma, start: int, end: int) -> None:
        """MADV_DONTNEED on [start, end) of a private file area: the pages copied on
        write go, and the range reads the file's current bytes again."""
        assert vma.shm is not None and vma.private
        self.pages.share(start, end - start, vma.shm.fd, vma.shm_offset(start), private=True)
