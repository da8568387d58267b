"""Mounting filesystems: mount(2) of tmpfs, remounts and propagation (fs/namespace.c).

A coffer is root in its own user and mount namespace, as a rootless container
is, and Linux lets such a namespace mount a tmpfs: so may a coffer. The mount
table is the caller's mount namespace's (:mod:`cofferos.coffers.fs.mnt_ns`); the
processes of another namespace, and another coffer, never see it. umount2 is
:mod:`.umount`'s, bind mounts and moves :mod:`.bind_mount`'s.

``mount(source, target, "tmpfs", flags, data)`` attaches a new, empty in-memory
filesystem (a :class:`~cofferos.coffers.fs.inode.Superblock` of its own, with an
anonymous device number, drawing on the coffer's disk quota as its root filesystem does)
in place of the directory ``target``, which stays as it was, covered, until the umount
(and uncovered in other namespaces). Mounting where a mount already is stacks: the
newest wins, as in Linux. ``data`` holds tmpfs's own options (size=, mode=, uid=, gid=
..., :mod:`cofferos.coffers.fs.tmpfs`); ``source`` is shown as the device name.

The mount flags act as in Linux: MS_RDONLY makes every write EROFS (open for
writing, create, remove, rename, link, chmod, chown, utimes, xattrs; see
:func:`~cofferos.coffers.fs.permission.mnt_want_write`); MS_NOSUID makes execve
ignore set-user-ID and set-group-ID bits; MS_NODEV makes devices on it EACCES to
open; MS_NOEXEC makes execve of its files EACCES and mmap of them with PROT_EXEC
EPERM. Accepted and shown without other effect: MS_SYNCHRONOUS and MS_DIRSYNC
(memory is always in sync), the atime flags (the model never updates atime),
MS_LAZYTIME and MS_SILENT.

``MS_REMOUNT`` changes a tmpfs mount of mount(2) in place (EINVAL for any other
target, the coffer's root and /proc included): alone it reconfigures the
filesystem (read-only or not, a new size=, which may not be below what its files
hold: EINVAL) and sets the mount's flags as asked; with ``MS_BIND`` it changes only
the mount's flags. Going read-only while a file of it is open for writing is EBUSY.
The propagation requests (MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_UNBINDABLE, with
MS_REC) on a mount's root succeed and change nothing: a coffer's mounts have no
peers to propagate to: every mount is private.

In a user namespace (rootless podman, bwrap, ``unshare -r``) a process mounts once
it has made a mount namespace of its own: ``unshare(CLONE_NEWUSER | CLONE_NEWNS)``
(:meth:`~cofferos.coffers.fs.mnt_ns.MountNamespace.copy`) makes a mount namespace
owned by the new user namespace, whose CAP_SYS_ADMIN may_mount then asks for, and
the mounts it copied
from the more privileged one are locked as lock_mnt_tree locks them: none can be
unmounted (EINVAL: what is under it stays hidden), and a remount cannot clear a
read-only, nosuid, nodev or noexec flag they had or change their atime mode
(EPERM). A tmpfs mounted there belongs to that user namespace (its ``uid=`` and
``gid=`` are the namespace's ids: EINVAL unmapped), so its owner may remount it;
reconfiguring any other filesystem is EPERM. proc and sysfs are EPERM there (their
PID and network namespaces are the initial user namespace's: mount_capable), as
natively without CLONE_NEWPID/NEWNET; a process in a nested PID namespace mounts a
proc of that namespace's own (:mod:`cofferos.coffers.procfs.pidns_proc`).

Errors, in Linux's order: EFAULT for an unreadable ``source``, ``fstype`` or ``data``;
the target's lookup errors (ENOENT, ENOTDIR, ELOOP, EACCES...); EPERM without
CAP_SYS_ADMIN in the user namespace owning the mount namespace (may_mount); EINVAL for
the requests this model does not implement, which is what Linux answers a request it
cannot carry out as asked (EPERM would tell the program it lacks a privilege it has):
MS_NOSYMFOLLOW, MS_MANDLOCK and any unknown bit; EINVAL for a NULL ``fstype`` or a bad
tmpfs option; EPERM for proc and sysfs in a user namespace's mount namespace, ENODEV for
any other fstype but "tmpfs"; ENOTDIR for a target that is not a directory; ENOENT for a
removed directory. The coffer's root cannot be covered (EBUSY; Linux would stack a mount
on /), nor a directory inside /proc (EPERM: its entries are computed)."""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_ADMIN
from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.fs import tmpfs as tmpfs_options
from cofferos.coffers.fs.inode import Superblock
from cofferos.coffers.fs.synthetic import SyntheticDir
from cofferos.coffers.fs.vfs import MS_RDONLY, Mount
from cofferos.coffers.mm import MemoryAccount
from cofferos.coffers.procfs import pidns_proc
from cofferos.coffers.syscalls import bind_mount
from cofferos.coffers.syscalls.mount_flags import (
    ACCEPTED,
    ATIME_FLAGS,
    MNT_FLAGS,
    MS_BIND,
    MS_MGC_MSK,
    MS_MGC_VAL,
    MS_MOVE,
    MS_NOATIME,
    MS_NODIRATIME,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SILENT,
    MS_STRICTATIME,
    PROPAGATION,
    SB_FLAGS,
    mount_options,
)
from cofferos.coffers.syscalls.namei import AT_FDCWD, path_start
from cofferos.coffers.syscalls.uaccess import copy_from_user, get_path, strncpy_from_user
from cofferos.coffers.syscalls.umount import may_mount, namespaces, writers
from cofferos.coffers.tty import devpts_mount
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

