"""Bind mounts and moves: mount(2) with MS_BIND and MS_MOVE (fs/namespace.c's
do_loopback and do_move_mount).

``mount(source, target, NULL, MS_BIND, NULL)`` makes ``source``, a directory or a file
of any mount of the caller's namespace (the coffer's root filesystem, a tmpfs, another
bind mount), seen at ``target`` too, as clone_mnt and graft_tree do: the new mount
starts with the source mount's flags (read-only stays read-only, and the flags a less
privileged namespace locked stay locked) and shows the source's filesystem in
/proc/self/mounts, with mountinfo's root field where the source is in it. ``MS_BIND |
MS_REMOUNT`` then changes the new mount's flags alone (a read-only bind mount: opens
for writing, creating, removing, renaming, chmod, chown, utimes, xattrs and
access(W_OK) by a path through it are EROFS, while the source stays writable; see
:meth:`~cofferos.coffers.fs.vfs.FileSystem.want_write`). ``MS_REC`` is accepted:
mounts inside the source show through the bind mount either way
(:mod:`cofferos.coffers.fs.mnt_ns`); without it, a source with a locked mount inside
is EINVAL, as has_locked_children makes it, so that a user namespace cannot uncover
what such a mount hides.

``mount(source, target, NULL, MS_MOVE, NULL)`` moves the mount whose root
``source`` is (with what is mounted inside it) to ``target`` (do_move_mount).

Errors, in Linux's order, after mount(2)'s own (the target's lookup, EPERM without
CAP_SYS_ADMIN over the mount namespace): EINVAL for a NULL or empty ``source``, the
source's lookup errors (ENOENT, ENOTDIR, ELOOP, EACCES ...); for a bind mount EINVAL
for a non-recursive bind of a tree holding a locked mount, ENOTDIR when one of
source and target is a directory and the other not; for a move EINVAL when the
source is not the root of a mount of mount(2) (the coffer's root, /proc and
/dev/pts cannot move) or is locked, ENOTDIR as above, ELOOP for a target inside the
mount moved. As for tmpfs mounts, the coffer's root cannot be covered (EBUSY) nor
anything inside /proc (EPERM). Propagation is private only.
"""

from __future__ import annotations

import errno
import posixpath
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.vfs import Mount
from cofferos.coffers.syscalls.namei import AT_FDCWD, path_start
from cofferos.coffers.syscalls.umount import MAX_DEPTH
from cofferos.coffers.syscalls.umount import within as _within

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

ROOT_FS_TYPE = "rootfs"  #: the coffer's root filesystem's type and device name
MS_REC = 16384


def _fs_path(inode: Inode, parent: Inode, name: str) -> str:
    """Where ``inode`` (entry ``name`` of ``parent`` if it is not a directory) is within
    its own filesystem: mountinfo's root field for a bind mount of it."""
    names: list[str] = []
    current = inode
    if not inode.is_dir():
        names.append(name)
        current = parent
    for _ in range(MAX_DEPTH):
        up = current.parent
        if up is None or up is current or up.sb is not current.sb:
            break
        entry = next((n for n, child in up.entries() if child is current), None)
        if entry is None:
            break
        names.append(entry)
        current = up
    return "/" + "/".join(reversed(names))


def _source(task: Task, device: str | None) -> tuple[Inode, Mount | None, Inode]:
    """The source's inode, the mount the walk to it ended in, and where the source is."""
    if not device:
        raise FsError(errno.EINVAL, "no source")
    fs = task.coffer.fs
    start = path_start(task, AT_FDCWD, device)
    inode = fs.lookup(device, start, cred=task.creds)
    walked = fs.walked
    return inode, walked, start


def _has_locked_children(task: Task, source: Inode) -> bool:
    """has_locked_children: a locked mount inside ``source``; in a namespace a user
    namespace copied, /proc and /dev/pts are locked too."""
    fs = task.coffer.fs
    for mnt in fs.mounts:
        if mnt.locked and _within(mnt.covered if mnt.covered.is_dir() else mnt.parent, source):
            return True
    if fs.ns.user_ns is None:
        return False
    fixed = (task.coffer.procfs.root, task.coffer.devpts.root)
    return any(root.parent is not None and _within(root.parent, source) for root in fixed)


def _check_target(task: Task, inode: Inode, source: Inode) -> None:
    if inode.is_dir() != source.is_dir():
        raise FsError(errno.ENOTDIR, "a directory and a file")


def do_loopback(task: Task, target: Inode, target_mnt: Mount | None, path: str,
                start: Inode, device: str | None, flags: int) -> int:
    from cofferos.coffers.syscalls.namespace import mnt_id, mount_place, refresh

    source, walked, source_start = _source(task, device)
    fs = task.coffer.fs
    if not flags & MS_REC and _has_locked_children(task, source):
        raise FsError(errno.EINVAL, "a locked mount inside the source")
    _check_target(task, target, source)
    parent, name = mount_place(task, target, target_mnt, path, start)
    if source.is_dir():
        src_parent, src_name = source, ""
    else:
        assert device is not None
        src_parent, src_name = fs.lookup_parent(device, source_start, cred=task.creds)
    origin = walked if walked is not None else fs.mount_of(source)
    if origin is None:  # the coffer's root filesystem
        mnt = Mount(source, target, parent, name, "", source=ROOT_FS_TYPE, fstype=ROOT_FS_TYPE)
    else:
        mnt = Mount(source, target, parent, name, "", flags=origin.flags,
                    sb_flags=origin.sb_flags, source=origin.source, tmpfs=origin.tmpfs,
                    sb_userns=origin.sb_userns, locked_flags=origin.locked_flags,
                    fstype=origin.fstype)
    mnt.bind = True
    mnt.mnt_id = mnt_id(task)
    mnt.fs_root = _fs_path(source, src_parent, src_name)
    if origin is not None and origin.fs_root != "/":
        mnt.fs_root = posixpath.normpath(origin.fs_root + mnt.fs_root)
    refresh(mnt)
    fs.ns.add(mnt)
    return 0


def do_move_mount(task: Task, target: Inode, target_mnt: Mount | None, path: str,
                  start: Inode, device: str | None) -> int:
    from cofferos.coffers.syscalls.namespace import mount_place

    source, walked, _ = _source(task, device)
    fs = task.coffer.fs
    old = fs.ns.mount_at(source, walked)
    if old is None:
        raise FsError(errno.EINVAL, "not the root of a mount")
    if old.locked:
        raise FsError(errno.EINVAL, "a locked mount")
    _check_target(task, target, source)
    place = target if target.is_dir() else fs.lookup_parent(path, start, cred=task.creds)[0]
    if place is old.root or not old.bind and _within(place, old.root):
        raise FsError(errno.ELOOP, "a mount moved inside itself")
    parent, name = mount_place(task, target, target_mnt, path, start)
    old.covered, old.parent, old.name = target, parent, name
    if not old.bind:
        old.root.parent = parent
    fs.ns.rebuild()
    return 0
