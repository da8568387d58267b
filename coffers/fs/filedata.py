"""Sparse file data: a regular file's bytes kept page by page, holes holding nothing.

A regular file's bytes start as one ``bytearray`` (:class:`~.inode.Inode`), which
is fastest for the small files nearly every program writes. A write that leaves a
hole of at least :data:`HOLE_MIN` bytes past the end, or a punched hole, turns the
file into a :class:`SparseData`: a dict of the pages that were written, as tmpfs
keeps its pages in a radix tree, so a file with one byte at 6 GiB holds one page
of host memory and one page of the disk quota (``st_blocks``), and
``SEEK_DATA``/``SEEK_HOLE`` find its holes (:meth:`SparseData.data_after`).

:class:`SparseData` answers the bytearray operations the inode makes (length,
slices, slice assignment, ``extend``, deleting a tail) and a few of its own
(:meth:`~SparseData.resize`, :meth:`~SparseData.punch`, :meth:`~SparseData.held`),
which :class:`~cofferos.coffers.shmem.ShmemContents` answers too.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

PAGE_SIZE = 4096
HOLE_MIN = 1 << 20
"""A write this far past the end leaves a hole instead of filling it with zeros."""


def _page_span(offset: int, end: int) -> range:
    """The page numbers [offset, end) touches."""
    return range(offset // PAGE_SIZE, (end + PAGE_SIZE - 1) // PAGE_SIZE)


class SparseData:
    """A file's bytes by page (module docstring). ``len()`` is the end of its data."""

    def __init__(self, data: bytes | bytearray | memoryview = b"") -> None:
        self.pages: dict[int, bytearray] = {}
        #: :attr:`pages`' numbers in order, kept until a page is added or given back
        #: (None: sort again), so that finding data is a bisection, not a sort.
        self._order: list[int] | None = []
        self._length = 0
        if data:
            self.write(0, data)

    def __len__(self) -> int:
        return self._length

    def held(self) -> int:
        """Bytes of the pages that hold data (st_blocks, the disk quota's charge)."""
        return len(self.pages) * PAGE_SIZE

    def new_bytes(self, offset: int, end: int) -> int:
        """Bytes of pages that writing [offset, end) would add."""
        return sum(PAGE_SIZE for page in _page_span(offset, end) if page not in self.pages)

    def _bounds(self, key: slice) -> tuple[int, int]:
        start, stop, step = key.indices(self._length)
        if step != 1:
            raise ValueError("file contents are sliced contiguously")
        return start, max(start, stop)

    def read(self, offset: int, end: int) -> bytes:
        """Bytes [offset, end) (below ``len()``), holes as zeros."""
        out = bytearray()
        for page in _page_span(offset, end):
            base = page * PAGE_SIZE
            lo, hi = max(offset, base) - base, min(end, base + PAGE_SIZE) - base
            held = self.pages.get(page)
            out += held[lo:hi] if held is not None else bytes(hi - lo)
        return bytes(out)

    def __getitem__(self, key: slice) -> bytes:
        return self.read(*self._bounds(key))

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Store ``data`` at ``offset``, anywhere: a gap before it stays a hole."""
        view = memoryview(data).cast("B")
        end = offset + len(view)
        done = 0
        for page in _page_span(offset, end):
            base = page * PAGE_SIZE
            lo, hi = max(offset, base) - base, min(end, base + PAGE_SIZE) - base
            held = self.pages.get(page)
            if held is None:
                held = self.pages[page] = bytearray(PAGE_SIZE)
                self._order = None
            held[lo:hi] = view[done : done + hi - lo]
            done += hi - lo
        self._length = max(self._length, end)

    def __setitem__(self, key: slice, data: bytes) -> None:
        self.write(key.start or 0, data)

    def extend(self, data: bytes) -> None:
        self.write(self._length, data)

    def __delitem__(self, key: slice) -> None:
        """``del data[size:]``: the file ends at ``size``; later growth reads zeros."""
        size = key.start or 0
        if size >= self._length:
            return
        last = (size + PAGE_SIZE - 1) // PAGE_SIZE
        for page in [page for page in self.pages if page >= last]:
            del self.pages[page]
            self._order = None
        if size % PAGE_SIZE and size // PAGE_SIZE in self.pages:
            tail = self.pages[size // PAGE_SIZE]
            tail[size % PAGE_SIZE :] = bytes(PAGE_SIZE - size % PAGE_SIZE)
        self._length = size

    def resize(self, size: int) -> None:
        """The data grows to ``size`` as a hole (ftruncate up)."""
        self._length = max(self._length, size)

    def punch(self, offset: int, end: int) -> None:
        """[offset, end) reads as zeros; whole pages inside it are given back."""
        end = min(end, self._length)
        for page in _page_span(offset, end):
            held = self.pages.get(page)
            if held is None:
                continue
            base = page * PAGE_SIZE
            lo, hi = max(offset, base) - base, min(end, base + PAGE_SIZE) - base
            if lo == 0 and hi == PAGE_SIZE:
                del self.pages[page]
                self._order = None
            else:
                held[lo:hi] = bytes(hi - lo)

    def data_after(self, offset: int) -> tuple[int, int] | None:
        """Data at or after ``offset``: (start, end) in bytes from the first held page
        that ends after it to the end of that page's run (clipped to ``len()``); None
        if only holes follow (SEEK_DATA, SEEK_HOLE)."""
        order = self._sorted()
        index = bisect.bisect_left(order, offset // PAGE_SIZE)
        if index == len(order):
            return None
        first = last = order[index]
        while index + 1 < len(order) and order[index + 1] == last + 1:
            index, last = index + 1, last + 1
        return first * PAGE_SIZE, min((last + 1) * PAGE_SIZE, self._length)

    def _sorted(self) -> list[int]:
        if self._order is None:
            self._order = sorted(self.pages)
        return self._order

    def runs(self) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) of each run of held pages, in order, clipped to ``len()``."""
        pages = self._sorted()
        first = 0
        while first < len(pages):
            last = first
            while last + 1 < len(pages) and pages[last + 1] == pages[last] + 1:
                last += 1
            base = pages[first] * PAGE_SIZE
            data = b"".join(self.pages[page] for page in pages[first : last + 1])
            yield base, data[: max(0, self._length - base)]
            first = last + 1