TMPFS = "tmpfs"
NO_SOURCE = "none"  #: the device name /proc/mounts shows for a NULL source
PAGE_SIZE = 4096  #: copy_mount_options and copy_mount_string read at most a page
#: Anonymous devices (major 0) as get_anon_bdev hands them out; /proc has 0:4
#: (procfs/tree.py), so tmpfs mounts take the lowest free minor from 0:5 (E: the order
#: a fresh namespace would allocate them).
FIRST_TMPFS_MINOR = 5
#: /proc/self/mountinfo's mount ids: the coffer's root is 1, /proc 2, /dev/pts 3
#: (:mod:`cofferos.coffers.tty.devpts`), and each mount(2) takes the lowest free id
#: above (mnt_alloc_id's ida).
ROOT_MOUNT_ID, PROC_MOUNT_ID, DEVPTS_MOUNT_ID = 1, 2, 3
UNLIMITED = 1 << 62  #: a tmpfs without size= has no byte limit of its own
#: Filesystems Linux refuses to mount in a user namespace without a PID (proc) or
#: network (sysfs) namespace of its own (mount_capable: EPERM, not ENODEV).
NEEDS_OWN_NAMESPACE = ("proc", "sysfs")


def _atime(flags: int) -> int:
    """The atime mode path_mount makes of ``flags`` (relatime unless noatime or
    strictatime; nodiratime apart): what MNT_LOCK_ATIME keeps."""
    mode = flags & MS_NODIRATIME
    if flags & MS_STRICTATIME:
        return mode
    return mode | (MS_NOATIME if flags & MS_NOATIME else MS_RELATIME)


def _can_change_locked_flags(mnt: Mount, new_flags: int) -> bool:
    """can_change_locked_flags: every locked flag stays set, a locked atime mode stays."""
    if mnt.locked_flags & ~new_flags:
        return False
    return not mnt.locked or _atime(mnt.flags) == _atime(new_flags)


def _mount_string(task: Task, address: int) -> str | None:
    """copy_mount_string: None for NULL, EFAULT for a bad pointer, EINVAL past a page."""
    if address == 0:
        return None
    try:
        raw = strncpy_from_user(task, address, PAGE_SIZE)
    except FsError as error:
        if error.errno == errno.EFAULT:
            raise
        raise FsError(errno.EINVAL, "mount string too long") from None
    return raw.decode("utf-8", "surrogateescape")


