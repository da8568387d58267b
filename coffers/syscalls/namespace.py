"""Mounting filesystems: mount and umount2 (fs/namespace.c), for tmpfs only.

A coffer is root in its own user and mount namespace, as a rootless container
is, and Linux lets such a namespace mount a tmpfs: so may a coffer. The mount
table is the coffer's own (:attr:`FileSystem.mounts
<cofferos.coffers.fs.vfs.FileSystem.mounts>`); another coffer never sees it.

``mount(source, target, "tmpfs", flags, data)`` attaches a new, empty in-memory
filesystem (a :class:`~cofferos.coffers.fs.inode.Superblock` of its own, with an
anonymous device number, drawing on the coffer's disk quota as its root
filesystem does) in place of the directory ``target``, which stays as it was,
covered, until the umount. Mounting where a mount already is stacks: the newest
wins, as in Linux. ``source`` and ``data`` are read (a bad pointer is EFAULT) and
ignored: tmpfs options (``size=``, ``mode=``...) have no effect.

Errors, in Linux's order: EFAULT for an unreadable ``source``, ``fstype`` or ``data``;
the target's lookup errors (ENOENT, ENOTDIR, ELOOP, EACCES...); EPERM without
CAP_SYS_ADMIN (may_mount; umount2 too); EINVAL for the requests this model does not
implement, which is what Linux answers a request it cannot carry out as asked (EPERM
would tell the program it lacks a privilege it has): MS_REMOUNT, MS_BIND, MS_MOVE, the
propagation types (MS_SHARED, MS_PRIVATE, MS_SLAVE, MS_UNBINDABLE) and, on a new
mount, MS_RDONLY, MS_NODEV, MS_NOEXEC, MS_NOSYMFOLLOW, MS_MANDLOCK and any unknown
bit; EINVAL for a NULL ``fstype``; ENODEV for any fstype but "tmpfs"; ENOTDIR for a
target that is not a directory; ENOENT for a removed directory. MS_NOSUID is kept and
shown: execve ignores set-user-ID and set-group-ID bits on the mount. Accepted and
shown in /proc/mounts without other effect: MS_SYNCHRONOUS and MS_DIRSYNC (memory is
always in sync), the atime flags (the model never updates atime) and MS_SILENT. The
coffer's root cannot be covered (EBUSY; Linux would stack a mount on /), nor a
directory inside /proc (EPERM: its entries are computed).

``umount2(target, flags)``: ``target`` must be the root of a mount made by
mount(2) (EINVAL otherwise, /proc included). EBUSY when a mount is stacked on or
inside it, or when it is in use: an open file of any of the coffer's tasks on it,
a cwd inside it or a running program loaded from it (exactly, by superblock; the
check walks every task's descriptors, a few hundred objects at most). MNT_DETACH
detaches it and every mount under it even when busy: a cwd inside keeps working,
".." at its root stays there and getcwd says ENOENT (Linux: "(unreachable)").
MNT_FORCE does nothing more (tmpfs has no umount_begin), MNT_EXPIRE answers
EAGAIN the first time and unmounts the second (use does not clear the mark, as it
does in Linux), UMOUNT_NOFOLLOW does not follow a final symlink; other bits are
EINVAL. A filesystem unmounted while nothing uses it gives its bytes back to the
quota at once (kill_litter_super); one detached while in use keeps them charged.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_ADMIN
from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.fs.inode import Superblock
from cofferos.coffers.fs.permission import capable
from cofferos.coffers.fs.synthetic import SyntheticDir
from cofferos.coffers.fs.vfs import Mount
from cofferos.coffers.syscalls.namei import AT_FDCWD, path_start
from cofferos.coffers.syscalls.uaccess import copy_from_user, get_path, strncpy_from_user
from cofferos.coffers.task import TaskState

if TYPE_CHECKING:
    from cofferos.coffers.files import FdTable
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

TMPFS = "tmpfs"
PAGE_SIZE = 4096  #: copy_mount_options and copy_mount_string read at most a page
TMPFS_ROOT_MODE = 0o1777  #: M: shmem's default root mode, S_IRWXUGO | S_ISVTX (mm/shmem.c)
#: Anonymous devices (major 0) as get_anon_bdev hands them out; /proc has 0:4
#: (procfs/tree.py), so tmpfs mounts take the lowest free minor from 0:5 (E: the order
#: a fresh namespace would allocate them).
FIRST_TMPFS_MINOR = 5
# include/uapi/linux/mount.h
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MS_MGC_VAL = 0xC0ED0000  #: the old magic in the top 16 bits, stripped (path_mount)
MS_MGC_MSK = 0xFFFF0000
NOT_A_NEW_MOUNT = (MS_REMOUNT | MS_BIND | MS_MOVE | MS_SHARED | MS_PRIVATE | MS_SLAVE
                   | MS_UNBINDABLE)
#: Flags a new tmpfs mount accepts (see the module docstring).
ACCEPTED = (MS_NOSUID | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME
            | MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME | MS_SILENT)
# umount2 flags (include/linux/fs.h)
MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8
UMOUNT_FLAGS = MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW


def _mount_string(task: Task, address: int) -> str | None:
    """copy_mount_string: None for NULL, EFAULT for a bad pointer, EINVAL past a page."""
    if address == 0:
        return None
    try:
        raw = strncpy_from_user(task, address, PAGE_SIZE)
    except FsError:
        raise FsError(errno.EINVAL, "mount string too long") from None
    return raw.decode("utf-8", "surrogateescape")


def _options(flags: int) -> str:
    """The options /proc/mounts shows, in Linux's order (show_mnt_opts, show_sb_opts):
    relatime is the default atime mode unless noatime or strictatime is asked."""
    relatime = not flags & (MS_NOATIME | MS_STRICTATIME)
    shown = (("nosuid", flags & MS_NOSUID), ("noatime", flags & MS_NOATIME),
             ("nodiratime", flags & MS_NODIRATIME), ("relatime", relatime),
             ("sync", flags & MS_SYNCHRONOUS), ("dirsync", flags & MS_DIRSYNC),
             ("lazytime", flags & MS_LAZYTIME))
    return ",".join(["rw", *(name for name, on in shown if on)])


def _top(fs: FileSystem, inode: Inode) -> Inode:
    """What is seen where ``inode`` is: the root of the newest mount stacked on it."""
    covering = {id(m.covered): m.root for m in fs.mounts}
    while id(inode) in covering:
        inode = covering[id(inode)]
    return inode


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


def _new_sb(fs: FileSystem) -> Superblock:
    taken = {m.root.sb.dev for m in fs.mounts}
    minor = FIRST_TMPFS_MINOR
    while os.makedev(0, minor) in taken:
        minor += 1
    return Superblock(dev=os.makedev(0, minor), now_ns=fs.sb.now_ns,
                      max_file_size=fs.sb.max_file_size, space=fs.sb.space)


def _swap(parent: Inode, name: str, inode: Inode) -> None:
    """Put ``inode`` as ``name`` in ``parent`` without touching the parent's times."""
    times = parent.mtime_ns, parent.ctime_ns
    parent.remove_entry(name)
    parent.add_entry(name, inode)
    parent.mtime_ns, parent.ctime_ns = times


