"""Container images as a coffer's root: ``docker export`` and ``docker save`` tarballs,
OCI image layouts, and unpacked directories.

The entry point is :func:`image_filesystem` (what ``CofferConfig.image`` builds, in
place of the empty or ``--rootfs`` root). A directory holding an OCI image layout
(``oci-layout``, ``index.json`` and ``blobs/``, as skopeo and buildah write it) is
read as that layout; any other directory is imported exactly as ``--rootfs``
imports one (:mod:`cofferos.coffers.fs.hostimport`). A file is read as a tar
archive, optionally gzip-compressed, of one of three kinds:

* ``docker save``: a top-level ``manifest.json`` lists one image's layer tarballs;
* an OCI image layout (``oci-layout``, ``index.json``, ``blobs/ALG/HEX``): the index
  leads, through nested indexes, to the one linux/amd64 image manifest, whose
  ``layers`` are blobs (their SHA-256 digests are checked);
* anything else is one flat tree (``docker export``), read as a single layer.

Each layer is a tar stream, plain or gzip-compressed (zstd is refused). The
layers are merged by :mod:`cofferos.coffers.fs.imagetree`; where their bytes are,
and the budget they are read within, is :mod:`cofferos.coffers.fs.imagefiles`'s.
Nothing is ever extracted to the host: a member of a plain layer in an
uncompressed archive (or a layout's blob) is remembered as an offset and length in
its file and read on the guest's first read of it (the file must not change
meanwhile: then the read fails with EIO); the members of a compressed layer or
archive are decompressed once, at import, and held in host memory (the memory cost
of compression: the uncompressed bytes of those layers). The image's uncompressed
size (the sum of its layers) must fit in the coffer's disk limit, and each file in
the largest file a coffer holds; these are checked as the archive is read, so a
decompression bomb stops at the limit.

A parsed image is kept (a few, by file identity), so the coffers of one run share
it instead of reading the archive once each. Every problem is one
:class:`~cofferos.coffers.fs.imagetree.ImageError` line.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import FsError
from .imagefiles import (
    GZIP_MAGIC,
    MAGIC_BYTES,
    READ_CHUNK,
    ZSTD_MAGIC,
    ArchiveFile,
    Blob,
    BlobReader,
    Budget,
    MemberContent,
    check_file_size,
    decompress,
    identity,
    open_stream,
    tar_members,
)
from .imagetree import ImageError, ImageTree, member_parts, shown
from .inode import MAX_IMPORT_SIZE

if TYPE_CHECKING:  # vfs imports this module's neighbours: imported late at run time
    from .vfs import FileSystem

DOCKER_MANIFEST = "manifest.json"
OCI_INDEX = "index.json"
OCI_LAYOUT = "oci-layout"
OCI_BLOBS = "blobs"
CACHED_IMAGES = 4
"""Parsed images kept per process (each may hold the bytes of its compressed layers)."""
MAX_INDEX_DEPTH = 4
"""Nested OCI indexes followed before the image is refused as corrupt."""
MAX_MEMBER_LINKS = 4
"""Links between members of the outer archive followed to reach a layer tarball."""
NO_SIZE_LIMIT = sys.maxsize
"""The outer archive's members are not files of the coffer: no per-file bound."""
MAX_MANIFEST_BYTES = 4 << 20
"""Largest manifest, index or config JSON read (real ones are a few kB)."""
DIGEST = re.compile(r"^(sha256|sha512):([0-9a-f]{64}|[0-9a-f]{128})$")
"""An OCI content digest; names the blob ``blobs/ALG/HEX``."""
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
PLATFORM = {"os": "linux", "architecture": "amd64"}
"""The platform a coffer runs (x86-64 Linux)."""


# -- the files of an image: members of a tar, or files of a layout directory --------------------

