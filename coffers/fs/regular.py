"""A regular file's data: the part of :class:`~cofferos.coffers.fs.inode.Inode` that
holds, reads and writes a file's bytes (a base class of it, in a module of its own
to keep each module short).

A regular file holds its bytes in memory: a ``bytearray`` (most files), page-granular
:class:`~cofferos.coffers.fs.filedata.SparseData` once a hole of :data:`HOLE_MIN` or
more opens in it, or a mapped file's shared memory (:mod:`cofferos.coffers.shmem`). An
imported file's bytes come from a :class:`ContentSource` on first use. Every byte held
is charged to the filesystem's space (``Superblock.space``: the coffer's disk quota),
ENOSPC past it; a write stamps mtime and ctime from the superblock's coarse clock.

read(2) and write(2) of a tmpfs file end here (:mod:`cofferos.coffers.syscalls.read_write`),
the calls guests make most: their common case, a file held whole in a ``bytearray``,
is tested inline where helper calls would cost more than the work (issue #17).
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from .errors import FsError
from .filedata import HOLE_MIN, SparseData

if TYPE_CHECKING:
    from .inode import Superblock

ZERO_CHUNK = 1 << 20
"""punch_hole zeroes this many bytes at a time."""
FILE_TYPE_BITS = 0o170000
"""The type bits of ``st_mode`` (S_IFMT): tested inline where a call to ``stat.S_ISREG``
would cost more than the test."""
S_IFREG = stat.S_IFREG  #: a global: ``stat.S_IFREG`` loads a module attribute, ~30 ns more


class ContentSource(Protocol):
    """Where a regular file's bytes come from until they are first needed."""

    @property
    def size(self) -> int:
        """The size to report before the contents are loaded."""
        ...

    def load(self) -> bytes:
        """Read the whole contents; raises :class:`FsError` on failure."""
        ...


