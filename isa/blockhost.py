"""The host memory behind a block map's blocks, as the kernel reaches it.

Shared areas (``MAP_SHARED``, and copy-on-write ``MAP_PRIVATE`` file mappings)
alias one host memory file into every block that maps them
(:meth:`HostAccess.share`, :mod:`cofferos.isa.hostmem`), with no engine change;
fork gives the child's fresh pages the parent's private bytes copy-on-write on
both sides (:meth:`HostAccess.clone_private`, :mod:`cofferos.isa.cowmem`);
:meth:`HostAccess.peek` and :meth:`HostAccess.poke` reach any mapped page
whatever its protection, for the kernel's privileged copies (fork, mremap, the
loader).

:meth:`HostAccess.kept_view` keeps the guest buffers' views of read(2) and write(2)
until the protections change (the kernel's side of a TLB).

:class:`HostAccess` is a part of :class:`~cofferos.isa.blockmap.BlockMap`, which
cuts the address space into blocks and keeps each page's protection; every
range here goes through its ``_host_ranges`` (MemoryFault on an unmapped page).
"""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING

from cofferos.isa.hostmem import alias_file_private, alias_shared

if TYPE_CHECKING:
    from cofferos.isa.blockmap import BlockMap


#: Most views :meth:`HostAccess.kept_view` keeps (all are dropped when there are more).
KEPT_VIEWS = 64


def _send(source: int, offset: int, target: int, at: int, n: int) -> int:
    """Up to ``n`` bytes of file ``source`` from ``offset`` into file ``target`` at ``at``
    by sendfile(2); the bytes sent (fewer at the source's end), 0 if the host refuses."""
    sent = 0
    try:
        os.lseek(target, at, os.SEEK_SET)
        while sent < n:
            got = os.sendfile(target, source, offset + sent, n - sent)
            if got == 0:
                break
            sent += got
    except OSError:
        return sent
    return sent


class HostAccess:
    """The host side of a :class:`~cofferos.isa.blockmap.BlockMap` (a part of it)."""

    def kept_view(self: BlockMap, address: int, size: int, need: int = 0,
                  refuse: int = 0) -> memoryview | None:
        """:meth:`~cofferos.isa.blockmap.BlockMap.user_view`'s answer, kept in
        ``kept_views`` until the protections change: every change of a page's protection
        or mapping (map, protect, unmap, reset) ends in ``flush_tlb``, which forgets them,
        as the engine's TLB forgets its pages. The kernel's TLB for read(2) and write(2)
        (issue #17): a guest's transfers mostly reuse one buffer, and a kept view is one
        dictionary look-up where the page test and the slice cost three times as much
        (read(2) and write(2) read ``kept_views`` first, by this key, saving the call)."""
        key = (address, size, need, refuse)
        view = self.kept_views.get(key)
        if view is None:
            view = self.user_view(address, size, need, refuse)
            if view is not None:
                if len(self.kept_views) >= KEPT_VIEWS:
                    self.kept_views.clear()
                self.kept_views[key] = view
        return view

    def share(self: BlockMap, address: int, length: int, fd: int, offset: int,
              private: bool = False) -> None:
        """Back the mapped pages [address, +length) by host memory file ``fd`` from
        ``offset`` (:mod:`cofferos.isa.hostmem`), shared or (``private``) copy-on-write:
        the engine's regions stay as they are."""
        alias = alias_file_private if private else alias_shared
        for host, n in self._host_ranges(address, length):
            alias(host, n, fd, offset)
            offset += n
        for block, _base, first, end in self._spans(address, length):
            block.backing.mark_shared(first, end, private)  # type: ignore[union-attr]

    def unshare(self: BlockMap, address: int, length: int) -> None:
        """Put fresh private zero pages back under the mapped range [address, +length)."""
        self._host_ranges(address, length)  # MemoryFault if any page is unmapped
        for block, _base, first, end in self._spans(address, length):
            block.backing.unshare(first, end)  # type: ignore[union-attr]

    def clone_private(self: BlockMap, child: BlockMap, address: int, length: int) -> None:
        """fork: ``child``'s pages [address, +length) (mapped, fresh) get this map's
        private bytes there, copy-on-write on both sides (isa/cowmem.py)."""
        self._host_ranges(address, length)
        child._host_ranges(address, length)
        for block, base, first, end in self._spans(address, length):
            runs = block.backing.snapshot(first, end, self.host_charge)  # type: ignore[union-attr]
            child.blocks[base].backing.adopt(runs)  # type: ignore[union-attr]

    def cow_pages(self: BlockMap, copies: bool = True) -> tuple[int, int]:
        """(frozen, copied) pages over every block (:meth:`BlockBacking.cow_pages`)."""
        frozen = copied = 0
        for block in self.blocks.values():
            pages = block.backing.cow_pages(copies)  # type: ignore[union-attr]
            frozen, copied = frozen + pages[0], copied + pages[1]
        return frozen, copied

    def peek(self: BlockMap, address: int, size: int) -> bytes:
        """Mapped guest bytes, whatever their protection (the kernel's privileged view)."""
        if size <= 0:
            return b""
        return b"".join(ctypes.string_at(host, n) for host, n in self._host_ranges(address, size))

    def poke(self: BlockMap, address: int, data: bytes) -> None:
        """Store into mapped guest pages, whatever their protection."""
        offset = 0
        for host, n in self._host_ranges(address, len(data)) if data else ():
            ctypes.memmove(host, data[offset : offset + n], n)
            offset += n

    def poke_file(self: BlockMap, address: int, fd: int, offset: int, length: int) -> int:
        """Store ``length`` bytes of host file ``fd`` from ``offset`` into mapped guest
        pages at ``address``, as :meth:`poke` of what ``pread`` gives; returns the bytes
        stored (fewer at the file's end; OSError if the file cannot be read). Pages
        that are their block's own memory file get the bytes by ``sendfile`` into that
        file: no copy through a Python buffer, and no host page fault per page until
        the guest touches it (the ELF loader's segments, issue #17)."""
        if not length:
            return 0
        stored = 0
        pieces = self._host_ranges(address, length)  # (MemoryFault if any page is unmapped)
        for (host, n), (block, _base, first, end) in zip(pieces, self._spans(address, length),
                                                         strict=True):
            backing = block.backing  # type: ignore[union-attr]
            sent = 0
            if backing.own_pages(first, end):
                sent = _send(fd, offset + stored, backing.files[0].fd, host - block.host, n)
            if sent < n:  # (a page not the own file's, or the host refused sendfile)
                data = os.pread(fd, n - sent, offset + stored + sent)
                ctypes.memmove(host + sent, data, len(data))
                if sent + len(data) < n:
                    return stored + sent + len(data)
            stored += n
        return stored
