"""Where the bytes of a container image are, and reading its tar streams within a budget.

The lowest part of the image import (:mod:`cofferos.coffers.fs.image` finds the
layers of an archive, :mod:`cofferos.coffers.fs.imagetree` merges them). A *blob*
is where bytes live: the archive on the host (:class:`ArchiveFile`, read by offset
and checked to be the file that was parsed) or memory (:class:`MemoryBlob`, what a
gzip stream was decompressed to). :func:`tar_members` lists a tar stream inside a
blob and gives each regular file a content source that reads its bytes from there
on first use (:class:`MemberContent`), never extracting anything. :class:`Budget`
counts the image's uncompressed bytes against the coffer's disk limit while
streams are read, so a decompression bomb stops at the limit.
"""

from __future__ import annotations

import errno
import gzip
import os
import tarfile
import zlib
from dataclasses import dataclass

from .errors import FsError
from .imagetree import ImageError
from .regular import ContentSource

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAGIC_BYTES = 4
READ_CHUNK = 1 << 20
"""Bytes decompressed or hashed at a time."""


# -- where the bytes are: the archive file, or memory ------------------------------------------

@dataclass(frozen=True)
class ArchiveFile:
    """The image archive on the host, as it was when it was read (its identity)."""

    path: str
    identity: tuple[int, int, int, int]
    """st_dev, st_ino, st_size, st_mtime_ns at import."""

    def read(self, offset: int, size: int) -> bytes:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            raise FsError(errno.EIO, "the image archive is gone") from None
        try:
            if identity(os.fstat(fd)) != self.identity:
                raise FsError(errno.EIO, "the image archive changed since it was read")
            data = os.pread(fd, size, offset)
        finally:
            os.close(fd)
        if len(data) != size:
            raise FsError(errno.EIO, "the image archive is shorter than it was")
        return data


@dataclass(frozen=True)
class MemoryBlob:
    """Bytes decompressed at import (a compressed archive or layer)."""

    data: bytearray

    def read(self, offset: int, size: int) -> bytes:
        return bytes(self.data[offset:offset + size])


Blob = ArchiveFile | MemoryBlob


@dataclass(eq=False)
class MemberContent:
    """The bytes of one file of the image (a ContentSource): ``size`` bytes at ``offset``
    of ``blob``. Compared by identity: it keys the file's pages in a page cache."""

    blob: Blob
    offset: int
    size: int

    def load(self) -> bytes:
        return self.blob.read(self.offset, self.size)


@dataclass(eq=False)
class HeldContent:
    """The bytes of one file, held in memory (a sparse member, read through tarfile)."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def load(self) -> bytes:
        return self.data


class BlobReader:
    """A read-only, seekable file object over ``size`` bytes at ``start`` of a blob
    (what :mod:`tarfile` reads a layer through)."""

    def __init__(self, blob: Blob, start: int, size: int) -> None:
        self.blob, self.start, self.size, self.position = blob, start, size, 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.position
        n = left if n is None or n < 0 else min(n, left)
        if n <= 0:
            return b""
        data = self.blob.read(self.start + self.position, n)
        self.position += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position


def identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


# -- the budget: uncompressed bytes and file sizes ---------------------------------------------

class Budget:
    """The image's uncompressed bytes against the disk limit, and each file's size."""

    def __init__(self, limit: int, max_file_size: int) -> None:
        self.limit, self.max_file_size, self.used = limit, max_file_size, 0

    @property
    def left(self) -> int:
        return self.limit - self.used

    def take(self, nbytes: int, what: str) -> None:
        if nbytes > self.left:
            raise ImageError(f"{what}: the image is larger than the coffer's disk limit of "
                             f"{self.limit:,} bytes (--disk-limit)")
        self.used += nbytes


def decompress(reader: BlobReader, budget: Budget, what: str) -> MemoryBlob:
    """A gzip stream, decompressed into memory, stopping at the budget."""
    stream = gzip.GzipFile(fileobj=reader, mode="rb")  # type: ignore[arg-type]
    data = bytearray()  # grown in place: no second copy at the end
    try:
        while chunk := stream.read(READ_CHUNK):
            data += chunk
            if len(data) > budget.left:
                budget.take(len(data), what)
    except (OSError, EOFError, zlib.error) as err:
        raise ImageError(f"{what}: corrupt gzip data ({err})") from None
    budget.take(len(data), what)
    return MemoryBlob(data)


def open_stream(blob: Blob, start: int, size: int, budget: Budget,
                 what: str) -> tuple[Blob, int, int]:
    """Where the tar stream of ``what`` lies: in place if plain, else decompressed."""
    magic = blob.read(start, min(size, MAGIC_BYTES))
    if magic.startswith(GZIP_MAGIC):
        data = decompress(BlobReader(blob, start, size), budget, what)
        return data, 0, len(data.data)
    if magic == ZSTD_MAGIC:
        raise ImageError(f"{what}: zstd compression is not supported (save the image with "
                         "gzip-compressed or uncompressed layers)")
    budget.take(size, what)
    return blob, start, size


def check_file_size(member: tarfile.TarInfo, max_file_size: int, what: str) -> None:
    if member.isreg() and member.size > max_file_size:
        raise ImageError(f"{what}: member {member.name!r} has {member.size:,} bytes, more "
                         f"than a coffer's largest file ({max_file_size:,})")


def tar_members(blob: Blob, start: int, size: int, budget: Budget,
             what: str) -> list[tuple[tarfile.TarInfo, ContentSource | None]]:
    """Every member of the tar stream at ``start`` with where its bytes are."""
    reader = BlobReader(blob, start, size)
    try:
        archive = tarfile.open(fileobj=reader, mode="r:")  # type: ignore[call-overload]
        members = []
        for member in archive:
            content: ContentSource | None = None
            if member.isreg():
                if not member.issparse() and member.offset_data + member.size > size:
                    raise ImageError(f"{what}: member {member.name!r} runs past the end "
                                     "of the archive (truncated)")
                check_file_size(member, budget.max_file_size, what)
                if member.issparse():  # its holes are filled in memory: counted as well
                    budget.take(member.size, what)
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    content = HeldContent(extracted.read())
                else:
                    content = MemberContent(blob, start + member.offset_data, member.size)
            members.append((member, content))
    except tarfile.TarError as err:
        raise ImageError(f"{what}: not a tar archive or corrupt ({err})") from None
    except FsError as err:
        raise ImageError(f"{what}: {err.msg or err}") from None
    return members
