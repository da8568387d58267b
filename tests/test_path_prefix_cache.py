"""The path walk's prefix cache (cofferos.coffers.fs.namei.PrefixCache, issue #17).

A filesystem whose walks use the cache and one whose walks never do go through the
same random run of directory changes (mkdir, rmdir, rename, symlinks in place of
directories, chmod of directories, mounts over directories) and lookups by absolute
paths, as root and as an unprivileged user; every lookup must give the same inode
(by its number) or the same errno on both. The cases after it check one change each
that would reach a stale entry if the cache missed it.
"""

from __future__ import annotations

import errno
import os
import random
from dataclasses import dataclass

import pytest

from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.fs.namei import Nameidata, PrefixCache

ROUNDS = 3000  #: operations of the random run
NAMES = ("a", "b", "c")  #: every directory's possible entries: a small tree, often changed
DEPTH = 3  #: directories below /tmp/t in the random paths
USER = 1000


@dataclass(frozen=True)
class Cred:
    """An unprivileged caller (the FsCred protocol)."""

    fsuid: int = USER
    fsgid: int = USER
    groups: tuple[int, ...] = ()
    cap_effective: int = 0
    userns: object = None


class NoCache(PrefixCache):
    """A cache that never knows a prefix: every walk is the full one."""

    def parent(self, nd: Nameidata, path: str) -> tuple[Inode, str] | None:
        return None


def filesystem(cached: bool) -> FileSystem:
    fs = FileSystem(now_ns=lambda: 0)
    fs.populate_defaults()
    if not cached:
        fs.prefixes = NoCache()
    fs.mkdir(fs.lookup("/tmp", fs.root), "t", 0o755)
    return fs


def outcome(call, *args, **kwargs) -> object:  # noqa: ANN001 - any filesystem call
    """What a call gave, comparable between the two filesystems: inode numbers or errno."""
    try:
        result = call(*args, **kwargs)
    except FsError as err:
        return ("errno", err.errno)
    if isinstance(result, tuple):
        return tuple(item.ino if isinstance(item, Inode) else item for item in result)
    return result.ino if isinstance(result, Inode) else result


def random_path(rng: random.Random) -> str:
    parts = [rng.choice(NAMES) for _ in range(rng.randint(1, DEPTH))]
    return "/tmp/t/" + "/".join(parts)


def change(fs: FileSystem, op: str, path: str, other: str, mode: int) -> object:
    """One directory change, the same on either filesystem."""
    if op == "mkdir":
        return outcome(lambda: fs.mkdir(*fs.lookup_parent(path, fs.root), 0o755))
    if op == "rmdir":
        return outcome(lambda: fs.rmdir(*fs.lookup_parent(path, fs.root)))
    if op == "rename":
        return outcome(lambda: fs.rename(*fs.lookup_parent(path, fs.root),
                                         *fs.lookup_parent(other, fs.root)))
    if op == "symlink":  # a name that a path walks through, now a link to another directory
        return outcome(lambda: fs.symlink(*fs.lookup_parent(path, fs.root), other))
    if op == "unlink":
        return outcome(lambda: fs.unlink(*fs.lookup_parent(path, fs.root)))
    if op == "chmod":
        def chmod() -> None:
            inode = fs.lookup(path, fs.root)
            inode.mode = (inode.mode & ~0o777) | mode
        return outcome(chmod)
    if op == "mount":
        return outcome(fs.mount, path, fs.sb.new_inode(0o40755))
    raise AssertionError(op)


def lookups(fs: FileSystem, path: str, cred: Cred | None) -> list[object]:
    flags = os.O_CREAT | os.O_WRONLY
    return [
        outcome(fs.lookup, path, fs.root, cred=cred),
        outcome(fs.lookup, path, fs.root, follow=False, cred=cred),
        outcome(fs.lookup_parent, path, fs.root, cred=cred),
        outcome(fs.open, path, fs.root, os.O_RDONLY, 0, cred=cred),
        outcome(fs.open, path + "/f", fs.root, flags, 0o644, cred=cred),
    ]


def test_cached_walks_match_full_walks() -> None:
    rng = random.Random(17)
    cached, full = filesystem(True), filesystem(False)
    hits = 0
    for step in range(ROUNDS):
        path, other = random_path(rng), random_path(rng)
        cred = rng.choice((None, Cred()))
        if rng.random() < 0.3:
            op = rng.choice(("mkdir", "mkdir", "rmdir", "rename", "symlink", "unlink",
                             "chmod", "mount"))
            mode = rng.choice((0o755, 0o700, 0o711, 0o744))
            assert change(cached, op, path, other, mode) == change(full, op, path, other, mode), \
                (step, op, path, other)
        before = len(cached.prefixes.entries)
        assert lookups(cached, path, cred) == lookups(full, path, cred), (step, path, cred)
        hits += len(cached.prefixes.entries) == before
    assert cached.prefixes.entries, "the cache never kept a prefix: the test tests nothing"
    assert hits > ROUNDS // 4


@pytest.fixture
def fs() -> FileSystem:
    made = filesystem(True)
    a = made.mkdir(made.lookup("/tmp/t", made.root), "a", 0o755)
    made.mkdir(a, "b", 0o755)
    made.lookup_parent("/tmp/t/a/b/x", made.root)  # the prefix /tmp/t/a/b is kept
    assert "/tmp/t/a/b" in made.prefixes.entries
    return made


def test_a_directory_removed_and_made_again(fs: FileSystem) -> None:
    old = fs.lookup("/tmp/t/a/b", fs.root)
    fs.rmdir(*fs.lookup_parent("/tmp/t/a/b", fs.root))
    new = fs.mkdir(fs.lookup("/tmp/t/a", fs.root), "b", 0o755)
    assert new is not old
    assert fs.lookup_parent("/tmp/t/a/b/x", fs.root)[0] is new


def test_a_directory_renamed_away(fs: FileSystem) -> None:
    t = fs.lookup("/tmp/t", fs.root)
    fs.rename(t, "a", t, "moved")
    with pytest.raises(FsError) as info:
        fs.lookup_parent("/tmp/t/a/b/x", fs.root)
    assert info.value.errno == errno.ENOENT


def test_a_directory_no_longer_searchable(fs: FileSystem) -> None:
    a = fs.lookup("/tmp/t/a", fs.root)
    a.mode = (a.mode & ~0o777) | 0o700
    with pytest.raises(FsError) as info:
        fs.lookup_parent("/tmp/t/a/b/x", fs.root, cred=Cred())
    assert info.value.errno == errno.EACCES
    assert fs.lookup_parent("/tmp/t/a/b/x", fs.root)[1] == "x"  # root may search it


def test_a_directory_mounted_over(fs: FileSystem) -> None:
    root = fs.sb.new_inode(0o40755)
    fs.mount("/tmp/t/a", root)
    with pytest.raises(FsError) as info:
        fs.lookup_parent("/tmp/t/a/b/x", fs.root)
    assert info.value.errno == errno.ENOENT
