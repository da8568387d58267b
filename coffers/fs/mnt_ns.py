"""Mount namespaces: one mount table per namespace (fs/namespace.c's struct mnt_namespace).

Every process holds a :class:`MountNamespace` (the coffer's first one unless it made
its own with unshare or clone's ``CLONE_NEWNS``), and the coffer's
:class:`~cofferos.coffers.fs.vfs.FileSystem` walks paths through the namespace of
the task running (:attr:`FileSystem.ns <cofferos.coffers.fs.vfs.FileSystem.ns>`,
switched with the task as Linux's ``current->nsproxy``). A mount never changes the
directory tree itself: the namespace maps the directory a mount covers to the
mount, and the path walk (:class:`~cofferos.coffers.fs.namei.Nameidata`) crosses
into the mount's root when it reaches a covered directory, the newest mount of a
stack last, and ".." at a mount's root climbs back to where it is mounted. Another
namespace, with its own table, sees the directory as it is.

Mounts are found by the directory (or file) they cover, wherever the walk reaches
it from (Linux keys them by the parent mount and the dentry): a mount inside a bind
mount's source shows through the bind mount whether or not it was recursive, and a
mount made on a directory through a bind mount shows at the source too.

:meth:`MountNamespace.copy` is copy_mnt_ns: the same mounts, copied, so that
either namespace may mount and unmount without the other seeing it; a copy owned
by a less privileged user namespace locks them (lock_mnt_tree). Propagation is
private only: no mount has a peer.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inode import Inode
    from .vfs import Mount

#: The mount flags lock_mnt_tree locks in the state they are in (MNT_LOCK_READONLY ...:
#: MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC).
LOCKABLE = 1 | 2 | 4 | 8


class MountNamespace:
    """One mount namespace: its table of mounts, oldest first, and the user namespace
    that owns it (None: the coffer's initial one), whose CAP_SYS_ADMIN may_mount asks."""

    def __init__(self, user_ns: Any = None, mounts: list[Mount] | None = None) -> None:
        self.user_ns = user_ns
        self.mounts: list[Mount] = [] if mounts is None else mounts
        self.covers: dict[int, Mount] = {}
        """id of a covered inode → the mount on it (a stack: the next covers its root)."""
        self.roots: dict[int, Mount] = {}
        """id of a mount's root → the newest mount with that root."""
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute what the path walk reads after the table changed."""
        covers: dict[int, Mount] = {}
        roots: dict[int, Mount] = {}
        for mnt in self.mounts:
            covers[id(mnt.covered)] = mnt
            roots[id(mnt.root)] = mnt
        self.covers, self.roots = covers, roots

    def add(self, mnt: Mount) -> None:
        self.mounts.append(mnt)
        self.rebuild()

    def remove(self, mnt: Mount) -> None:
        self.mounts.remove(mnt)
        self.rebuild()

    def mount_at(self, inode: Inode, walked: Mount | None) -> Mount | None:
        """The mount whose root ``inode`` is, as the walk that found it crossed it
        (``walked``), else the newest tmpfs mount with that root (a walk from inside
        it): a directory bound elsewhere is no mount's root where it is."""
        if walked is not None and walked.root is inode:
            return walked
        mnt = self.roots.get(id(inode))
        return None if mnt is None or mnt.bind else mnt

    def mounted_on(self, inode: Inode) -> bool:
        """Whether a mount of this namespace covers ``inode`` (is_local_mountpoint:
        rmdir, unlink and rename of it are EBUSY)."""
        return id(inode) in self.covers

    def copy(self, user_ns: Any) -> MountNamespace:
        """copy_mnt_ns: a new namespace with a copy of every mount, owned by
        ``user_ns``; when that is another user namespace than this one's, the copies
        are locked (lock_mnt_tree: no unmount, their flags and atime mode kept)."""
        lock = user_ns is not self.user_ns
        copies = []
        for mnt in self.mounts:
            new = dataclasses.replace(mnt)
            if lock:
                new.locked = True
                new.locked_flags = mnt.flags & LOCKABLE
            copies.append(new)
        return MountNamespace(user_ns, copies)
