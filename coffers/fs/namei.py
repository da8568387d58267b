"""Path name lookup (namei): turning "a/b/../c" into an inode, inside the coffer only.

The walk never leaves the coffer's tree because it never touches anything else:
every component is looked up in an :class:`~cofferos.coffers.fs.inode.Inode`,
and the two ways a path could climb out are both pinned to the coffer's root:

* an absolute path, and an absolute symlink target, start at the coffer root, so
  a link to "/etc/passwd" means the coffer's /etc/passwd;
* ".." goes to a directory's ``parent``, and the root's parent is itself.

A directory covered by a mount of the walking task's mount namespace
(:mod:`.mnt_ns`) is crossed into the mount's root; ".." at the root of a mount the
walk crossed climbs back to where it is mounted first (follow_dotdot).

Symlinks are followed by pushing the components of their target onto the stack
of components still to walk: no recursion, and a :class:`Nameidata` counts every
link followed in one resolution, so loops end in ELOOP after
:data:`MAXSYMLINKS`, as in Linux. A trailing slash is walked as a final "." so
that "file/" gives ENOTDIR and "link/" follows the link.

A :class:`PrefixCache` remembers the directory an absolute path's leading
components lead to, for the walks that could have taken no other turn (no symlink,
mount, "." or "..", every directory searchable by all); it is checked on each use
and emptied whenever a directory leaves a directory (:attr:`Inode.tree_changes`).

:mod:`cofferos.coffers.fs.vfs` builds lookup, lookup_parent and open on this.
"""

from __future__ import annotations

import errno
import os
from stat import S_IFDIR, S_IFLNK
from typing import TYPE_CHECKING

from cofferos.coffers import locktrace

from .errors import FsError
from .inode import Inode
from .permission import S_IXUGO, FsCred, may_lookup

if TYPE_CHECKING:
    from .mnt_ns import MountNamespace
    from .vfs import Mount

PATH_MAX = 4096
"""Bytes in a path including the terminating NUL (linux/limits.h)."""
NAME_MAX = 255
"""Bytes in one path component (linux/limits.h)."""
MAXSYMLINKS = 40
"""Symlinks followed in one resolution before ELOOP (include/linux/namei.h)."""
CURRENT = "."
PARENT = ".."
ROOT_NAME = "/"
"""The name :meth:`FileSystem.lookup_parent` returns for a path that is the root itself."""
SPECIAL_NAMES = frozenset({CURRENT, PARENT, ROOT_NAME})
"""Final names that do not name an entry of their parent: "/" "." ".."."""
S_IFMT = 0o170000
"""The file type bits of a mode (include/uapi/linux/stat.h; Python's ``stat.S_IFMT`` is
a function, a call per test)."""


def encoded_len(name: str) -> int:
    """Length in bytes of ``name`` as the guest wrote it (non-UTF-8 bytes survive as
    surrogate escapes, as in ``os.fsdecode``)."""
    return len(os.fsencode(name))


def split_path(path: str) -> tuple[bool, list[str], bool]:
    """Split ``path`` into (is absolute, components, has trailing slash).

    Empty components ("a//b") are dropped. ENOENT for an empty path, ENAMETOOLONG
    for a path of PATH_MAX bytes or more or a component over NAME_MAX.

    >>> split_path("/usr//bin/")
    (True, ['usr', 'bin'], True)
    >>> split_path("a/./b")
    (False, ['a', '.', 'b'], False)
    """
    if not path:
        raise FsError(errno.ENOENT, "empty path")
    size = len(path) if path.isascii() else encoded_len(path)  # (ASCII: a byte a char)
    if size >= PATH_MAX:
        raise FsError(errno.ENAMETOOLONG, "path")
    components = list(filter(None, path.split("/")))  # (no empty components)
    if size > NAME_MAX:  # (else no component can be: none is longer than the path)
        for part in components:
            if encoded_len(part) > NAME_MAX:
                raise FsError(errno.ENAMETOOLONG, part[:16] + "...")
    trailing = path.endswith("/") and bool(components)
    return path.startswith("/"), components, trailing


