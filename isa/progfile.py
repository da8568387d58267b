"""The bytes of a program file, read in bounded pieces: what ``execve`` reads through.

Linux's ``execve`` never reads a whole program: it reads the first
``BINPRM_BUF_SIZE`` bytes, then the program headers, then maps each segment
from the file. :mod:`cofferos.isa.elf` and :mod:`cofferos.isa.loader` do the
same through the two-member :class:`ProgramFile` protocol, so a huge (or huge
and sparse) file costs the host only the pages that are actually loaded, never
its whole size. Three kinds of file satisfy it: bytes in memory
(:class:`BytesFile`, for tests and doctests), a coffer's own inode
(:class:`cofferos.coffers.fs.Inode` has ``size`` and ``read``), and a host file
opened by :func:`open_host_program`, which refuses anything but a regular file
before reading a byte: a FIFO would block forever and ``/dev/zero`` never ends.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from cofferos.errors import ProgramError

#: Open flags for a host program: never block on a FIFO's open, never leak into children.
HOST_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC


class ProgramFile(Protocol):
    """A regular file of known size, read by offset."""

    @property
    def size(self) -> int:
        """st_size: the file's length in bytes."""
        ...

    def read(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer at the end of the file)."""
        ...


class BytesFile:
    """A program already in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, n: int) -> bytes:
        return self.data[offset : offset + n]


class HostProgram:
    """A regular host file, open for ``pread``; made by :func:`open_host_program`."""

    def __init__(self, fd: int, size: int, path: str) -> None:
        self.fd = fd
        self._size = size
        self.path = path

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, n: int) -> bytes:
        n = max(0, min(n, self._size - offset))
        try:
            return os.pread(self.fd, n, offset) if n else b""
        except OSError as exc:
            raise ProgramError(f"{self.path}: cannot read: {os.strerror(exc.errno or 0)}") from None


def _host_error(path: str, exc: OSError) -> ProgramError:
    messages = {errno.ENOENT: "no such file", errno.EACCES: "permission denied",
                errno.EPERM: "permission denied", errno.EISDIR: "is a directory",
                errno.ENOTDIR: "no such file"}
    reason = messages.get(exc.errno or 0) or f"cannot read: {os.strerror(exc.errno or 0)}"
    return ProgramError(f"{path}: {reason}")


@contextmanager
def open_host_program(path: str, max_size: int) -> Iterator[HostProgram]:
    """Open the host file ``path`` as a program: a regular file of at most ``max_size``.

    Everything else is one-line :class:`ProgramError` before a byte is read: a
    directory, a FIFO, a device, a socket, a file larger than the coffer's largest.
    """
    try:
        fd = os.open(path, HOST_OPEN_FLAGS)
    except OSError as exc:
        raise _host_error(path, exc) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ProgramError(f"{path}: is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise ProgramError(f"{path}: not a regular file")
        if st.st_size > max_size:
            raise ProgramError(f"{path}: {st.st_size} bytes, larger than the largest file "
                               f"a coffer holds ({max_size} bytes)")
        yield HostProgram(fd, st.st_size, path)
    finally:
        os.close(fd)

