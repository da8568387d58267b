"""Merging image layers (coffers/fs/imagetree.py) as properties (hypothesis).

Any sequence of layers made of hostile members (absolute names, "..", symlinks that
climb or loop, hard links to anything, whiteouts of anything) either merges or is
refused with one :class:`ImageError`, never another exception; the merged tree has
no whiteout names, no "." or ".." entries and no empty names; and in a coffer built
on it every name and link target of the archive resolves to an inode of the coffer's
own filesystem or to an FsError, nothing else.
"""

from __future__ import annotations

import tarfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cofferos.coffers.fs import FileSystem, FsError
from cofferos.coffers.fs.imagetree import ImageError, ImageNode, ImageTree, member_parts

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
PIECES = ["a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", ".wh..wh.plnk", "/"]
KINDS = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
         tarfile.FIFOTYPE]

names = st.lists(st.sampled_from(PIECES), min_size=1, max_size=5).map("/".join)
members = st.tuples(names, st.sampled_from(KINDS), names)
layers = st.lists(st.lists(members, max_size=8), min_size=1, max_size=3)


def _member(name: str, kind: bytes, link: str) -> tuple[tarfile.TarInfo, object]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755
    return info, None


def _walk(node: ImageNode, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    for name, child in node.children.items():
        assert name and name not in (".", "..") and "/" not in name
        assert not name.startswith(".wh."), name
        _walk(child, seen)


@SETTINGS
@given(layers)
def test_any_layers_merge_or_are_refused_and_stay_inside(spec: list) -> None:
    tree = ImageTree()
    try:
        for index, layer in enumerate(spec):
            tree.apply_layer([_member(*m) for m in layer], str(index))  # type: ignore[misc]
        tree.finish()
    except ImageError:
        return
    _walk(tree.root, set())
    fs = FileSystem(image=tree)
    for layer in spec:
        for name, _kind, link in layer:
            for path in (name, link, "/" + name + "/" + link):
                try:
                    inode = fs.lookup(path, fs.root)
                except FsError:
                    continue
                assert inode.sb is fs.sb  # an inode of this coffer's tree, nothing else


@given(names)
def test_member_names_never_climb_out(name: str) -> None:
    assert all(part not in ("", ".", "..") for part in member_parts(name))