def sys_mount(task: Task, source: int, target: int, fstype: int, flags: int,
              data: int) -> int:
    kind = _mount_string(task, fstype)
    _mount_string(task, source)
    if data:
        copy_from_user(task, data, PAGE_SIZE - data % PAGE_SIZE)
    path = get_path(task, target)
    fs = task.coffer.fs
    inode = fs.lookup(path, path_start(task, AT_FDCWD, path), cred=task.creds)
    if not capable(task.creds, CAP_SYS_ADMIN):
        raise FsError(errno.EPERM, "mount needs CAP_SYS_ADMIN")  # may_mount
    if flags & MS_MGC_MSK == MS_MGC_VAL:
        flags &= ~MS_MGC_MSK
    if flags & NOT_A_NEW_MOUNT:
        raise FsError(errno.EINVAL, "only new mounts are implemented")
    if kind is None:
        raise FsError(errno.EINVAL, "no filesystem type")
    if kind != TMPFS:
        raise FsError(errno.ENODEV, kind)
    if flags & ~ACCEPTED:
        raise FsError(errno.EINVAL, f"mount flags {flags & ~ACCEPTED:#x}")
    if not inode.is_dir():
        raise FsError(errno.ENOTDIR, path)
    if inode is fs.root:
        raise FsError(errno.EBUSY, "the coffer's root")
    covered = _top(fs, inode)
    parent, name = _entry_name(fs, covered)
    sb = _new_sb(fs)
    creds = task.creds
    root = sb.new_inode(stat.S_IFDIR | TMPFS_ROOT_MODE, uid=creds.fsuid, gid=creds.fsgid)
    _swap(parent, name, root)
    fs.mounts.append(Mount(root, covered, parent, name, _options(flags)))
    return 0


