"""Small container images built from the host's own files, in every format ``--image`` reads.

Nothing is downloaded: each image holds a copy of Debian's static busybox
(``/bin/busybox``) and a few text files, written with :mod:`tarfile` as the tools
write them:

* :func:`flat_export`: one tree, as ``docker export`` writes it;
* :func:`docker_save`: ``manifest.json`` and two ``<id>/layer.tar`` layers, as
  ``docker save`` (before Docker 25) writes them, the second with a whiteout
  (``etc/.wh.gone``) and an opaque directory (``opt/d/.wh..wh..opq``);
* :func:`oci_layout`: ``oci-layout``, ``index.json``, a manifest and the same two
  layers as gzip-compressed blobs named by their SHA-256;
* :func:`merged_tree`: the tree the two layers merge to, as a host directory (the
  ``--image DIR`` form, and what a native run is compared with).

:data:`MERGED` lists that tree's files and their contents.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path

from tests.rootfs import BUSYBOX

#: Applets linked to busybox in /bin (a symlink each, as the busybox rootfs has them).
APPLETS = ("sh", "ls", "cat", "find", "sort", "echo", "stat", "ln", "rm", "wc", "true")
#: Fixed file times, so the images are the same bytes on every build.
MTIME = 1_700_000_000
FILE_MODE, DIR_MODE, EXEC_MODE = 0o644, 0o755, 0o755

#: (path, contents) of the lower layer's text files.
LOWER_FILES = (
    ("etc/x", b"x of the lower layer\n"),
    ("etc/gone", b"whited out by the upper layer\n"),
    ("opt/d/a", b"hidden by the opaque directory\n"),
    ("opt/d/b", b"hidden too\n"),
    ("opt/keep", b"kept from the lower layer\n"),
)
#: (path, contents) of the upper layer's files.
UPPER_FILES = (
    ("etc/x", b"x of the upper layer\n"),
    ("opt/d/c", b"the opaque directory's own file\n"),
    ("srv/new", b"new in the upper layer\n"),
)
#: The text files of the merged tree (besides /bin): the upper layer over the lower one.
MERGED = {"etc/x": b"x of the upper layer\n", "opt/d/c": b"the opaque directory's own file\n",
          "opt/keep": b"kept from the lower layer\n", "srv/new": b"new in the upper layer\n"}


def _info(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, linkname
    info.mtime, info.uname, info.gname = MTIME, "root", "root"
    return info


def add_file(archive: tarfile.TarFile, name: str, data: bytes, mode: int = FILE_MODE) -> None:
    archive.addfile(_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))


def add_dir(archive: tarfile.TarFile, name: str, mode: int = DIR_MODE) -> None:
    archive.addfile(_info(name, tarfile.DIRTYPE, mode))


def add_symlink(archive: tarfile.TarFile, name: str, target: str) -> None:
    archive.addfile(_info(name, tarfile.SYMTYPE, 0o777, linkname=target))


def add_hardlink(archive: tarfile.TarFile, name: str, target: str) -> None:
    archive.addfile(_info(name, tarfile.LNKTYPE, FILE_MODE, linkname=target))


def tar_bytes(fill: object, *, prefix: str = "") -> bytes:
    """A tar stream made by ``fill(archive)`` (a callable)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        fill(archive)  # type: ignore[operator]
    return buffer.getvalue()


def _dirs(archive: tarfile.TarFile, names: Iterable[str], prefix: str) -> None:
    made = set()
    for name in names:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directory = "/".join(parts[:depth])
            if directory not in made:
                made.add(directory)
                add_dir(archive, prefix + directory)


def _lower(archive: tarfile.TarFile, prefix: str = "") -> None:
    add_dir(archive, prefix + "bin")
    add_file(archive, prefix + "bin/busybox", BUSYBOX.read_bytes(), EXEC_MODE)
    for applet in APPLETS:
        add_symlink(archive, f"{prefix}bin/{applet}", "busybox")
    add_dir(archive, prefix + "tmp", 0o1777)
    _dirs(archive, (name for name, _ in LOWER_FILES), prefix)
    for name, data in LOWER_FILES:
        add_file(archive, prefix + name, data)
    add_hardlink(archive, prefix + "opt/keep.link", prefix + "opt/keep")


def _upper(archive: tarfile.TarFile) -> None:
    _dirs(archive, (name for name, _ in UPPER_FILES), "")
    add_file(archive, "etc/.wh.gone", b"")
    add_file(archive, "opt/d/.wh..wh..opq", b"")
    for name, data in UPPER_FILES:
        add_file(archive, name, data)


def lower_layer() -> bytes:
    return tar_bytes(_lower)


def upper_layer() -> bytes:
    return tar_bytes(_upper)


def flat_export(path: Path, *, gzipped: bool = False) -> Path:
    """The lower layer alone, as one tree (``docker export``), with a ``./`` prefix."""
    data = tar_bytes(lambda archive: (add_dir(archive, "./"), _lower(archive, "./")))
    path.write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    return path


def write_archive(path: Path, members: dict[str, bytes]) -> Path:
    """An outer tar of regular files ``members`` (name -> bytes)."""
    def fill(archive: tarfile.TarFile) -> None:
        for name, data in members.items():
            add_file(archive, name, data)
    path.write_bytes(tar_bytes(fill))
    return path


def docker_save(path: Path, layers: Iterable[bytes] | None = None) -> Path:
    """``docker save`` of an image of ``layers`` (default: the lower and upper layers)."""
    layers = list(layers) if layers is not None else [lower_layer(), upper_layer()]
    ids = [hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{i}" for i in ids]}})
    config_name = hashlib.sha256(config.encode()).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": ["coffer-test:latest"],
                 "Layers": [f"{i}/layer.tar" for i in ids]}]
    members = {f"{i}/layer.tar": layer for i, layer in zip(ids, layers, strict=True)}
    members[config_name] = config.encode()
    members["manifest.json"] = json.dumps(manifest).encode()
    return write_archive(path, members)


def _blob(blobs: dict[str, bytes], data: bytes, media_type: str) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    blobs[f"blobs/sha256/{digest}"] = data
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def oci_layout(path: Path, *, gzip_layers: bool = True) -> Path:
    """An OCI image layout archive of the two layers (gzip-compressed by default)."""
    blobs: dict[str, bytes] = {}
    kind = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gzip_layers else "")
    layers = [_blob(blobs, gzip.compress(layer, mtime=0) if gzip_layers else layer, kind)
              for layer in (lower_layer(), upper_layer())]
    config = _blob(blobs, json.dumps({"architecture": "amd64", "os": "linux"}).encode(),
                   "application/vnd.oci.image.config.v1+json")
    manifest = _blob(blobs, json.dumps({"schemaVersion": 2, "config": config,
                                        "layers": layers}).encode(),
                     "application/vnd.oci.image.manifest.v1+json")
    manifest["platform"] = {"architecture": "amd64", "os": "linux"}
    index = {"schemaVersion": 2, "manifests": [manifest]}
    members = {"oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
               "index.json": json.dumps(index).encode(), **blobs}
    return write_archive(path, members)


def merged_tree(root: Path) -> Path:
    """The merged image as a host directory (what ``--image DIR`` takes)."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "busybox").write_bytes(BUSYBOX.read_bytes())
    (root / "bin" / "busybox").chmod(EXEC_MODE)
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    for name, data in MERGED.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    os.link(root / "opt" / "keep", root / "opt" / "keep.link")
    return root
