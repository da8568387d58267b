"""Container images as a coffer's root: ``docker export`` and ``docker save`` tarballs,
OCI image layouts, and unpacked directories.

The entry point is :func:`image_filesystem` (what ``CofferConfig.image`` builds, in
place of the empty or ``--rootfs`` root). A directory is imported exactly as
``--rootfs`` imports one (:mod:`cofferos.coffers.fs.hostimport`). A file is read as
a tar archive, optionally gzip-compressed, of one of three kinds:

* ``docker save``: a top-level ``manifest.json`` lists one image's layer tarballs;
* an OCI image layout (``oci-layout``, ``index.json``, ``blobs/ALG/HEX``): the index
  leads, through nested indexes, to the one linux/amd64 image manifest, whose
  ``layers`` are blobs (their SHA-256 digests are checked);
* anything else is one flat tree (``docker export``), read as a single layer.

Each layer is a tar stream, plain or gzip-compressed (zstd is refused). The layers
are merged by :mod:`cofferos.coffers.fs.imagetree`. Nothing is ever extracted to
the host: a member of a plain layer in an uncompressed archive is remembered as an
offset and length in the archive file and read on the guest's first read of it
(the archive must not change meanwhile: then the read fails with EIO); the members
of a compressed layer or archive are decompressed once, at import, and held in
host memory (the memory cost of compression: the uncompressed bytes of those
layers). The image's uncompressed size (the sum of its layers) must fit in the
coffer's disk limit, and each file in the largest file a coffer holds; these are
checked as the archive is read, so a decompression bomb stops at the limit.

A parsed image is kept (a few, by file identity), so the coffers of one run share
it instead of reading the archive once each. Every problem is one
:class:`~cofferos.coffers.fs.imagetree.ImageError` line.
"""

from __future__ import annotations

import errno
import functools
import gzip
import hashlib
import json
import os
import re
import stat
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import FsError
from .imagetree import ImageError, ImageTree, member_parts, shown
from .inode import DEFAULT_MAX_FILE_SIZE, ContentSource

if TYPE_CHECKING:  # vfs imports this module's neighbours: imported late at run time
    from .vfs import FileSystem

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAGIC_BYTES = 4
DOCKER_MANIFEST = "manifest.json"
OCI_INDEX = "index.json"
OCI_LAYOUT = "oci-layout"
READ_CHUNK = 1 << 20
CACHED_IMAGES = 4
"""Parsed images kept per process (each may hold the bytes of its compressed layers)."""
MAX_INDEX_DEPTH = 4
"""Nested OCI indexes followed before the image is refused as corrupt."""
MAX_MEMBER_LINKS = 4
"""Links between members of the outer archive followed to reach a layer tarball."""
MAX_MANIFEST_BYTES = 4 << 20
"""Largest manifest, index or config JSON read (real ones are a few kB)."""
DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]{64}|[0-9a-f]{128})$")
"""An OCI content digest; names the blob ``blobs/ALG/HEX``."""
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
PLATFORM = {"os": "linux", "architecture": "amd64"}
"""The platform a coffer runs (x86-64 Linux)."""


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
            if _identity(os.fstat(fd)) != self.identity:
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


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
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


def _decompress(reader: BlobReader, budget: Budget, what: str) -> MemoryBlob:
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


def _open_stream(blob: Blob, start: int, size: int, budget: Budget,
                 what: str) -> tuple[Blob, int, int]:
    """Where the tar stream of ``what`` lies: in place if plain, else decompressed."""
    magic = blob.read(start, min(size, MAGIC_BYTES))
    if magic.startswith(GZIP_MAGIC):
        data = _decompress(BlobReader(blob, start, size), budget, what)
        return data, 0, len(data.data)
    if magic == ZSTD_MAGIC:
        raise ImageError(f"{what}: zstd compression is not supported (save the image with "
                         "gzip-compressed or uncompressed layers)")
    budget.take(size, what)
    return blob, start, size


def _check_file_size(member: tarfile.TarInfo, max_file_size: int, what: str) -> None:
    if member.isreg() and member.size > max_file_size:
        raise ImageError(f"{what}: member {member.name!r} has {member.size:,} bytes, more "
                         f"than a coffer's largest file ({max_file_size:,})")


