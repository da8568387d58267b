"""A container image's merged tree: layers applied in order, whiteouts honoured.

The middle of the image import (:mod:`cofferos.coffers.fs.image` reads the archive,
this module merges its layers, and :class:`ImageMount` turns the result into a
coffer's inodes). An :class:`ImageTree` is made once per image file and never
changes afterwards, so every coffer started from the same image shares it; each
coffer gets inodes of its own, made lazily (a directory's children on the first
look inside, a file's bytes on its first read), and writes only to those.

Layers are applied as Docker and containerd unpack them (the OCI image spec,
"Applying Changesets"), but into memory, never onto the host's disk:

* a member ``DIR/.wh.NAME`` removes NAME (and everything below it) from the lower
  layers; ``DIR/.wh..wh..opq`` hides every lower entry of DIR; whiteouts of a layer
  are applied before its other members, so they never hide the layer's own files,
  and they never appear in the tree themselves (nor do other ``.wh..wh.`` names);
* a directory over a directory keeps the lower children and takes the new owner,
  mode and time; anything else replaces what was there;
* a hard link names the same node as its target (which must already be in the tree);
* character and block devices become *opaque* nodes, as imported host devices are
  (they stat fine and cannot be opened); FIFOs are the coffer's own FIFOs.

Nothing in an archive can name a place outside the image: member names are made
relative and ``..`` is resolved lexically and stops at the image's root (as in a
chroot), symlinks along a member's path are followed inside the tree (an absolute
target starts at the image's root), and symlink targets are kept as strings that
the coffer's path walk (:mod:`cofferos.coffers.fs.namei`) resolves inside the coffer.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from cofferos.errors import ConfigError

from .inode import EMPTY_DIR_NLINK, Inode, Superblock
from .regular import ContentSource

WHITEOUT_PREFIX = ".wh."
"""A member ``.wh.NAME`` deletes NAME from the lower layers (OCI image spec)."""
OPAQUE_WHITEOUT = ".wh..wh..opq"
"""A member of this name makes its directory opaque: the lower layers' entries vanish."""
META_PREFIX = ".wh..wh."
"""AUFS bookkeeping names (``.wh..wh.plnk``, ``.wh..wh.aufs``): never part of the tree."""
IMPLICIT_DIR_MODE = stat.S_IFDIR | 0o755
"""A directory a member's path needs but no member describes (as ``mkdir -p`` makes it)."""
MAX_SYMLINK_HOPS = 40
"""Symlinks followed along one member's path before it is refused (Linux's MAXSYMLINKS)."""
NS_PER_SECOND = 1_000_000_000


class ImageError(ConfigError):
    """The image cannot be used: its archive is unknown, corrupt, or too big.

    The message is the problem alone; the caller puts the image's name in front of it
    (``--image X: ...`` on the command line)."""


@dataclass(eq=False)
class ImageNode:
    """One file of the merged image: type and permissions, owner, time, and its body."""

    mode: int
    uid: int = 0
    gid: int = 0
    mtime_ns: int = 0
    rdev: int = 0
    target: str = ""
    """A symlink's target, as stored in the archive."""
    content: ContentSource | None = None
    """A regular file's bytes (read on first use)."""
    children: dict[str, ImageNode] = field(default_factory=dict)
    """A directory's entries, by name."""
    links: int = 1
    """Names of this node in the merged tree (hard links), counted by :meth:`ImageTree.finish`."""

    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


def shown(name: str) -> str:
    """A name from an archive as an error line shows it: as is if printable, else quoted
    with escapes (a newline in a name must not split the one error line)."""
    return name if name.isprintable() else repr(name)


def member_parts(name: str) -> list[str]:
    """An archive member's name as path components below the image's root: a leading
    "/" or "./" dropped, ".." resolved lexically and stopping at the root."""
    normal = posixpath.normpath("/" + name)
    return [part for part in normal.split("/") if part]


def _node_for(member: tarfile.TarInfo, content: ContentSource | None) -> ImageNode:
    """A new node as ``member`` describes it (not for hard links)."""
    permissions = member.mode & 0o7777
    if member.isdir():
        kind = stat.S_IFDIR
    elif member.issym():
        kind = stat.S_IFLNK
    elif member.ischr():
        kind = stat.S_IFCHR
    elif member.isblk():
        kind = stat.S_IFBLK
    elif member.isfifo():
        kind = stat.S_IFIFO
    else:  # regular, contiguous, and unknown types (which tarfile reads as regular files)
        kind = stat.S_IFREG
    node = ImageNode(mode=kind | permissions, uid=member.uid, gid=member.gid,
                     mtime_ns=int(member.mtime * NS_PER_SECOND))
    if member.issym():
        node.target = member.linkname
    elif member.isdev():
        node.rdev = os.makedev(member.devmajor, member.devminor)
    elif kind == stat.S_IFREG:
        node.content = content
    return node


