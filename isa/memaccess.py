"""Guest memory as the kernel sees it through a CPU: copy in and out, map, protect.

The kernel's ``copy_from_user`` and ``copy_to_user`` (:meth:`GuestMemory.read`,
:meth:`GuestMemory.write_user`), bounded C strings, and the calls that change an
address space (map, unmap, protect, share a host memory file, copy-on-write for
fork) on the engine's :class:`~cofferos.isa.blockmap.BlockMap`. A few readable
pages of one block are read and written as host memory, with no engine call;
other reads go through our own ctypes prototype of ``uc_mem_read`` into a
preallocated buffer. Any unmapped or PROT_NONE page raises :class:`MemoryFault`.

:class:`GuestMemory` is a part of :class:`~cofferos.isa.cpu.Cpu`, which owns the
engine, its memory map and its block counter.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from unicorn import UC_ERR_OK
from unicorn.unicorn_py3.unicorn import uclib

from cofferos.isa.blockmap import PROT_EXEC, PROT_WRITE
from cofferos.isa.faults import MemoryFault
from cofferos.isa.registers import U64_MASK

if TYPE_CHECKING:
    from cofferos.isa.cpu import Cpu

PAGE_SIZE = 4096
SMALL_READ = 4096  #: reads up to this size reuse one buffer instead of allocating
_u64, _vp, _i32 = ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int
# Our own prototypes on the library's symbols: bytes in, buffers out, no conversion layers.
_mem_read = ctypes.CFUNCTYPE(_i32, _vp, _u64, _vp, _u64)(("uc_mem_read", uclib))
_mem_write = ctypes.CFUNCTYPE(_i32, _vp, _u64, ctypes.c_char_p, _u64)(("uc_mem_write", uclib))


class GuestMemory:
    """The address space of a :class:`~cofferos.isa.cpu.Cpu` (a part of it)."""

    def read(self: Cpu, address: int, size: int) -> bytes:
        """Guest bytes at ``address``; :class:`MemoryFault` if any page is unmapped or
        PROT_NONE (the engine's one region per block would read those too)."""
        if size <= 0:
            return b""
        view = self.memory_map.user_view(address, size)
        if view is not None:  # a few readable pages of one block: no engine call
            return bytes(view)
        if self.memory_map.accessible(address, size) < size:  # before allocating for the guest
            raise MemoryFault(address, size)
        if size <= SMALL_READ:  # most reads: block bytes, strings, small structs
            buf = self._read_buffer
            if _mem_read(self._handle, address, buf, size) != UC_ERR_OK:
                raise MemoryFault(address, size)
            return ctypes.string_at(buf, size)
        big = ctypes.create_string_buffer(size)
        if _mem_read(self._handle, address, big, size) != UC_ERR_OK:
            raise MemoryFault(address, size)
        return big.raw

    def write(self: Cpu, address: int, data: bytes) -> None:
        """Store ``data`` at ``address``; :class:`MemoryFault` if any page is unmapped or
        PROT_NONE."""
        view = self.memory_map.user_view(address, len(data), refuse=PROT_EXEC)
        if view is not None:  # no engine call (never onto code: see BlockMap.user_view)
            view[:] = data
            return
        if data and self.memory_map.accessible(address, len(data)) < len(data):
            raise MemoryFault(address, len(data))
        if data and _mem_write(self._handle, address, data, len(data)) != UC_ERR_OK:
            raise MemoryFault(address, len(data))

    def write_user(self: Cpu, address: int, data: bytes) -> None:
        """Store ``data`` as the guest would: :class:`MemoryFault` unless every page is
        writable (the kernel's ``copy_to_user``)."""
        view = self.memory_map.user_view(address, len(data), PROT_WRITE, PROT_EXEC)
        if view is not None:
            view[:] = data
            return
        if data and self.memory_map.accessible(address, len(data), True) < len(data):
            raise MemoryFault(address, len(data))
        self.write(address, data)

    def read_u64(self: Cpu, address: int) -> int:
        return int.from_bytes(self.read(address, 8), "little")

    def write_u64(self: Cpu, address: int, value: int) -> None:
        self.write(address, (value & U64_MASK).to_bytes(8, "little"))

    def read_cstring(self: Cpu, address: int, limit: int) -> bytes:
        """A NUL-terminated string of at most ``limit`` bytes (without the NUL).

        Reads page by page so a string ending just before an unmapped page is fine.
        Raises :class:`MemoryFault` on a bad pointer and ``ValueError`` if no NUL
        appears within ``limit`` bytes (the caller answers ENAMETOOLONG or E2BIG).
        """
        out = bytearray()
        while len(out) < limit:
            chunk = min(PAGE_SIZE - (address % PAGE_SIZE), limit - len(out))
            data = self.read(address, chunk)
            end = data.find(b"\0")
            if end >= 0:
                out += data[:end]
                return bytes(out)
            out += data
            address += chunk
        raise ValueError("string too long")

    def map(self: Cpu, address: int, length: int, prot: int) -> None:
        self.memory_map.map(address, length, prot)

    def unmap(self: Cpu, address: int, length: int) -> None:
        self.memory_map.unmap(address, length)

    def peek(self: Cpu, address: int, size: int) -> bytes:
        """Mapped guest bytes whatever their protection (fork's and mremap's copies)."""
        return self.memory_map.peek(address, size)

    def poke(self: Cpu, address: int, data: bytes) -> None:
        """Store into mapped guest memory whatever its protection (the loader, mmap of a
        file, fork's and mremap's copies)."""
        self.memory_map.poke(address, data)

    def poke_file(self: Cpu, address: int, fd: int, offset: int, length: int) -> int:
        """:meth:`poke` of ``length`` bytes of host file ``fd`` from ``offset`` (the loader's
        segments), without a Python copy where it can (:meth:`BlockMap.poke_file`)."""
        return self.memory_map.poke_file(address, fd, offset, length)

    def share(self: Cpu, address: int, length: int, fd: int, offset: int,
              private: bool = False) -> None:
        """Alias mapped guest pages to a host memory file (MAP_SHARED, or copy-on-write
        for a MAP_PRIVATE file mapping; see isa/hostmem.py)."""
        self.memory_map.share(address, length, fd, offset, private)

    def unshare(self: Cpu, address: int, length: int) -> None:
        """Give mapped guest pages private zero memory again (before unmapping shared ones)."""
        self.memory_map.unshare(address, length)

    def clone_private(self: Cpu, child: Cpu, address: int, length: int) -> None:
        """fork: the child's fresh pages get these private bytes, copy-on-write."""
        self.memory_map.clone_private(child.memory_map, address, length)

    def cow_pages(self: Cpu, copies: bool = True) -> tuple[int, int]:
        """(frozen, copied) copy-on-write pages (:meth:`BlockMap.cow_pages`)."""
        return self.memory_map.cow_pages(copies)

    def code_changed(self: Cpu) -> None:
        """Executable memory was unmapped: cached block costs may no longer hold."""
        self.counter.forget_all()

    def protect(self: Cpu, address: int, length: int, prot: int) -> None:
        self.memory_map.protect(address, length, prot)