def _members(blob: Blob, start: int, size: int, budget: Budget,
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
                _check_file_size(member, budget.max_file_size, what)
                if member.issparse():
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


# -- the three kinds of archive ----------------------------------------------------------------

class Archive:
    """The outer tar of an image file: its members by normalised name."""

    def __init__(self, blob: Blob, size: int, budget: Budget) -> None:
        self.blob, self.size = blob, size
        outer = _members(blob, 0, size, Budget(size, size), "archive")
        self.members = outer
        self.by_name = {"/".join(member_parts(m.name)): (m, c) for m, c in outer}
        self.budget = budget

    def regular(self, name: str, what: str) -> tuple[int, int]:
        """(offset, size) of the regular member ``name`` (symlinks between members followed)."""
        for _hop in range(MAX_MEMBER_LINKS):
            found = self.by_name.get("/".join(member_parts(name)))
            if found is None:
                raise ImageError(f"{what}: {name!r} is not in the archive")
            member, content = found
            if member.issym() or member.islnk():
                base = "" if member.islnk() else "/".join(member_parts(member.name)[:-1])
                name = member.linkname if member.islnk() else f"{base}/{member.linkname}"
                continue
            if not isinstance(content, MemberContent):
                raise ImageError(f"{what}: {name!r} is not a file")
            return content.offset, content.size
        raise ImageError(f"{what}: {name!r}: too many links")

    def read_json(self, name: str, what: str) -> Any:
        offset, size = self.regular(name, what)
        if size > MAX_MANIFEST_BYTES:
            raise ImageError(f"{what}: {name} has {size:,} bytes: not a manifest")
        return _json(self.blob.read(offset, size), f"{what}: {name}")

    def layer(self, tree: ImageTree, name: str, digest: str | None = None) -> None:
        """Apply the layer tarball ``name`` (checked against ``digest`` if given)."""
        what = f"layer {shown(name)}"
        offset, size = self.regular(name, what)
        if digest is not None:
            _check_digest(self.blob, offset, size, digest, what)
        blob, start, length = _open_stream(self.blob, offset, size, self.budget, what)
        tree.apply_layer(_members(blob, start, length, self.budget, what), shown(name))


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ImageError(f"{what}: not valid JSON ({err})") from None


def _check_digest(blob: Blob, offset: int, size: int, digest: str, what: str) -> None:
    match = DIGEST.match(digest)
    if match is None:
        raise ImageError(f"{what}: bad digest {digest!r}")
    hasher = hashlib.new(match.group(1))
    for start in range(offset, offset + size, READ_CHUNK):
        hasher.update(blob.read(start, min(READ_CHUNK, offset + size - start)))
    if hasher.hexdigest() != match.group(2):
        raise ImageError(f"{what}: content does not match its digest {digest} (corrupt)")


def _docker_save(archive: Archive, tree: ImageTree) -> None:
    manifest = archive.read_json(DOCKER_MANIFEST, "docker save archive")
    if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
        count = len(manifest) if isinstance(manifest, list) else "no"
        raise ImageError(f"{DOCKER_MANIFEST} lists {count} images; save exactly one image "
                         "per archive")
    layers = manifest[0].get("Layers")
    if not isinstance(layers, list) or not all(isinstance(name, str) for name in layers):
        raise ImageError(f"{DOCKER_MANIFEST}: no list of Layers")
    for name in layers:
        archive.layer(tree, name)


def _blob_name(descriptor: Any, what: str) -> tuple[str, str]:
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    match = DIGEST.match(digest) if isinstance(digest, str) else None
    if match is None:
        raise ImageError(f"{what}: a descriptor without a valid digest")
    return f"blobs/{match.group(1)}/{match.group(2)}", match.group(0)


def _oci_manifest(archive: Archive, descriptor: Any, depth: int) -> Any:
    """The image manifest ``descriptor`` leads to (through nested indexes)."""
    name, digest = _blob_name(descriptor, OCI_INDEX)
    offset, size = archive.regular(name, OCI_INDEX)
    if size > MAX_MANIFEST_BYTES:
        raise ImageError(f"{name}: {size:,} bytes: not a manifest")
    _check_digest(archive.blob, offset, size, digest, name)
    document = _json(archive.blob.read(offset, size), name)
    if not isinstance(document, dict):
        raise ImageError(f"{name}: not a manifest")
    if document.get("mediaType") in INDEX_TYPES or "manifests" in document:
        return _from_index(archive, document, name, depth + 1)
    return document


def _from_index(archive: Archive, index: Any, what: str, depth: int) -> Any:
    if depth > MAX_INDEX_DEPTH or not isinstance(index, dict):
        raise ImageError(f"{what}: not an image index")
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise ImageError(f"{what}: lists no manifests")
    candidates = [m for m in manifests if isinstance(m, dict)
                  and all(m.get("platform", PLATFORM).get(k) == v for k, v in PLATFORM.items())]
    if len(candidates) != 1:
        raise ImageError(f"{what}: {len(candidates)} manifests for linux/amd64; an archive of "
                         "exactly one image is needed")
    return _oci_manifest(archive, candidates[0], depth)


def _oci_layout(archive: Archive, tree: ImageTree) -> None:
    manifest = _from_index(archive, archive.read_json(OCI_INDEX, "OCI layout"), OCI_INDEX, 0)
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise ImageError("OCI image manifest: no list of layers")
    for descriptor in layers:
        name, digest = _blob_name(descriptor, "OCI image manifest")
        archive.layer(tree, name, digest)


def _read_archive(path: str, st: os.stat_result, budget: Budget) -> ImageTree:
    blob: Blob = ArchiveFile(path, _identity(st))
    size = st.st_size
    magic = blob.read(0, min(size, MAGIC_BYTES))
    if magic.startswith(GZIP_MAGIC):
        blob = _decompress(BlobReader(blob, 0, size), Budget(budget.limit, size), "archive")
        size = len(blob.data)
    elif magic == ZSTD_MAGIC:
        raise ImageError("zstd-compressed archives are not supported (use tar or tar.gz)")
    archive = Archive(blob, size, budget)
    tree = ImageTree()
    if DOCKER_MANIFEST in archive.by_name:
        _docker_save(archive, tree)
    elif OCI_INDEX in archive.by_name or OCI_LAYOUT in archive.by_name:
        _oci_layout(archive, tree)
    else:  # docker export: the archive is the tree
        budget.take(size, "archive")
        for member, _content in archive.members:
            _check_file_size(member, budget.max_file_size, "archive")
        tree.apply_layer(archive.members, "(flat)")
    tree.finish()
    if tree.file_bytes > budget.limit:
        budget.take(tree.file_bytes, "files")
    return tree


@functools.lru_cache(maxsize=CACHED_IMAGES)
def _cached(path: str, identity: tuple[int, int, int, int], limit: int,
            max_file_size: int) -> ImageTree:
    st = os.stat(path)
    if _identity(st) != identity:
        raise ImageError("changed while it was being read")
    return _read_archive(path, st, Budget(limit, max_file_size))


def load_image(path: str, *, size_limit: int,
               max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> ImageTree:
    """The merged tree of the image archive at ``path`` (parsed once per file version)."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise ImageError(err.strerror or str(err)) from None
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("not a regular file or directory")
    try:
        return _cached(os.path.abspath(path), _identity(st), size_limit, max_file_size)
    except FsError as err:  # the archive changed or vanished while it was read
        raise ImageError(str(err)) from None


def check_image(path: str, *, size_limit: int) -> None:
    """Everything :func:`image_filesystem` will check, without making a filesystem."""
    if os.path.isdir(path):
        return
    if not os.path.exists(path):
        raise ImageError("no such file or directory")
    load_image(path, size_limit=size_limit)


def image_filesystem(path: str, *, size_limit: int,
                     now_ns: Callable[[], int]) -> FileSystem:
    """A coffer's root filesystem from the image at ``path`` (a file or a directory)."""
    from .vfs import FileSystem

    if os.path.isdir(path):
        return FileSystem.from_host(path, now_ns=now_ns)
    check_image(path, size_limit=size_limit)
    return FileSystem(now_ns, image=load_image(path, size_limit=size_limit))