def _mount_data(task: Task, address: int) -> str:
    """copy_mount_options: up to a page, or up to the first unreadable byte; the
    options string ends at its NUL."""
    if address == 0:
        return ""
    try:
        raw = copy_from_user(task, address, PAGE_SIZE)
    except FsError:
        raw = copy_from_user(task, address, PAGE_SIZE - address % PAGE_SIZE)
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def mount_place(task: Task, inode: Inode, mnt: Mount | None, path: str,
                start: Inode) -> tuple[Inode, str]:
    """The directory that holds ``inode``, the target a lookup of ``path`` found (the
    root of ``mnt``, if it is one), and its name there: a mount's root is where that
    mount is; a file is its path's last name (ENOENT once removed)."""
    fs = task.coffer.fs
    if inode is fs.root:
        raise FsError(errno.EBUSY, "the coffer's root")
    if mnt is not None:
        return mnt.parent, mnt.name
    if inode.is_dir():
        return _entry_name(fs, inode)
    parent, name = fs.lookup_parent(path, start, cred=task.creds)
    if isinstance(parent, SyntheticDir):
        raise FsError(errno.EPERM, "mount inside /proc")
    if inode.nlink == 0:
        raise FsError(errno.ENOENT, "file was removed")
    return parent, name


def _entry_name(fs: FileSystem, inode: Inode) -> tuple[Inode, str]:
    """The directory that holds ``inode`` and its name there (ENOENT once removed)."""
    parent = inode.parent
    if inode.nlink == 0 or parent is None or parent is inode:
        raise FsError(errno.ENOENT, "directory was removed or detached")
    if isinstance(parent, SyntheticDir):
        raise FsError(errno.EPERM, "mount inside /proc")
    name = next((name for name, child in parent.entries() if child is inode), None)
    if name is None:
        name = next((m.name for m in fs.mounts if m.root is inode), None)
    if name is None:
        raise FsError(errno.ENOENT, "not reachable")
    return parent, name


def _space(fs: FileSystem, options: tmpfs_options.TmpfsOptions) -> MemoryAccount:
    """What the tmpfs's files draw on: its own account (size=, or no limit of its own)
    within the coffer's disk quota, so a remount can change the limit in place."""
    limit = UNLIMITED if options.size_bytes is None else options.size_bytes
    return MemoryAccount(limit, pool=fs.sb.space)


def _free_dev(task: Task) -> int:
    """The lowest anonymous device number no mount of the coffer's namespaces has."""
    taken = {m.root.sb.dev for ns in namespaces(task) for m in ns.mounts}
    minor = FIRST_TMPFS_MINOR
    while os.makedev(0, minor) in taken:
        minor += 1
    return os.makedev(0, minor)


def _new_sb(task: Task, options: tmpfs_options.TmpfsOptions) -> Superblock:
    fs = task.coffer.fs
    return Superblock(dev=_free_dev(task), now_ns=fs.sb.now_ns,
                      max_file_size=fs.sb.max_file_size, space=_space(fs, options), tmpfs=True)


def mnt_id(task: Task) -> int:
    """The lowest mount id no mount of the coffer's namespaces has (mnt_alloc_id)."""
    taken = {m.mnt_id for ns in namespaces(task) for m in ns.mounts}
    mnt_id = DEVPTS_MOUNT_ID + 1
    while mnt_id in taken:
        mnt_id += 1
    return mnt_id


def _mnt_flags(flags: int, old: int = 0) -> int:
    """The mount's flags from mount(2)'s: a remount that names no atime mode keeps
    the mount's (path_mount)."""
    new = flags & MNT_FLAGS
    if flags & MS_REMOUNT and not flags & ATIME_FLAGS:
        new |= old & ATIME_FLAGS
    return new


def refresh(mnt: Mount) -> None:
    """After a change of flags: what the write checks read (the superblock's read-only
    state: the filesystem's, or its first mount's, which a tmpfs's is here; a bind
    mount's is its own, see :meth:`~cofferos.coffers.fs.vfs.FileSystem.open`) and
    what /proc/mounts shows."""
    if not mnt.bind:
        mnt.root.sb.read_only = bool((mnt.flags | mnt.sb_flags) & MS_RDONLY)
    mnt.options = mount_options(mnt)


