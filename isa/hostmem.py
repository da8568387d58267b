"""Host memory that several guest address spaces can hold at once.

Guest memory is host memory (:mod:`cofferos.isa.blockmap`): each 64 MiB guest
block is one private anonymous host mapping, shown to Unicorn with
``uc_mem_map_ptr``. To share pages between address spaces, as Linux does for
MAP_SHARED, tmpfs, memfd and System V segments, the simulator keeps their bytes
in a host memory file (:class:`HostShmem`, made with ``memfd_create``) and maps
that file over the right pages of each block with ``mmap(MAP_SHARED |
MAP_FIXED)`` (:func:`alias_shared`). The host address of every guest page stays
the same, so the engine's regions and cached translations need no change: the
pages under them are simply the file's. :func:`alias_private` puts fresh zero
private memory back at a range when the guest unmaps it.

The kernel's view of these objects (their accounting, their users) is
:mod:`cofferos.coffers.shmem`; this module only holds the host side.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long)
libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long)
MAP_FAILED = ctypes.c_void_p(-1).value
MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)  # reserve address space, commit on touch

PROT_RW = mmap.PROT_READ | mmap.PROT_WRITE
PROT_NONE = 0  #: an inaccessible host reservation (the mmap module lacks the name)
MAP_FIXED = 0x10  #: include/uapi/asm-generic/mman-common.h (the mmap module lacks it)
#: bytes per pread/pwrite (Linux moves a bit less than 2 GiB per call: MAX_RW_COUNT)
IO_CHUNK = 1 << 30
STAT_BLOCK = 512  #: the unit of st_blocks


def fixed_map(host: int, length: int, flags: int, fd: int, offset: int,
              prot: int = PROT_RW) -> None:
    """mmap(MAP_FIXED) of [host, +length) with ``flags`` (read-write unless ``prot``
    says otherwise): OSError if refused."""
    addr = libc.mmap(host, length, prot, flags | MAP_FIXED, fd, offset)
    if addr in (None, MAP_FAILED) or addr != host:
        err = ctypes.get_errno()
        raise OSError(err, f"host mmap over guest memory failed: {os.strerror(err)}")


def reserve_fixed(host: int, length: int) -> None:
    """Make [host, +length) an inaccessible reservation: no pages, nothing readable
    (what a parked block's range holds between two backings, isa/wipe.py)."""
    fixed_map(host, length, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1, 0,
              prot=PROT_NONE)


def alias_shared(host: int, length: int, fd: int, offset: int) -> None:
    """Make [host, +length) the pages of memory file ``fd`` from ``offset`` on."""
    fixed_map(host, length, mmap.MAP_SHARED, fd, offset)


def alias_file_private(host: int, length: int, fd: int, offset: int) -> None:
    """Make [host, +length) a copy-on-write view of memory file ``fd`` from ``offset``:
    a page reads the file (and follows its later writes) until it is first stored
    to, when the host copies it (MAP_PRIVATE of a file, the guest's own semantics)."""
    fixed_map(host, length, mmap.MAP_PRIVATE | MAP_NORESERVE, fd, offset)


def alias_private(host: int, length: int) -> None:
    """Put fresh private zero pages at [host, +length) (reserved, committed on touch)."""
    fixed_map(host, length, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)


class HostShmem:
    """One host memory file: the bytes of a shared memory object, any size, sparse.

    Reads and writes go through ``pread``/``pwrite`` on the file, so they see, and
    are seen by, every mapping of it at once.
    """

    def __init__(self, name: str, size: int = 0) -> None:
        self.fd = os.memfd_create(name, os.MFD_CLOEXEC)
        self.size = 0
        self.resize(size)

    def resize(self, size: int) -> None:
        """Make the file ``size`` bytes long: growth reads as zeros, shrinking drops bytes."""
        if size != self.size:
            os.ftruncate(self.fd, size)
            self.size = size

    def allocated(self) -> int:
        """Bytes of host memory the file's pages hold (its st_blocks)."""
        return os.fstat(self.fd).st_blocks * STAT_BLOCK

    def data_after(self, offset: int, end: int) -> tuple[int, int] | None:
        """(start, stop) of the first run of held pages at or after ``offset`` below
        ``end`` (SEEK_DATA, then SEEK_HOLE), stop clipped to ``end``; None if none."""
        try:
            start = os.lseek(self.fd, offset, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole follows
            return None
        if start >= end:
            return None
        return start, min(end, os.lseek(self.fd, start, os.SEEK_HOLE))

    def read(self, offset: int, n: int) -> bytes:
        """Bytes [offset, +n) of the file; past its end, zeros up to ``n``."""
        chunks = []
        while n > 0:
            piece = os.pread(self.fd, min(n, IO_CHUNK), offset)
            if not piece:
                chunks.append(bytes(n))
                break
            chunks.append(piece)
            offset += len(piece)
            n -= len(piece)
        return b"".join(chunks)

    def write(self, offset: int, data: bytes | memoryview) -> None:
        """Store ``data`` at ``offset`` (the file grows if it ends before)."""
        view = memoryview(data)
        while view:
            done = os.pwrite(self.fd, view[:IO_CHUNK], offset)
            view, offset = view[done:], offset + done
        self.size = max(self.size, offset)

    def zero(self, offset: int, end: int) -> None:
        """Bytes [offset, end) read as zeros (a hole is punched where the host can)."""
        end = min(end, self.size)
        if end > offset:
            try:
                punch_hole(self.fd, offset, end - offset)
            except OSError:
                self.write(offset, bytes(end - offset))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02  # include/uapi/linux/falloc.h


def punch_hole(fd: int, offset: int, length: int) -> None:
    """The bytes [offset, +length) of memory file ``fd`` read as zeros, their pages freed."""
    if libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) != 0:
        raise OSError(ctypes.get_errno(), "fallocate")
