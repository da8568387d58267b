"""The directory operations of a coffer's filesystem: names added to and removed
from a directory, after ``lookup_parent`` found it.

:class:`DirectoryOps` is the half of :class:`cofferos.coffers.fs.vfs.FileSystem`
that works by directory and name (mkdir, mknod, symlink, O_TMPFILE, link, unlink,
rmdir, rename), as fs/namei.c's vfs_* functions do after the path walk: each checks
the name (EEXIST, ENOTDIR, ENOENT for a removed directory), asks
:mod:`cofferos.coffers.fs.permission` (may_create, may_delete, the sticky bit), leaves
the lock records the timing machine replays (:mod:`cofferos.coffers.locktrace`:
the parent's i_rwsem, the dentry, the superblock's inode list, rename_lock) and
tells dnotify. It reads the filesystem's own state (``sb``, ``root``, read-only
mounts, ``dir_event``) from the :class:`FileSystem` it is part of.
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Callable
from typing import Any

from cofferos.coffers import locktrace

from .errors import FsError
from .inode import PERMISSION_BITS, Inode, Superblock
from .namei import CURRENT, PARENT, ROOT_NAME, SPECIAL_NAMES, check_name, split_path
from .notify import DN_CREATE, DN_DELETE, DN_RENAME
from .permission import (
    MAY_WRITE,
    FsCred,
    inode_init_owner,
    inode_permission,
    may_create,
    may_delete,
    may_linkat,
)

MKDIR_MODE_MASK = 0o1777
"""mkdir(2) keeps rwx and sticky, drops setuid and setgid."""
SYMLINK_MODE = stat.S_IFLNK | 0o777
"""Symlinks are always rwxrwxrwx on Linux."""
MKNOD_TYPES = frozenset({stat.S_IFREG, stat.S_IFCHR, stat.S_IFIFO, stat.S_IFSOCK})
"""File types mknod(2) may create in a coffer (no block devices: EPERM)."""


def _trace_dir_change(parent: Inode, sb: Superblock | None = None, *,
                      removed: bool = False) -> None:
    """A name added to or removed from ``parent`` (and an inode to or from ``sb``'s list):
    the lock records of :mod:`cofferos.coffers.locktrace`, while a machine records."""
    trace = locktrace.trace
    if trace is not None:
        trace.append((locktrace.DIR_EXCL, parent))
        # (the creator's dput after a create is not the last: shmem_mknod pins the name)
        trace.append((locktrace.D_DELETE if removed else locktrace.D_ALLOC, parent))
        if sb is not None:
            trace.append((locktrace.SB_INODES, sb))


class DirectoryOps:
    """The by-directory-and-name methods of :class:`~cofferos.coffers.fs.vfs.FileSystem`."""

    sb: Superblock
    root: Inode
    _ro_parents: Any
    dir_event: Callable[[Inode, int], None] | None

    def _want_write(self, parent: Inode) -> None:
        raise NotImplementedError  # FileSystem's: EROFS under a read-only mount

    def _check_new(self, parent: Inode, name: str) -> None:
        """``name`` may be added to ``parent``: EEXIST, ENOTDIR, ENOENT as Linux."""
        if not parent.is_dir():
            raise FsError(errno.ENOTDIR)
        if name in SPECIAL_NAMES:
            raise FsError(errno.EEXIST, name)
        check_name(name)
        if parent.unlinked():
            raise FsError(errno.ENOENT, "directory was removed")
        if parent.child(name) is not None:
            raise FsError(errno.EEXIST, name)
        if self._ro_parents:
            self._want_write(parent)

    def _new_entry(self, parent: Inode, name: str, mode: int, rdev: int = 0,
                   cred: FsCred | None = None) -> Inode:
        self._check_new(parent, name)
        may_create(parent, cred, name)
        # in a tmpfs of mount(2), the inode is the tmpfs's
        sb = parent.sb if parent.sb.tmpfs else self.sb
        if locktrace.trace is not None:  # (the test first: a call fewer untraced, issue #17)
            _trace_dir_change(parent, sb)
        inode = sb.new_inode(mode, rdev=rdev)
        inode_init_owner(inode, parent, cred)
        parent.add_entry(name, inode)
        if self.dir_event is not None:
            self.dir_event(parent, DN_CREATE)
        return inode

    def _dir_event(self, directory: Inode, event: int) -> None:
        if self.dir_event is not None:
            self.dir_event(directory, event)

    def _existing(self, parent: Inode, name: str) -> Inode:
        if not parent.is_dir():
            raise FsError(errno.ENOTDIR)
        check_name(name)
        inode = parent.child(name)
        if inode is None:
            raise FsError(errno.ENOENT, name)
        return inode

    def mkdir(self, parent: Inode, name: str, mode: int, cred: FsCred | None = None) -> Inode:
        """A new empty directory (umask already applied by the caller)."""
        return self._new_entry(parent, name, stat.S_IFDIR | mode & MKDIR_MODE_MASK, cred=cred)

    def mknod(self, parent: Inode, name: str, mode: int, rdev: int = 0,
              cred: FsCred | None = None) -> Inode:
        """A new regular file, FIFO, socket or character device; a type of 0 means regular."""
        kind = stat.S_IFMT(mode) or stat.S_IFREG
        if kind in (stat.S_IFDIR, stat.S_IFBLK):
            raise FsError(errno.EPERM, "mknod of a directory or block device")
        if kind not in MKNOD_TYPES:
            raise FsError(errno.EINVAL, f"mknod type {kind:o}")
        return self._new_entry(parent, name, kind | mode & PERMISSION_BITS, rdev, cred)

    def symlink(self, parent: Inode, name: str, target: str,
                cred: FsCred | None = None) -> Inode:
        """A new symlink holding ``target`` (not resolved now; ENOENT if empty)."""
        split_path(target)  # ENOENT if empty, ENAMETOOLONG if too long
        inode = self._new_entry(parent, name, SYMLINK_MODE, cred=cred)
        inode.set_target(target)
        return inode

    def tmpfile(self, directory: Inode, mode: int, linkable: bool,
                cred: FsCred | None = None) -> Inode:
        """An unnamed regular file in ``directory``'s filesystem (vfs_tmpfile, O_TMPFILE):
        no link yet; ``linkable`` lets linkat give it its first name (I_LINKABLE)."""
        may_create(directory, cred)
        sb = directory.sb if directory.sb.tmpfs else self.sb
        inode = sb.new_inode(stat.S_IFREG | mode & PERMISSION_BITS)
        inode_init_owner(inode, directory, cred)
        inode.nlink = 0
        inode.linkable = linkable
        return inode

    def link(self, inode: Inode, parent: Inode, name: str, cred: FsCred | None = None) -> None:
        """A new name for ``inode``; EPERM for directories, ENOENT if it was deleted
        (but an O_TMPFILE file without O_EXCL may get its first name here)."""
        self._check_new(parent, name)
        may_linkat(inode, cred)
        may_create(parent, cred, name)
        if inode.sb is not parent.sb:
            raise FsError(errno.EXDEV, "hard link across filesystems")
        if inode.is_dir():
            raise FsError(errno.EPERM, "hard link to a directory")
        if inode.nlink == 0 and not inode.linkable:
            raise FsError(errno.ENOENT, "inode has no links left")
        inode.linkable = False
        inode.nlink += 1
        inode.touch_change()
        _trace_dir_change(parent)
        parent.add_entry(name, inode)
        self._dir_event(parent, DN_CREATE)

    def unlink(self, parent: Inode, name: str, cred: FsCred | None = None) -> None:
        """Remove a non-directory name; EISDIR for directories, as Linux says."""
        if name in SPECIAL_NAMES:
            raise FsError(errno.EISDIR, name)
        if self._ro_parents:
            self._want_write(parent)
        inode = self._existing(parent, name)
        may_delete(parent, inode, cred, name)
        if inode.is_dir():
            raise FsError(errno.EISDIR, name)
        if id(inode) in self.ns.covers:  # (is_local_mountpoint)
            raise FsError(errno.EBUSY, "a mount point")
        if locktrace.trace is not None:  # (the test first: a call fewer untraced, issue #17)
            _trace_dir_change(parent, inode.sb if inode.nlink == 1 else None, removed=True)
        parent.remove_entry(name).drop_link()
        if self.dir_event is not None:
            self.dir_event(parent, DN_DELETE)

    def rmdir(self, parent: Inode, name: str, cred: FsCred | None = None) -> None:
        """Remove an empty directory."""
        if name == ROOT_NAME:
            raise FsError(errno.EBUSY, "the root")
        if name == CURRENT:
            raise FsError(errno.EINVAL, name)
        if name == PARENT:
            raise FsError(errno.ENOTEMPTY, name)
        if self._ro_parents:
            self._want_write(parent)
        inode = self._existing(parent, name)
        may_delete(parent, inode, cred, name)
        if not inode.is_dir():
            raise FsError(errno.ENOTDIR, name)
        if inode.sb is not parent.sb or id(inode) in self.ns.covers:
            raise FsError(errno.EBUSY, "a mount point")
        if inode.entries():
            raise FsError(errno.ENOTEMPTY, name)
        _trace_dir_change(parent, inode.sb, removed=True)
        parent.remove_entry(name).drop_link()
        self._dir_event(parent, DN_DELETE)

    def rename(self, old_parent: Inode, old_name: str, new_parent: Inode, new_name: str,
               cred: FsCred | None = None) -> None:
        """Move ``old_name`` to ``new_name``, replacing what is there as rename(2) does.

        Permissions as vfs_rename: may_delete on the source, may_create or may_delete
        on the target, and write permission on a directory that changes parent."""
        if old_parent.sb is not new_parent.sb:
            raise FsError(errno.EXDEV, "rename across filesystems")
        if old_name in SPECIAL_NAMES or new_name in SPECIAL_NAMES:
            raise FsError(errno.EBUSY, "rename of / . or ..")
        if self._ro_parents:
            self._want_write(old_parent)
            self._want_write(new_parent)
        inode = self._existing(old_parent, old_name)
        if not new_parent.is_dir():
            raise FsError(errno.ENOTDIR)
        check_name(new_name)
        victim = new_parent.child(new_name)
        if victim is inode:
            return  # two names of one inode (or the same name): nothing to do
        if inode.is_dir() and self._is_within(new_parent, inode):
            raise FsError(errno.EINVAL, "directory into its own subtree")
        may_delete(old_parent, inode, cred, old_name)
        if victim is None:
            may_create(new_parent, cred, new_name)
        else:
            may_delete(new_parent, victim, cred, new_name)
        if inode.is_dir() and new_parent is not old_parent:
            inode_permission(inode, cred, MAY_WRITE, "\"..\" of a moved directory")
        if inode.is_dir():
            if victim is not None and not victim.is_dir():
                raise FsError(errno.ENOTDIR, new_name)
            if victim is not None and victim.entries():
                raise FsError(errno.ENOTEMPTY, new_name)
        elif victim is not None and victim.is_dir():
            raise FsError(errno.EISDIR, new_name)
        if inode.sb is not old_parent.sb or victim is not None and victim.sb is not new_parent.sb:
            raise FsError(errno.EBUSY, "a mount point")
        if self.ns.mounted_on(inode) or victim is not None and self.ns.mounted_on(victim):
            raise FsError(errno.EBUSY, "a mount point")
        if new_parent.nlink == 0:
            raise FsError(errno.ENOENT, "directory was removed")
        trace = locktrace.trace
        if trace is not None:  # lock_rename, then d_move under rename_lock
            trace.append((locktrace.DIR_EXCL, old_parent))
            if new_parent is not old_parent:
                trace.append((locktrace.DIR_EXCL, new_parent))
            trace.append((locktrace.RENAME, None))
            if victim is None:  # (lookup_hash's negative target, unhashed by d_move, killed)
                trace.extend(((locktrace.D_NEGATIVE, new_parent),
                              (locktrace.D_LAST_PUT, new_parent)))
        if victim is not None:
            new_parent.remove_entry(new_name).drop_link()
        old_parent.remove_entry(old_name)
        new_parent.add_entry(new_name, inode)
        inode.touch_change()
        # fsnotify_move: FS_MOVED_FROM (dnotify's DN_DELETE) to the old directory, with
        # FS_DN_RENAME if the name stays in it, then FS_MOVED_TO (DN_CREATE) to the new
        self._dir_event(old_parent, DN_DELETE | (DN_RENAME if new_parent is old_parent else 0))
        self._dir_event(new_parent, DN_CREATE)

    def _is_within(self, directory: Inode, ancestor: Inode) -> bool:
        """Whether ``directory`` is ``ancestor`` or below it."""
        current = directory
        while current is not ancestor:
            if current is self.root or current.parent in (None, current):
                return False  # the root, or the root of a detached mount
            current = current.parent
        return True
