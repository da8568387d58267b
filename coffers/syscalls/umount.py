"""Unmounting: umount2 (fs/namespace.c), for the mounts of :mod:`.namespace`.

``umount2(target, flags)``: ``target`` must be the root of a mount made by mount(2)
in the caller's mount namespace (EINVAL otherwise, /proc included; another
namespace keeps its copy), not locked (EINVAL: a mount copied into a user
namespace's mount namespace, see
:meth:`~cofferos.coffers.fs.mnt_ns.MountNamespace.copy`), and the caller needs
CAP_SYS_ADMIN in the user namespace owning the mount namespace (EPERM). EBUSY when a
mount is stacked on or inside it, or when it is in use: an open file of any of the
coffer's tasks on it, a cwd inside it or a running program loaded from it (exactly, by
superblock; the check walks every task's descriptors, a few hundred objects at most);
a bind mount is busy only with a mount stacked on it (Linux: also while a file
opened through it is open, which the model, keeping no mount with an open file,
cannot tell from one opened at its source).
MNT_DETACH detaches it and every mount under it even when busy: a cwd inside keeps
working, ".." at its root stays there and getcwd says ENOENT (Linux: "(unreachable)").
MNT_FORCE does nothing more (tmpfs has no umount_begin), MNT_EXPIRE answers EAGAIN the
first time and unmounts the second (use does not clear the mark, as it does in Linux),
UMOUNT_NOFOLLOW does not follow a final symlink; other bits are EINVAL. A filesystem
unmounted while nothing uses it gives its bytes back to the quota at once
(kill_litter_super); one detached while in use keeps them charged.

:func:`open_files` and :func:`writers` also serve the remount to read-only (EBUSY
while a file of the filesystem is open for writing).
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_ADMIN
from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.fs.inode import Superblock
from cofferos.coffers.fs.mnt_ns import MountNamespace
from cofferos.coffers.fs.vfs import Mount
from cofferos.coffers.syscalls.namei import AT_FDCWD, path_start
from cofferos.coffers.syscalls.uaccess import get_path
from cofferos.coffers.task import TaskState

if TYPE_CHECKING:
    from cofferos.coffers.fdtable import FdTable
    from cofferos.coffers.files import OpenFile
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# umount2 flags (include/linux/fs.h)
MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8
UMOUNT_FLAGS = MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW
MAX_DEPTH = 4096  #: directories climbed looking for a mount's root (PATH_MAX / 1)


def may_mount(task: Task) -> None:
    """may_mount: CAP_SYS_ADMIN in the user namespace that owns the mount namespace
    (the coffer's initial one unless a user namespace made its own, see
    :meth:`cofferos.coffers.fs.mnt_ns.MountNamespace.copy`)."""
    from cofferos.coffers.userns import ns_capable

    if not ns_capable(task.creds, task.coffer.fs.user_ns, CAP_SYS_ADMIN):
        raise FsError(errno.EPERM, "mount needs CAP_SYS_ADMIN")


def namespaces(task: Task) -> list[MountNamespace]:
    """The coffer's mount namespaces that a live process is in, and its first one."""
    fs = task.coffer.fs
    found = {id(fs.init_ns): fs.init_ns}
    for other in task.coffer.tasks.values():
        ns = other.process.mnt_ns
        if ns is not None and other.alive:
            found[id(ns)] = ns
    return list(found.values())


def mounted_anywhere(task: Task, root: Inode) -> bool:
    """Whether a mount of any of the coffer's namespaces has ``root`` as its root."""
    return any(id(root) in ns.roots for ns in namespaces(task))


def within(inode: Inode, ancestor: Inode) -> bool:
    """Whether the directory ``inode`` is ``ancestor`` or below it (climbing the
    parents, across the mounts a tmpfs root's parent leads out of)."""
    current = inode
    for _ in range(MAX_DEPTH):
        if current is ancestor:
            return True
        parent = current.parent
        if parent is None or parent is current:
            return False
        current = parent
    return False


def _inside(mnt: Mount, root: Inode) -> bool:
    """Whether ``mnt`` is mounted on ``root`` or below it (climbing the parents)."""
    return within(mnt.covered if mnt.covered.is_dir() else mnt.parent, root)


def _subtree(fs: FileSystem, mnt: Mount) -> list[Mount]:
    """``mnt`` and every mount stacked on it or attached inside it, in table order (for
    a bind mount, stacked on it only: what is inside shows at its source too)."""
    tree = [mnt]
    for other in fs.mounts[fs.mounts.index(mnt) + 1:]:
        if any(other.covered is m.root or not m.bind and _inside(other, m.root)
               for m in tree):
            tree.append(other)
    return tree


