"""Path resolution (coffers/fs/namei.py) as properties (hypothesis).

* **Linux's answers.** The same tree of directories, files and relative symlinks is
  built in a coffer and in a host temporary directory; any relative path from a
  directory inside it resolves in the coffer to the file the host's kernel finds
  (or to the same errno), as long as the host's walk stays inside the tree.
* **Never out of the root.** With absolute symlinks, links that climb with "..",
  loops and a mounted filesystem as well, any path resolves to an inode of the
  coffer's own tree (one its root reaches) or to an FsError, never anything else;
  "/.." is "/", however many times.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cofferos.coffers.fs import FileSystem, FsError, Inode

DIRS = ("a", "a/b", "a/b/c", "d")
FILES = ("a/f", "a/b/g", "d/h")
#: Relative symlinks that stay inside the tree from where they are, and a loop.
RELATIVE_LINKS = {"a/b/to_f": "../f", "a/b/up": "..", "a/b/c/top": "../../..",
                  "d/to_b": "../a/b", "a/b/loop": "loop", "a/dangling": "nowhere"}
#: Links only the coffer holds: out of the root, if anything could lead there.
ESCAPING_LINKS = {"a/abs": "/../../../..", "a/b/climb": "../../../../../../..",
                  "d/abs_f": "/a/f"}
NAMES = ["a", "b", "c", "d", "f", "g", "h", "to_f", "up", "top", "to_b", "loop", "dangling",
         ".", "..", "", "missing"]
CWDS = ("a/b/c", "a/b", "d")
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _coffer_tree(links: dict[str, str]) -> FileSystem:
    fs = FileSystem()
    for path in DIRS:
        parent, name = fs.lookup_parent(path, fs.root)
        fs.mkdir(parent, name, 0o755)
    for path in FILES:
        fs.open(path, fs.root, os.O_CREAT | os.O_WRONLY, 0o644)
    for path, target in links.items():
        parent, name = fs.lookup_parent(path, fs.root)
        fs.symlink(parent, name, target)
    return fs


@pytest.fixture(scope="module")
def host_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("namei").resolve()
    for path in DIRS:
        (top / path).mkdir(parents=True)
    for path in FILES:
        (top / path).touch()
    for path, target in RELATIVE_LINKS.items():
        (top / path).symlink_to(target)
    return top


def _names(fs: FileSystem) -> dict[int, str]:
    """The path of every inode the coffer's root reaches (by id), mounts included."""
    names: dict[int, str] = {id(fs.root): "/"}
    stack: list[tuple[Inode, str]] = [(fs.root, "")]
    while stack:
        directory, path = stack.pop()
        for name, child in directory.entries():
            if id(child) not in names:
                names[id(child)] = f"{path}/{name}"
                if child.is_dir():
                    stack.append((child, f"{path}/{name}"))
    return names


def _coffer_answer(fs: FileSystem, path: str, cwd: str) -> str | int:
    """The resolved path (as the coffer names it) or the errno."""
    try:
        inode = fs.lookup(path, fs.lookup(cwd, fs.root))
    except FsError as err:
        return err.errno
    return _names(fs)[id(inode)]


paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=8).map("/".join)


@SETTINGS
@given(path=paths, cwd=st.sampled_from(CWDS))
@example(path="g/.", cwd="a/b")  # ENOTDIR: a file is no directory, even for "."
@example(path="to_f/", cwd="a/b")  # ENOTDIR through a symlink to a file
@example(path="up/up/../b/to_f", cwd="a/b/c")
def test_relative_paths_resolve_as_linux_resolves_them(host_tree: Path, path: str,
                                                        cwd: str) -> None:
    assume(path)
    host_path = os.path.join(host_tree, cwd, path)  # a string: pathlib would drop "g/."'s dot
    inside = os.path.realpath(host_path)
    assume(inside == str(host_tree) or inside.startswith(str(host_tree) + os.sep))
    # the walk may also leave the tree and come back: require every prefix to stay inside
    for end in range(1, len(path.split("/")) + 1):
        prefix = os.path.realpath(host_tree / cwd / "/".join(path.split("/")[:end]))
        assume(prefix == str(host_tree) or prefix.startswith(str(host_tree) + os.sep))
    try:
        os.stat(host_path)
        relative = os.path.relpath(inside, host_tree)
        expected: str | int = "/" if relative == "." else "/" + relative
    except OSError as err:
        expected = err.errno
    assert _coffer_answer(_coffer_tree(RELATIVE_LINKS), path, cwd) == expected


def _with_mount() -> FileSystem:
    fs = _coffer_tree(RELATIVE_LINKS | ESCAPING_LINKS)
    other = FileSystem()
    other.mkdir(other.root, "inner", 0o755)
    other.symlink(other.root, "out", "../../../a")
    fs.mount("/d/m", other.root)
    return fs


@SETTINGS
@given(path=st.lists(st.sampled_from([*NAMES, "abs", "climb", "abs_f", "m", "inner", "out"]),
                     max_size=10).map("/".join),
       absolute=st.booleans(), cwd=st.sampled_from([*CWDS, "d/m/inner", "/"]))
def test_no_path_leaves_the_root(path: str, absolute: bool, cwd: str) -> None:
    fs = _with_mount()
    start = fs.lookup(cwd, fs.root)
    try:
        inode = fs.lookup(("/" if absolute else "") + path, start)
    except FsError as err:
        assert err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG)
        return
    names = _names(fs)
    assert id(inode) in names  # an inode of the coffer's own tree
    assert fs.lookup(names[id(inode)], fs.root) is inode  # and its name leads back to it


@SETTINGS
@given(ups=st.integers(0, 50), rest=st.lists(st.sampled_from(["a", "b", "d", "m", "f"]),
                                              max_size=4).map("/".join))
def test_dotdot_at_the_root_is_the_root(ups: int, rest: str) -> None:
    fs = _with_mount()
    plain = _coffer_answer(fs, "/" + rest, "/")
    assert _coffer_answer(fs, "/" + "../" * ups + rest, "/") == plain
    assert _coffer_answer(fs, "/d/m/" + "../" * (ups + 2) + rest, "/") == plain


def test_dotdot_from_a_mount_root_is_the_mountpoints_parent() -> None:
    fs = _with_mount()
    assert fs.lookup("/d/m/..", fs.root) is fs.lookup("/d", fs.root)
    assert fs.path_of(fs.lookup("/d/m/out", fs.root)) == "/a"