def check_name(name: str) -> None:
    """Check one new directory entry name: not empty, no "/" or NUL, not too long."""
    if not name:
        raise FsError(errno.ENOENT, "empty name")
    if "/" in name or "\0" in name:
        raise FsError(errno.EINVAL, f"bad name {name!r}")
    if (len(name) if name.isascii() else encoded_len(name)) > NAME_MAX:  # (ASCII: a byte a char)
        raise FsError(errno.ENAMETOOLONG, name[:16] + "...")


class Nameidata:
    """The state of one resolution: the coffer root, the caller's credentials and the
    symlinks followed so far.

    One object serves one system call, so that every symlink that call follows,
    including those :meth:`FileSystem.open` follows when creating, counts
    against the same :data:`MAXSYMLINKS`. Every directory a component is looked up
    in needs search permission for ``cred`` (may_lookup in link_path_walk: EACCES);
    a ``cred`` of None is the kernel's own lookup, unchecked.
    """

    __slots__ = ("root", "cred", "links", "covers", "crossed")  # (one made a path call)

    def __init__(self, root: Inode, cred: FsCred | None = None,
                 ns: MountNamespace | None = None) -> None:
        self.root = root
        self.cred = cred
        self.links = 0
        self.covers = None if ns is None else ns.covers
        self.crossed: list[Mount] | None = None
        """The mounts the walk crossed into, innermost last (None: none yet)."""

    @property
    def mnt(self) -> Mount | None:
        """The mount the walk ended in, if it crossed into one."""
        crossed = self.crossed
        return crossed[-1] if crossed else None

    def start(self, absolute: bool, cwd: Inode) -> Inode:
        """Where a path starts: the coffer root for absolute paths, else ``cwd``."""
        return self.root if absolute else cwd

    def _count_link(self) -> None:
        self.links += 1
        if self.links > MAXSYMLINKS:
            raise FsError(errno.ELOOP)

    def follow(self, link: Inode) -> tuple[bool, list[str], bool]:
        """Count one more symlink and split its target; ELOOP past the limit."""
        self._count_link()
        target = link.readlink()
        return split_path(target)  # an empty target gives ENOENT, as in Linux

    def jump(self, link: Inode) -> Inode | None:
        """The inode a magic link leads to (counted like any symlink), or None for an
        ordinary symlink, whose target the caller walks with :meth:`follow`."""
        target = link.jump_link()
        if target is not None:
            self._count_link()
        return target

    def walk_path(self, path: str, cwd: Inode, cache: PrefixCache,
                  follow_last: bool) -> Inode:
        """Resolve ``path`` from ``cwd`` as :meth:`walk` of :func:`split_path`'s
        components (a trailing slash walked as a final "."), its leading components
        by ``cache`` where it knows them (:class:`PrefixCache`)."""
        hit = cache.parent(self, path)
        if hit is not None:
            parent, name = hit  # (searchable by all, a plain listed directory: PrefixCache)
            child = parent._children.get(name)  # noqa: SLF001
            if (child is not None and child.mode & S_IFMT != S_IFLNK
                    and not (self.covers and id(child) in self.covers)):
                return child  # what walk() of the one component finds, without its loop
            return self.walk(parent, [name], follow_last)
        absolute, components, trailing = split_path(path)
        if trailing:
            components.append(CURRENT)  # must be a directory; a symlink before it is followed
        inode = self.walk(self.start(absolute, cwd), components, follow_last, absolute)
        if absolute:
            cache.remember(self, path, components)
        return inode

    def walk(self, start: Inode, components: list[str], follow_last: bool,
             absolute: bool = False) -> Inode:
        """Resolve ``components`` from ``start``.

        Symlinks among the leading components are always followed; the last
        component's symlink only when ``follow_last``. ENOENT for a missing
        component, ENOTDIR for a non-directory used as one, EACCES for a directory
        the caller may not search.

        Written for speed (a path walk was 16% of a run of @metadata, issue #17), with
        what each shortcut skips: a directory all of whose classes may search it
        (0755, 0777...) is searched without asking :func:`may_lookup`, which would
        grant it whoever asks; a plain directory already listed is looked up in its
        entries without :meth:`Inode.child`'s checks (it is a directory, and listed).

        ``absolute``: the walk of an absolute path from the root, recorded (only when
        tracing) with the absolute walk's classes (locktrace.D_WALK_ABS...).
        """
        stack = list(reversed(components))
        current = start
        covers = self.covers
        cred = self.cred
        trace = locktrace.trace  # (None unless a timing machine records)
        if trace is not None:
            trace.append((locktrace.MNT_READ, None))
            trace.extend(((locktrace.WALK_START, start), (locktrace.MNT_REF, start.sb)))
            step, final = locktrace.D_WALK, locktrace.D_FINAL_REF
            if absolute:
                trace.append((locktrace.WALK_ABS, start))
                step, final = locktrace.D_WALK_ABS, locktrace.D_FINAL_REF_ABS
        while stack:
            name = stack.pop()
            mode = current.mode
            if mode & S_IFMT != S_IFDIR:
                raise FsError(errno.ENOTDIR, name)
            if mode & S_IXUGO != S_IXUGO and cred is not None:
                may_lookup(current, cred, name)
            if name == CURRENT:
                continue
            if name == PARENT:
                crossed = self.crossed
                while crossed and current is crossed[-1].root:
                    left = crossed.pop()
                    current = left.covered
                    if trace is not None:  # (follow_up: out of the mount, to its mountpoint)
                        trace.append((locktrace.MNT_CROSS, left.root.sb))
                assert current.parent is not None, "directory without a parent"
                current = current.parent
                if trace is not None:
                    trace.append((locktrace.D_WALK_REF, current))
                continue
            if type(current) is Inode and current._lister is None:  # noqa: SLF001
                child = current._children.get(name)  # noqa: SLF001
            else:
                child = current.child(name)
            if child is None:
                if trace is not None:  # (a negative dentry made, then killed by its dput)
                    trace.extend(((locktrace.DIR_LOOKUP, current),
                                  (locktrace.D_NEGATIVE, current),
                                  (locktrace.D_LAST_PUT, current)))
                raise FsError(errno.ENOENT, name)
            if covers and id(child) in covers:
                mnt: Mount | None = covers[id(child)]
                if self.crossed is None:
                    self.crossed = []
                while mnt is not None:  # (a bind of a directory on itself ends the stack)
                    self.crossed.append(mnt)
                    if trace is not None:  # (follow_mount's lookup_mnt, a mount a time)
                        trace.append((locktrace.MNT_CROSS, mnt.root.sb))
                    if mnt.root is child:
                        break
                    child = mnt.root
                    mnt = covers.get(id(child))
            link = child.mode & S_IFMT == S_IFLNK
            if trace is not None:
                trace.append((locktrace.D_WALK_REF if link else step, child))
            if link and (stack or follow_last):
                jumped = self.jump(child)
                if jumped is not None:
                    current = jumped
                    self.crossed = None
                    continue
                absolute, target, trailing = self.follow(child)
                if absolute:
                    current = self.root
                    self.crossed = None
                stack.extend(reversed(target + [CURRENT] * trailing))
                continue
            current = child
        if trace is not None:  # (its dput is never the last: the name pins its dentry)
            trace.append((final, current))
        return current