def _remount(task: Task, inode: Inode, mnt: Mount | None, flags: int, data: str) -> int:
    if mnt is None or mnt.tmpfs is None and not flags & MS_BIND:
        raise FsError(errno.EINVAL, "remount of what is not a tmpfs mount's root")
    sb = inode.sb
    new_flags = _mnt_flags(flags, mnt.flags)
    going_ro = flags & MS_RDONLY and not (sb.read_only or mnt.flags & MS_RDONLY)
    if not _can_change_locked_flags(mnt, new_flags):
        raise FsError(errno.EPERM, "a locked mount flag would change")
    if flags & MS_BIND:  # do_reconfigure_mnt: the mount's flags only
        if going_ro and not mnt.bind and writers(task, sb):  # (a bind's are not known)
            raise FsError(errno.EBUSY, "files open for writing")
        mnt.flags = new_flags
        refresh(mnt)
        return 0
    # do_remount: reconfigure the filesystem (shmem_reconfigure), then the mount's flags
    options = tmpfs_options.parse(data, task.coffer.memory.limit_bytes, current=mnt.tmpfs,
                                  userns=task.creds.userns)
    if not ns_capable(task.creds, mnt.sb_userns, CAP_SYS_ADMIN):
        raise FsError(errno.EPERM, "the filesystem belongs to another user namespace")
    space = sb.space
    assert isinstance(space, MemoryAccount)
    if options.size_bytes is not None and options.size_bytes < space.used_bytes:
        raise FsError(errno.EINVAL, "tmpfs: too small a size for what it holds")
    if going_ro and writers(task, sb):
        raise FsError(errno.EBUSY, "files open for writing")
    space.limit_bytes = UNLIMITED if options.size_bytes is None else options.size_bytes
    mnt.tmpfs = options
    mnt.sb_flags = flags & (SB_FLAGS | MS_RDONLY)
    mnt.flags = new_flags
    refresh(mnt)
    return 0


def _change_type(task: Task, inode: Inode, flags: int) -> int:
    """do_change_type: one propagation type, on a mount's root; nothing to propagate to."""
    fs = task.coffer.fs
    kind = flags & PROPAGATION
    if kind & (kind - 1) or flags & ~(PROPAGATION | MS_REC | MS_SILENT):
        raise FsError(errno.EINVAL, "one propagation type at a time")
    proc_root = fs.lookup("/proc", fs.root)
    if inode is not fs.root and inode is not proc_root and \
            not any(m.root is inode for m in fs.mounts):
        raise FsError(errno.EINVAL, "not a mount point")
    return 0