class Archive:
    """The files an image is made of (manifests, layer tarballs), by name."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def has(self, name: str) -> bool:
        raise NotImplementedError

    def locate(self, name: str, what: str) -> tuple[Blob, int, int]:
        """(blob, offset, size) of the file ``name``; ImageError if there is none."""
        raise NotImplementedError

    def read_json(self, name: str, what: str) -> Any:
        blob, offset, size = self.locate(name, what)
        if size > MAX_MANIFEST_BYTES:
            raise ImageError(f"{what}: {name} has {size:,} bytes: not a manifest")
        return _json(blob.read(offset, size), f"{what}: {name}")

    def layer(self, tree: ImageTree, name: str, digest: str | None = None) -> None:
        """Apply the layer tarball ``name`` (checked against ``digest`` if given)."""
        what = f"layer {shown(name)}"
        blob, offset, size = self.locate(name, what)
        if digest is not None:
            _check_digest(blob, offset, size, digest, what)
        blob, start, length = open_stream(blob, offset, size, self.budget, what)
        tree.apply_layer(tar_members(blob, start, length, self.budget, what), shown(name))


class TarArchive(Archive):
    """The outer tar of an image file: its members by normalised name."""

    def __init__(self, blob: Blob, size: int, budget: Budget) -> None:
        super().__init__(budget)
        self.blob, self.size = blob, size
        # members may be layer tarballs larger than any one file: sizes checked per use
        outer = Budget(budget.limit, max_file_size=NO_SIZE_LIMIT)
        self.members = tar_members(blob, 0, size, outer, "archive")
        self.by_name = {"/".join(member_parts(m.name)): (m, c) for m, c in self.members}

    def has(self, name: str) -> bool:
        return name in self.by_name

    def locate(self, name: str, what: str) -> tuple[Blob, int, int]:
        """The regular member ``name`` (symlinks and hard links between members followed)."""
        for _hop in range(MAX_MEMBER_LINKS):
            found = self.by_name.get("/".join(member_parts(name)))
            if found is None:
                raise ImageError(f"{what}: {shown(name)!r} is not in the archive")
            member, content = found
            if member.issym() or member.islnk():
                base = "" if member.islnk() else "/".join(member_parts(member.name)[:-1])
                name = member.linkname if member.islnk() else f"{base}/{member.linkname}"
                continue
            if not isinstance(content, MemberContent):
                raise ImageError(f"{what}: {shown(name)!r} is not a file")
            return self.blob, content.offset, content.size
        raise ImageError(f"{what}: {shown(name)!r}: too many links")


class LayoutDirectory(Archive):
    """An OCI image layout unpacked in a host directory: its files, read in place (only
    the names the layout defines are opened, each checked to be a regular file)."""

    def __init__(self, root: str, budget: Budget) -> None:
        super().__init__(budget)
        self.root = root

    def has(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self.root, *member_parts(name)))

    def locate(self, name: str, what: str) -> tuple[Blob, int, int]:
        path = os.path.join(self.root, *member_parts(name))
        try:
            st = os.stat(path)
        except OSError:
            raise ImageError(f"{what}: {shown(name)!r} is not in the layout") from None
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(f"{what}: {shown(name)!r} is not a file")
        return ArchiveFile(path, identity(st)), 0, st.st_size


def is_layout_directory(path: str) -> bool:
    """Whether the directory ``path`` holds an OCI image layout rather than a root tree."""
    return all(os.path.isfile(os.path.join(path, name)) for name in (OCI_LAYOUT, OCI_INDEX)) \
        and os.path.isdir(os.path.join(path, OCI_BLOBS))


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
    blob, offset, size = archive.locate(name, OCI_INDEX)
    if size > MAX_MANIFEST_BYTES:
        raise ImageError(f"{name}: {size:,} bytes: not a manifest")
    _check_digest(blob, offset, size, digest, name)
    document = _json(blob.read(offset, size), name)
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
    if stat.S_ISDIR(st.st_mode):
        tree = ImageTree()
        _oci_layout(LayoutDirectory(path, budget), tree)
        return _finished(tree, budget)
    blob: Blob = ArchiveFile(path, identity(st))
    size = st.st_size
    magic = blob.read(0, min(size, MAGIC_BYTES))
    if magic.startswith(GZIP_MAGIC):
        blob = decompress(BlobReader(blob, 0, size), Budget(budget.limit, size), "archive")
        size = len(blob.data)
    elif magic == ZSTD_MAGIC:
        raise ImageError("zstd-compressed archives are not supported (use tar or tar.gz)")
    archive = TarArchive(blob, size, budget)
    tree = ImageTree()
    if archive.has(DOCKER_MANIFEST):
        _docker_save(archive, tree)
    elif archive.has(OCI_INDEX) or archive.has(OCI_LAYOUT):
        _oci_layout(archive, tree)
    else:  # docker export: the archive is the tree
        budget.take(size, "archive")
        for member, _content in archive.members:
            check_file_size(member, budget.max_file_size, "archive")
        tree.apply_layer(archive.members, "(flat)")
    return _finished(tree, budget)


def _finished(tree: ImageTree, budget: Budget) -> ImageTree:
    tree.finish()
    if tree.file_bytes > budget.limit:
        budget.take(tree.file_bytes, "files")
    return tree


def _layout_version(path: str) -> tuple[object, ...]:
    """A layout directory's version: the identity of its index and of every blob."""
    blobs = os.path.join(path, OCI_BLOBS)
    files = [os.path.join(path, OCI_INDEX)] + sorted(
        entry.path for algorithm in os.scandir(blobs) if algorithm.is_dir()
        for entry in os.scandir(algorithm.path))
    return tuple((name, identity(os.stat(name))) for name in files)


@functools.lru_cache(maxsize=CACHED_IMAGES)
def _cached(path: str, version: tuple[object, ...], limit: int,
            max_file_size: int) -> ImageTree:
    """The image at ``path`` as it is at ``version`` (its identity when it was looked at)."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode) and identity(st) != version:
        raise ImageError("changed while it was being read")
    return _read_archive(path, st, Budget(limit, max_file_size))


def load_image(path: str, *, size_limit: int,
               max_file_size: int = MAX_IMPORT_SIZE) -> ImageTree:
    """The merged tree of the image archive or layout directory at ``path`` (parsed once
    per version of the file, or of a layout's index.json)."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            if not is_layout_directory(path):
                raise ImageError("a directory without an OCI image layout")
            version = _layout_version(path)
            return _cached(os.path.abspath(path), version, size_limit, max_file_size)
    except OSError as err:
        raise ImageError(err.strerror or str(err)) from None
    except FsError as err:  # a file of the layout changed or vanished while it was read
        raise ImageError(err.msg or str(err)) from None
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("not a regular file or directory")
    try:
        return _cached(os.path.abspath(path), identity(st), size_limit, max_file_size)
    except FsError as err:  # the archive changed or vanished while it was read
        raise ImageError(err.msg or str(err)) from None


def check_image(path: str, *, size_limit: int) -> None:
    """Everything :func:`image_filesystem` will check, without making a filesystem."""
    if os.path.isdir(path) and not is_layout_directory(path):
        return
    if not os.path.exists(path):
        raise ImageError("no such file or directory")
    load_image(path, size_limit=size_limit)


def image_filesystem(path: str, *, size_limit: int,
                     now_ns: Callable[[], int]) -> FileSystem:
    """A coffer's root filesystem from the image at ``path`` (a file or a directory)."""
    from .vfs import FileSystem

    if os.path.isdir(path) and not is_layout_directory(path):
        return FileSystem.from_host(path, now_ns=now_ns)
    check_image(path, size_limit=size_limit)
    return FileSystem(now_ns, image=load_image(path, size_limit=size_limit))