class PrefixCache:
    """The directories absolute path prefixes lead to: a path walk's leading
    components in one dictionary lookup (issue #17: @metadata's calls walked
    /tmp/bench/dir1/dir2 again for every one, about a tenth of a timed run).

    An entry is the directories a walk of the prefix of a path up to its last "/"
    went through, from the root, kept only when :meth:`Nameidata.walk` could have
    taken no other turn whoever walked it: plain directories (:class:`Inode`, fully
    listed), each searchable by every class (so that no credentials are asked), no
    symlink, no mount crossed, no "." or "..", and no lock records wanted (a timing
    machine's :data:`locktrace.trace`, which wants the walk's records). A use checks
    again what could have changed since without a directory leaving its parent:
    the root, each directory's search bits, and the mounts of the walker's
    namespace. Every entry is dropped when a directory leaves a directory
    (:attr:`Inode.tree_changes`: rmdir, rename), the one way a name of a cached
    prefix can come to mean another directory.

    Only paths of at most NAME_MAX bytes, all ASCII, are looked up here: no
    component of them can be too long, so :func:`split_path` would raise nothing.
    """

    LIMIT = 1024  #: entries kept; past it the cache starts again empty

    def __init__(self) -> None:
        self.entries: dict[str, tuple[Inode, ...]] = {}
        #: Whole paths already split against :attr:`entries`: (the prefix's chain, the
        #: last component), so that a path seen before skips the split and its checks
        #: (@metadata names 16 files a process, each 4 times an iteration). Emptied
        #: with :attr:`entries`; its chains are theirs, checked on use the same way.
        self.paths: dict[str, tuple[tuple[Inode, ...], str]] = {}
        self.changes = Inode.tree_changes

    def parent(self, nd: Nameidata, path: str) -> tuple[Inode, str] | None:
        """(the directory holding the last component of the absolute ``path``, that
        component) if the prefix is known and still valid, else None."""
        if locktrace.trace is not None:
            return None
        known = self.paths.get(path)
        if known is not None and self.changes == Inode.tree_changes:
            chain, name = known
        else:
            if not path.startswith("/"):
                return None
            cut = path.rfind("/")
            name = path[cut + 1:]
            if not name or name in SPECIAL_NAMES or len(path) > NAME_MAX or not path.isascii():
                return None
            if self.changes != Inode.tree_changes:
                self.entries.clear()
                self.paths.clear()
                self.changes = Inode.tree_changes
                return None
            chain = self.entries.get(path[:cut])
            if chain is None:
                return None
            if len(self.paths) >= self.LIMIT:
                self.paths.clear()
            self.paths[path] = (chain, name)
        if chain[0] is not nd.root:
            return None
        for directory in chain:
            if directory.mode & S_IXUGO != S_IXUGO:
                return None
        covers = nd.covers
        if covers:
            for directory in chain:
                if id(directory) in covers:
                    return None
        return chain[-1], name

    def remember(self, nd: Nameidata, path: str, components: list[str]) -> None:
        """After ``nd`` walked the absolute ``path`` (split into ``components``): keep
        its prefix's directories if the walk could have taken no other turn."""
        if (nd.links or nd.crossed or locktrace.trace is not None or len(components) < 2
                or len(path) > NAME_MAX or not path.isascii()
                or self.changes != Inode.tree_changes):
            return
        cut = path.rfind("/")
        if not path[cut + 1:]:
            return
        covers = nd.covers
        current = nd.root
        chain = [current]
        for name in components[:-1]:
            if (type(current) is not Inode or current._lister is not None  # noqa: SLF001
                    or current.mode & (S_IFMT | S_IXUGO) != S_IFDIR | S_IXUGO
                    or name in SPECIAL_NAMES):
                return
            child = current._children.get(name)  # noqa: SLF001
            if child is None or (covers and id(child) in covers):
                return
            chain.append(child)
            current = child
        if (type(current) is not Inode or current._lister is not None  # noqa: SLF001
                or current.mode & (S_IFMT | S_IXUGO) != S_IFDIR | S_IXUGO):
            return
        if len(self.entries) >= self.LIMIT:
            self.entries.clear()
            self.paths.clear()  # (a chain there may be one no longer kept)
        self.entries[path[:cut]] = tuple(chain)