class ImageTree:
    """The merged tree of an image's layers; see the module docstring."""

    def __init__(self) -> None:
        self.root = ImageNode(mode=IMPLICIT_DIR_MODE)
        self.file_bytes = 0
        """Bytes of the regular files of the merged tree (each hard-linked file once)."""

    # -- applying a layer -----------------------------------------------------------------

    def apply_layer(self, members: Iterable[tuple[tarfile.TarInfo, ContentSource | None]],
                    layer: str) -> None:
        """Apply one layer: its whiteouts first, then its entries in archive order.
        ``layer`` names it in errors."""
        entries = []
        for member, content in members:
            parts = member_parts(member.name)
            name = parts[-1] if parts else ""
            if name.startswith(WHITEOUT_PREFIX):
                self._whiteout(parts[:-1], name)
            else:
                entries.append((parts, member, content))
        for parts, member, content in entries:
            self._add(parts, member, content, layer)

    def _whiteout(self, directory_parts: list[str], name: str) -> None:
        directory = self._walk(directory_parts, create=False, member=name)
        if directory is None:
            return
        if name == OPAQUE_WHITEOUT:
            directory.children.clear()
        elif not name.startswith(META_PREFIX):
            directory.children.pop(name[len(WHITEOUT_PREFIX):], None)

    def _add(self, parts: list[str], member: tarfile.TarInfo, content: ContentSource | None,
             layer: str) -> None:
        if not parts:  # "./" itself: the root's owner, mode and time
            if member.isdir():
                self._update_dir(self.root, member)
            return
        directory = self._walk(parts[:-1], create=True, member=member.name, layer=layer)
        assert directory is not None
        name, old = parts[-1], directory.children.get(parts[-1])
        if member.isdir() and old is not None and old.is_dir():
            self._update_dir(old, member)
            return
        if member.islnk():
            target_parts = member_parts(member.linkname)
            holder = self._walk(target_parts[:-1], create=False, member=member.name)
            target = holder.children.get(target_parts[-1]) if holder and target_parts else None
            if target is None or target.is_dir():
                raise ImageError(f"layer {layer}: member {member.name!r} is a hard link to "
                                 f"{member.linkname!r}, which is not a file of the image")
            directory.children[name] = target
            return
        directory.children[name] = _node_for(member, content)

    @staticmethod
    def _update_dir(node: ImageNode, member: tarfile.TarInfo) -> None:
        node.mode = stat.S_IFDIR | (member.mode & 0o7777)
        node.uid, node.gid = member.uid, member.gid
        node.mtime_ns = int(member.mtime * NS_PER_SECOND)

    def _walk(self, parts: list[str], *, create: bool, member: str,
              layer: str = "") -> ImageNode | None:
        """The directory at ``parts``, following symlinks inside the image; with
        ``create``, missing directories are made, else None when there is none."""
        stack = [self.root]
        todo = list(parts)
        hops = 0
        while todo:
            name = todo.pop(0)
            if name == "..":
                if len(stack) > 1:
                    stack.pop()
                continue
            node = stack[-1].children.get(name)
            if node is None:
                if not create:
                    return None
                if name.startswith(WHITEOUT_PREFIX):  # never a name of the merged tree
                    raise ImageError(f"layer {layer}: member {member!r}: a whiteout name "
                                     f"({shown(name)}) as a directory")
                node = stack[-1].children[name] = ImageNode(mode=IMPLICIT_DIR_MODE)
            elif stat.S_ISLNK(node.mode):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    if not create:
                        return None
                    raise ImageError(f"layer {layer}: member {member!r}: too many levels of "
                                     "symbolic links")
                if node.target.startswith("/"):
                    stack = [self.root]
                todo = [part for part in node.target.split("/") if part and part != "."] + todo
                continue
            elif not node.is_dir():
                if not create:
                    return None
                raise ImageError(f"layer {layer}: member {member!r}: a component of its path "
                                 "is not a directory")
            stack.append(node)
        return stack[-1]

    # -- after the last layer -----------------------------------------------------------

    def finish(self) -> None:
        """Count each node's names (hard links) and the bytes of the regular files."""
        seen: dict[int, ImageNode] = {}
        pending = [self.root]
        while pending:
            directory = pending.pop()
            for child in directory.children.values():
                if child.is_dir():
                    pending.append(child)
                elif id(child) in seen:
                    child.links += 1
                else:
                    child.links = 1
                    seen[id(child)] = child
        self.file_bytes = sum(node.content.size for node in seen.values()
                              if node.content is not None)


class ImageMount:
    """An :class:`ImageTree` seen through one coffer's superblock: inodes made lazily
    (a directory's entries on the first look inside), never shared with another coffer."""

    def __init__(self, tree: ImageTree, sb: Superblock) -> None:
        self.tree = tree
        self.sb = sb
        self._linked: dict[int, Inode] = {}  #: hard-linked nodes: one inode for all names

    def import_root(self) -> Inode:
        root = self._inode(self.tree.root)
        root.parent = root
        return root

    def _list(self, node: ImageNode) -> list[tuple[str, Inode]]:
        return [(name, self._inode(node.children[name])) for name in sorted(node.children)]

    def _inode(self, node: ImageNode) -> Inode:
        if node.links > 1 and id(node) in self._linked:
            return self._linked[id(node)]
        inode = self.sb.new_inode(node.mode, uid=node.uid, gid=node.gid, rdev=node.rdev)
        inode.atime_ns = inode.mtime_ns = inode.ctime_ns = node.mtime_ns
        if node.is_dir():
            inode.nlink = EMPTY_DIR_NLINK + sum(1 for child in node.children.values()
                                                if child.is_dir())
            inode.attach_directory_source(partial(self._list, node))
        elif stat.S_ISLNK(node.mode):
            inode.set_target(node.target)
        elif stat.S_ISCHR(node.mode) or stat.S_ISBLK(node.mode):
            inode.opaque = True  # a device node of the image: never opened
        elif node.content is not None:
            inode.attach_content_source(node.content)
            inode.host_key = node.content  # its pages in the kernel's page cache
            inode.nlink = node.links
            if node.links > 1:
                self._linked[id(node)] = inode
        return inode