def sys_mount(task: Task, source: int, target: int, fstype: int, flags: int,
              data: int) -> int:
    kind = _mount_string(task, fstype)
    device = _mount_string(task, source)
    options = _mount_data(task, data)
    path = get_path(task, target)
    fs = task.coffer.fs
    start = path_start(task, AT_FDCWD, path)
    inode = fs.lookup(path, start, cred=task.creds)
    target = fs.ns.mount_at(inode, fs.walked)  # the mount whose root the target is, if any
    may_mount(task)
    if flags & MS_MGC_MSK == MS_MGC_VAL:
        flags &= ~MS_MGC_MSK
    if flags & MS_REMOUNT:
        if flags & ~ACCEPTED:
            raise FsError(errno.EINVAL, f"mount flags {flags & ~ACCEPTED:#x}")
        return _remount(task, inode, target, flags, options)
    if flags & MS_BIND:
        return bind_mount.do_loopback(task, inode, target, path, start, device, flags)
    if flags & PROPAGATION:
        return _change_type(task, inode, flags)
    if flags & MS_MOVE:
        return bind_mount.do_move_mount(task, inode, target, path, start, device)
    if kind is None:
        raise FsError(errno.EINVAL, "no filesystem type")
    if kind == pidns_proc.PROC and task.process.pid_ns is not None:
        return _new_proc(task, inode, target, path, start, flags, device)
    if kind in NEEDS_OWN_NAMESPACE and not ns_capable(task.creds, None, CAP_SYS_ADMIN):
        raise FsError(errno.EPERM, f"{kind}: its namespace is the initial user namespace's")
    if kind == "mqueue":
        from cofferos.coffers.syscalls.mqueue_mount import new_mqueue  # (it imports this module)
        return new_mqueue(task, inode, target, path, start, flags, device)
    if kind not in (TMPFS, devpts_mount.DEVPTS):
        raise FsError(errno.ENODEV, kind)
    if flags & ~ACCEPTED:
        raise FsError(errno.EINVAL, f"mount flags {flags & ~ACCEPTED:#x}")
    if not inode.is_dir():
        raise FsError(errno.ENOTDIR, path)
    if inode is fs.root:
        raise FsError(errno.EBUSY, "the coffer's root")
    creds = task.creds
    if kind == devpts_mount.DEVPTS:
        return _new_devpts(task, inode, target, path, start, flags, options, device)
    settings = tmpfs_options.parse(options, task.coffer.memory.limit_bytes,
                                   fsuid=creds.fsuid, fsgid=creds.fsgid, userns=creds.userns)
    if not ns_capable(creds, creds.userns, CAP_SYS_ADMIN):  # mount_capable (FS_USERNS_MOUNT)
        raise FsError(errno.EPERM, "tmpfs needs CAP_SYS_ADMIN in the caller's namespace")
    parent, name = mount_place(task, inode, target, path, start)
    sb = _new_sb(task, settings)
    root = sb.new_inode(stat.S_IFDIR | settings.mode, uid=settings.uid, gid=settings.gid)
    root.parent = parent  # ".." at its root, reached from inside (the walk's crossings aside)
    mnt = Mount(root, inode, parent, name, "", flags=_mnt_flags(flags),
                sb_flags=flags & (SB_FLAGS | MS_RDONLY), mnt_id=mnt_id(task),
                source=NO_SOURCE if device is None else device, tmpfs=settings,
                sb_userns=creds.userns)
    refresh(mnt)
    fs.ns.add(mnt)
    return 0


def _new_devpts(task: Task, inode: Inode, target: Mount | None, path: str, start: Inode,
                flags: int, data: str, device: str | None) -> int:
    """A new devpts instance (:mod:`cofferos.coffers.tty.devpts_mount`) on ``inode``."""
    creds = task.creds
    settings = devpts_mount.parse(data, creds.userns)
    if not ns_capable(creds, creds.userns, CAP_SYS_ADMIN):  # mount_capable (FS_USERNS_MOUNT)
        raise FsError(errno.EPERM, "devpts needs CAP_SYS_ADMIN in the caller's namespace")
    parent, name = mount_place(task, inode, target, path, start)
    instance = devpts_mount.new_instance(task, settings, _free_dev(task))
    instance.root.parent = parent
    mnt = Mount(instance.root, inode, parent, name, "", flags=_mnt_flags(flags),
                sb_flags=flags & (SB_FLAGS | MS_RDONLY), mnt_id=mnt_id(task),
                source=NO_SOURCE if device is None else device, sb_userns=creds.userns,
                fstype=devpts_mount.DEVPTS, fs_options=devpts_mount.show(settings))
    refresh(mnt)
    task.coffer.fs.ns.add(mnt)
    return 0


def _new_proc(task: Task, inode: Inode, target: Mount | None, path: str, start: Inode,
              flags: int, device: str | None) -> int:
    """A proc of the caller's nested PID namespace (:mod:`cofferos.coffers.procfs.pidns_proc`)."""
    if flags & ~ACCEPTED:
        raise FsError(errno.EINVAL, f"mount flags {flags & ~ACCEPTED:#x}")
    root = pidns_proc.new_proc_root(task, _free_dev(task))
    parent, name = mount_place(task, inode, target, path, start)
    mnt = Mount(root, inode, parent, name, "", flags=_mnt_flags(flags),
                sb_flags=flags & (SB_FLAGS | MS_RDONLY), mnt_id=mnt_id(task),
                source=NO_SOURCE if device is None else device, sb_userns=task.creds.userns,
                fstype=pidns_proc.PROC, fs_options=pidns_proc.PROC_MOUNT_OPTIONS)
    refresh(mnt)
    task.coffer.fs.ns.add(mnt)
    return 0


def register(table: SyscallTable) -> None:
    table.add("mount", sys_mount, "str", "path", "str", "hex", "ptr")