def _subtree(fs: FileSystem, mnt: Mount) -> list[Mount]:
    """``mnt`` and every mount stacked on it or attached inside it, in table order."""
    sbs = {id(mnt.root.sb)}
    for other in fs.mounts[fs.mounts.index(mnt) + 1:]:
        if id(other.covered.sb) in sbs:
            sbs.add(id(other.root.sb))
    return [m for m in fs.mounts if id(m.root.sb) in sbs]


def _busy(task: Task) -> set[int]:
    """The superblocks (by id) the coffer's tasks hold: open files, cwds, programs."""
    held: set[int] = set()
    tables: dict[int, FdTable] = {}
    for other in task.coffer.tasks.values():
        if other.state is TaskState.EXITED:
            continue  # exit_fs and exit_files let go of them
        held.add(id(other.fs.cwd.sb))
        exe = getattr(other.process, "exe_inode", None)
        if exe is not None:
            held.add(id(exe.sb))
        tables[id(other.files)] = other.files
    for files in tables.values():
        for entry in files.fds.values():
            inode = getattr(entry.file, "inode", None)
            if inode is not None:
                held.add(id(inode.sb))
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


def sys_umount2(task: Task, target: int, flags: int) -> int:
    if flags & ~UMOUNT_FLAGS:
        raise FsError(errno.EINVAL, f"umount2 flags {flags:#x}")
    path = get_path(task, target)
    fs = task.coffer.fs
    inode = fs.lookup(path, path_start(task, AT_FDCWD, path),
                      follow=not flags & UMOUNT_NOFOLLOW, cred=task.creds)
    if not capable(task.creds, CAP_SYS_ADMIN):
        raise FsError(errno.EPERM, "umount needs CAP_SYS_ADMIN")  # may_mount
    mnt = next((m for m in fs.mounts if m.root is inode), None)
    if mnt is None:
        raise FsError(errno.EINVAL, "not a mount point")
    if flags & MNT_EXPIRE:
        if flags & (MNT_FORCE | MNT_DETACH):
            raise FsError(errno.EINVAL, "MNT_EXPIRE with MNT_FORCE or MNT_DETACH")
        if not mnt.expiry_mark:
            mnt.expiry_mark = True
            raise FsError(errno.EAGAIN, "marked for expiry")
    tree = _subtree(fs, mnt)
    held = _busy(task)
    if not flags & MNT_DETACH and (len(tree) > 1 or id(mnt.root.sb) in held):
        raise FsError(errno.EBUSY, path)
    for gone in reversed(tree):  # newest first: unwinds stacks
        if gone.parent.child(gone.name) is gone.root:
            _swap(gone.parent, gone.name, gone.covered)
        gone.root.parent = gone.root  # ".." at a detached root stays there
        fs.mounts.remove(gone)
    for gone in tree:
        if id(gone.root.sb) not in held:
            _release(gone.root)
    return 0


def mounted(fs: FileSystem) -> list[tuple[str, str]]:
    """The mount table for /proc/mounts: (mount point, options), oldest first; a mount
    whose mount point is no longer reachable is left out."""
    table = []
    for mnt in fs.mounts:
        try:
            table.append((fs.path_of(mnt.covered), mnt.options))
        except FsError:
            continue
    return table


def register(table: SyscallTable) -> None:
    table.add("mount", sys_mount, "str", "path", "str", "hex", "ptr")
    table.add("umount2", sys_umount2, "path", "hex")