class RegularFile:
    """The regular-file methods of :class:`~cofferos.coffers.fs.inode.Inode`, which
    sets these attributes (see its ``__init__``)."""

    sb: Superblock
    mode: int
    opaque: bool
    host_key: object | None
    mtime_ns: int
    ctime_ns: int
    _data: bytearray | None
    _source: ContentSource | None
    _charged: int
    _sparse_size: int

    if TYPE_CHECKING:  # Inode's own, which these methods call
        @property
        def size(self) -> int: ...
        def touch_modify(self) -> None: ...
        def is_reg(self) -> bool: ...
        def is_dir(self) -> bool: ...

    def attach_content_source(self, source: ContentSource) -> None:
        """Let the contents of this regular file be loaded from ``source`` on first use."""
        self._data = None
        self._source = source

    def move_contents(self, store: Callable[[bytearray], bytearray]) -> None:
        """Hand the file's bytes to ``store``, which keeps them from now on with the
        bytearray operations this class uses (a mapping's memory object). The host
        file's pages stay its pages (``host_key``) until a write or a shared mapping,
        whose stores no longer match them."""
        self._data = store(self._contents())

    def hold_space(self) -> None:
        """Charge the file's size to ``sb.space`` now, before its contents are loaded (a
        program copied in from the host counts on the coffer's disk from the start)."""
        self._settle(self.size)

    def data_size(self) -> int:
        """Bytes from the start of a regular file that hold data; from there to
        ``size`` the file is one hole (SEEK_DATA, SEEK_HOLE)."""
        if self._data is None:
            return self.size
        return min(len(self._data), self.size)

    def _check_regular(self) -> None:
        if stat.S_ISREG(self.mode) and not self.opaque:
            return  # every read and write of a file: one test, no call
        if self.opaque:
            raise FsError(errno.EACCES, "imported host special file")
        if self.is_dir():
            raise FsError(errno.EISDIR)
        if not self.is_reg():
            raise FsError(errno.EINVAL, "not a regular file")

    def _contents(self) -> bytearray:  # or SparseData or ShmemContents (same operations)
        if self._data is None:
            assert self._source is not None
            self._data = bytearray(self._source.load())
            self._source = None
        return self._data

    def read(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset``; past the end of the file gives ``b""``."""
        contents = self._data
        # A file held in memory whole (most reads): _check_regular's and _contents's
        # tests written out, a hole's zeros only for a file that ends in one. Every
        # Python call costs about 0.1 us of a read(2) of a few (issue #17).
        if (type(contents) is bytearray and self.mode & FILE_TYPE_BITS == S_IFREG
                and not self.opaque and offset >= 0 and n >= 0):
            data = bytes(contents[offset : offset + n])
            if self._sparse_size <= len(contents):
                return data
        else:
            self._check_regular()
            if offset < 0 or n < 0:
                raise FsError(errno.EINVAL, "negative offset or count")
            contents = self._contents()
            data = bytes(contents[offset : offset + n])
        hole = min(offset + n, self._sparse_size) - max(offset, len(contents))
        return data + bytes(hole) if hole > 0 else data

    def read_into(self, view: memoryview, offset: int, n: int) -> int:
        """read(2) of up to ``n`` bytes from ``offset`` stored into ``view`` (the guest's
        pages): the bytes read. A file held in memory whole without a hole at its end
        (most) is copied once, from a slice of its bytes, where :meth:`read`'s ``bytes``
        costs a copy and a call more (issue #17). For an ``Inode`` itself: a subclass
        that reads otherwise (a synthetic file) is read with its own :meth:`read`."""
        contents = self._data
        if (type(contents) is bytearray and self.mode & FILE_TYPE_BITS == S_IFREG
                and not self.opaque and offset >= 0 and n >= 0
                and self._sparse_size <= len(contents)):
            data: bytes | bytearray = contents[offset : offset + n]
        else:
            data = self.read(offset, n)
        done = len(data)
        view[:done] = data
        return done

    def write(self, offset: int, data: bytes | memoryview) -> int:
        """Write ``data`` at ``offset``; returns bytes written. A small gap before it is
        filled with zeros, a larger one left a hole (:meth:`_write_paged`). ``data`` may
        be a view of the guest's pages, copied here once (write(2), issue #17; a
        subclass's own write, a synthetic file's, is given bytes)."""
        contents = self._data
        # The checks of _check_regular and _contents written out for a file held in
        # memory whole, the common case of write(2) (issue #17: calls cost time).
        if (type(contents) is not bytearray or self.mode & FILE_TYPE_BITS != S_IFREG
                or self.opaque):
            self._check_regular()
            contents = self._contents()
        if offset < 0:
            raise FsError(errno.EINVAL, "negative offset")
        if not data:
            return 0
        end = offset + len(data)
        sb = self.sb
        if end > sb.max_file_size:
            raise FsError(errno.EFBIG)
        length = len(contents)
        if type(contents) is not bytearray or offset - length >= HOLE_MIN:
            return self._write_paged(offset, end, data)
        space = sb.space
        if space is not None and end > self._charged:  # _settle's growth, written out
            grown = end if end > length else length
            if not space.try_charge(grown - self._charged):
                raise FsError(errno.ENOSPC)
            self._charged = grown
        self.host_key = None  # copied up: no longer the host file's pages
        if offset < length:
            contents[offset:end] = data
        else:  # appending (most writes): extend, a third of a slice store's time
            if offset > length:
                contents.extend(bytes(offset - length))
            contents.extend(data)
        # touch_modify, as file_update_time: the clock is the coarse one
        # (Superblock.now_ns), so the many writes of one tick store one stamp.
        self.mtime_ns = self.ctime_ns = sb.now_ns()
        return len(data)

    def _write_paged(self, offset: int, end: int, data: bytes | memoryview) -> int:
        """write(2) into page-granular data: sparse (a hole of :data:`HOLE_MIN` or more
        before ``offset`` makes the file so) or a mapped file's shared memory. The
        disk quota is charged the pages held, as tmpfs counts blocks."""
        data = bytes(data)  # (the pages keep it: never a view of the guest's)
        contents = self._data
        if type(contents) is bytearray:
            contents = self._data = SparseData(contents)
        if self.sb.space is not None:
            self._settle(contents.held() + contents.new_bytes(offset, end))  # type: ignore[union-attr]
        self.host_key = None
        if offset > len(contents):  # type: ignore[arg-type]
            contents.resize(offset)  # type: ignore[union-attr]
        contents[offset:end] = data  # type: ignore[index]
        if self.sb.space is not None:
            self._settle(contents.held())  # type: ignore[union-attr]  # what it holds now
        self.touch_modify()
        return len(data)

    def held_bytes(self) -> int:
        """Bytes of the file's data that hold memory (st_blocks, the disk quota's charge)."""
        contents = self._data
        if contents is None or type(contents) is bytearray:
            return min(self.size, len(contents) if contents is not None else self.size)
        return contents.held()  # type: ignore[attr-defined]

    def data_after(self, offset: int) -> tuple[int, int] | None:
        """The first run of data (whole pages, clipped to the size) that ends after
        ``offset``, as (start, end); None if only a hole follows (SEEK_DATA/SEEK_HOLE)."""
        contents = self._data
        if contents is not None and type(contents) is not bytearray:
            found = contents.data_after(offset)  # type: ignore[attr-defined]
            return None if found is None else (found[0], min(found[1], self.size))
        end = self.data_size()
        return (0, end) if offset < end else None

    def _settle(self, size: int) -> None:
        """Hold ``size`` bytes of ``sb.space`` for this file (ENOSPC if it grows past it)."""
        space, delta = self.sb.space, size - self._charged
        if space is None or not delta:
            return
        if not space.try_charge(delta):
            raise FsError(errno.ENOSPC)
        self._charged = size

    def allocate(self, end: int) -> None:
        """fallocate: the bytes up to ``end`` are held in memory and space (ENOSPC past it)."""
        self._check_regular()
        contents = self._contents()
        if end <= len(contents):
            return
        if self.sb.space is not None:
            self._settle(end if type(contents) is bytearray
                         else contents.held() + contents.new_bytes(len(contents), end))
        self.host_key = None
        if type(contents) is bytearray:
            contents.extend(bytes(end - len(contents)))
        else:
            contents[len(contents):end] = bytes(end - len(contents))
        self._sparse_size = max(self._sparse_size, end)
        self.touch_modify()

    def punch_hole(self, offset: int, end: int) -> None:
        """FALLOC_FL_PUNCH_HOLE: the range reads as zeros (bytes already in a hole stay
        there: nothing is allocated for them)."""
        self._check_regular()
        contents = self._contents()
        stop = min(end, len(contents))
        if stop <= offset:
            return
        self.host_key = None
        if type(contents) is bytearray and stop - offset >= HOLE_MIN:
            contents = self._data = SparseData(contents)  # whole pages are given back
        if type(contents) is not bytearray:  # sparse, or a mapped file's memory
            contents.punch(offset, stop)  # type: ignore[attr-defined]
            self._settle(contents.held())  # type: ignore[attr-defined]
            self.touch_modify()
            return
        for start in range(offset, stop, ZERO_CHUNK):
            piece = min(stop, start + ZERO_CHUNK)
            contents[start:piece] = bytes(piece - start)
        self.touch_modify()

    def truncate(self, size: int) -> None:
        """Cut or extend the file to ``size`` bytes: growth is a hole, allocating nothing
        (tmpfs's sparse files; a write into the hole fills it up to where it writes)."""
        self._check_regular()
        if size < 0:
            raise FsError(errno.EINVAL, "negative size")
        if size > self.sb.max_file_size:
            raise FsError(errno.EFBIG)
        if size == 0 and self._data is None:
            self._data, self._source = bytearray(), None  # nothing to load from the host
        contents = self._contents()
        self.host_key = None  # copied up, as in write
        if size < len(contents):
            del contents[size:]
        elif not isinstance(contents, bytearray):  # shared memory: the hole is its zeros
            contents.resize(size)  # type: ignore[attr-defined]
        self._sparse_size = size
        if self.sb.space is not None:
            self._settle(len(contents) if type(contents) is bytearray
                         else contents.held())  # type: ignore[attr-defined]
        self.touch_modify()