def _live_tasks(task: Task) -> list[Task]:
    """The coffer's tasks that hold files (exit_fs and exit_files let go of them)."""
    return [other for other in task.coffer.tasks.values() if other.state is not TaskState.EXITED]


def open_files(task: Task) -> list[OpenFile]:
    """Every open file of the coffer's live tasks, each descriptor table once."""
    tables: dict[int, FdTable] = {id(other.files): other.files for other in _live_tasks(task)}
    return [entry.file for files in tables.values() for entry in files.fds.values()]


def writers(task: Task, sb: Superblock) -> bool:
    """Whether a file of ``sb`` is open for writing (mnt_get_writers: a remount to
    read-only is EBUSY then)."""
    return any(getattr(file, "inode", None) is not None and file.inode.sb is sb
               and file.flags & os.O_ACCMODE != os.O_RDONLY for file in open_files(task))


def _busy(task: Task) -> set[int]:
    """The superblocks (by id) the coffer's tasks hold: open files, cwds, programs."""
    held: set[int] = set()
    for other in _live_tasks(task):
        held.add(id(other.fs.cwd.sb))
        exe = getattr(other.process, "exe_inode", None)
        if exe is not None:
            held.add(id(exe.sb))
    for file in open_files(task):
        inode = getattr(file, "inode", None)
        if inode is not None and not getattr(file, "internal_mount", False):
            held.add(id(inode.sb))  # (mq_open's files are on their namespace's own mount)
    return held


def _release(root: Inode) -> None:
    """The superblock dies (kill_litter_super): every file loses its last link, and
    gives its bytes back to the quota."""
    stack = [root]
    while stack:
        for _, child in stack.pop().entries():
            if child.is_dir():
                stack.append(child)
            elif child.is_reg() and child.nlink > 0:
                child.nlink = 1
                child.drop_link()


def put_mnt_ns(task: Task, ns: MountNamespace) -> None:
    """The last process of ``ns`` is gone (put_mnt_ns, umount_tree): its mounts go,
    and a tmpfs no other namespace has gives its bytes back unless a file of it is
    still in use."""
    held = _busy(task)
    gone_mounts = list(ns.mounts)
    ns.mounts.clear()
    ns.rebuild()
    for gone in reversed(gone_mounts):
        if gone.bind or mounted_anywhere(task, gone.root):
            continue
        gone.root.parent = gone.root
        if id(gone.root.sb) not in held:
            _release(gone.root)


def sys_umount2(task: Task, target: int, flags: int) -> int:
    if flags & ~UMOUNT_FLAGS:
        raise FsError(errno.EINVAL, f"umount2 flags {flags:#x}")
    path = get_path(task, target)
    fs = task.coffer.fs
    inode = fs.lookup(path, path_start(task, AT_FDCWD, path),
                      follow=not flags & UMOUNT_NOFOLLOW, cred=task.creds)
    may_mount(task)
    mnt = fs.ns.mount_at(inode, fs.walked)
    if mnt is None:
        raise FsError(errno.EINVAL, "not a mount point")
    if mnt.locked:  # can_umount: it hides what a less privileged namespace may not see
        raise FsError(errno.EINVAL, "a locked mount")
    if flags & MNT_EXPIRE:
        if flags & (MNT_FORCE | MNT_DETACH):
            raise FsError(errno.EINVAL, "MNT_EXPIRE with MNT_FORCE or MNT_DETACH")
        if not mnt.expiry_mark:
            mnt.expiry_mark = True
            raise FsError(errno.EAGAIN, "marked for expiry")
    tree = _subtree(fs, mnt)
    held = _busy(task)
    if not flags & MNT_DETACH and (len(tree) > 1 or not mnt.bind and id(mnt.root.sb) in held):
        raise FsError(errno.EBUSY, path)
    for gone in reversed(tree):  # newest first: unwinds stacks
        fs.ns.remove(gone)
    for gone in tree:
        if gone.bind or mounted_anywhere(task, gone.root):
            continue  # (another namespace's copy keeps the filesystem)
        gone.root.parent = gone.root  # ".." at a detached root stays there
        if id(gone.root.sb) not in held:
            _release(gone.root)
    return 0


def register(table: SyscallTable) -> None:
    table.add("umount2", sys_umount2, "path", "hex")
