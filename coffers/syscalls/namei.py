"""Names in directories: mkdir, mknod, rmdir, unlink, rename, link, symlink and their *at forms.

Mirrors Linux's fs/namei.c. Each handler reads its path arguments from the guest,
finds where each path starts (:func:`path_start`: the root for an absolute path,
the cwd for AT_FDCWD, else the directory open on ``dirfd``), asks the coffer's
:class:`~cofferos.coffers.fs.FileSystem` for the parent directory and last name
(``lookup_parent``) and lets it make or remove the entry; every errno comes from
there as an :class:`~cofferos.coffers.fs.FsError`. Each call passes the caller's
credentials, so that the filesystem checks search, write and sticky permissions
(:mod:`cofferos.coffers.fs.permission`) and owns new entries to the caller.

:func:`path_start` and :func:`dirfd_inode` serve the other path-taking families
too (open, stat), as path_init does for every lookup in Linux; :func:`resolve_path`
gives the absolute path a lookup reaches (for personalities' policies).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_MKNOD
from cofferos.coffers.files import DEV_FULL, DEV_NULL, DEV_RANDOM, DEV_URANDOM, DEV_ZERO
from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.namei import MAXSYMLINKS
from cofferos.coffers.fs.permission import capable, may_create
from cofferos.coffers.syscalls.fcntl import fdget_raw
from cofferos.coffers.syscalls.uaccess import fd_arg, get_path

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/linux/fcntl.h
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
# include/uapi/linux/fs.h
RENAME_NOREPLACE = 1 << 0
RENAME_EXCHANGE = 1 << 1
RENAME_WHITEOUT = 1 << 2
#: mkdir keeps the permission bits and the sticky bit (S_IRWXUGO | S_ISVTX).
MKDIR_MODE_BITS = 0o1777
SPECIAL_NAMES = frozenset({".", "..", "/"})
#: File types mknod may make (may_mknod); S_IFDIR is EPERM, anything else EINVAL.
MKNOD_TYPES = frozenset({stat.S_IFREG, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK})
#: Character devices a coffer has drivers for: mknod of any other is EPERM (no CAP_MKNOD).
KNOWN_CHAR_DEVICES = frozenset({DEV_NULL, DEV_ZERO, DEV_FULL, DEV_RANDOM, DEV_URANDOM})
S_IALLUGO = 0o7777


def dirfd_inode(task: Task, dirfd: int) -> Inode:
    """The directory a relative path starts from: the cwd, or the one open on ``dirfd``.

    EBADF if ``dirfd`` is not open, ENOTDIR if it is not a directory.
    """
    if dirfd == AT_FDCWD:
        return task.fs.cwd
    inode = fdget_raw(task, dirfd).inode
    if inode is None or not inode.is_dir():
        raise FsError(errno.ENOTDIR, "dirfd")
    return inode


def path_start(task: Task, dirfd: int, path: str) -> Inode:
    """Where a path is resolved from (path_init): ``dirfd`` is ignored for absolute
    paths, and an empty path is ENOENT before ``dirfd`` is looked at."""
    if not path:
        raise FsError(errno.ENOENT, "empty path")
    if path.startswith("/"):
        return task.fs.cwd  # unused: the walk starts at the coffer root
    return dirfd_inode(task, dirfd)


def empty_path_inode(task: Task, dirfd: int) -> Inode:
    """The inode an AT_EMPTY_PATH call with an empty path acts on: ``dirfd``'s own
    file (any kind, not only a directory), or the cwd for AT_FDCWD."""
    if dirfd == AT_FDCWD:
        return task.fs.cwd
    inode = fdget_raw(task, dirfd).inode
    if inode is None:
        raise FsError(errno.EBADF, "dirfd names no inode")
    return inode


def resolve_path(task: Task, dirfd: int, path: str, follow: bool = True) -> str:
    """The absolute path inside the coffer that ``path`` names for ``task``: where a
    lookup from ``dirfd`` (path_start) reaches, every directory walked with the task's
    credentials (symlinks, "..", mounts), and the last name followed while it is a
    symlink when ``follow``. The last name need not exist (a file about to be made).
    What a personality's ``ctx.resolve_path`` answers, and what a policy judges:
    FsError as the lookup itself fails (ENOENT for a missing directory, ELOOP)."""
    fs = task.coffer.fs
    start = path_start(task, dirfd, path)
    for _ in range(MAXSYMLINKS + 1):
        parent, name = fs.lookup_parent(path, start, cred=task.creds)
        full = posixpath.normpath(posixpath.join(fs.path_of(parent), name))
        child = parent.child(name) if name not in SPECIAL_NAMES and name else None
        if not follow or child is None or not child.is_symlink():
            return "/" + full.lstrip("/")  # normpath keeps a leading "//"
        path, start = child.readlink(), parent
    raise FsError(errno.ELOOP, path)


def user_path_parent(task: Task, dirfd: int, address: int) -> tuple[Inode, str, str]:
    """The parent directory and last name of a path argument, and the path itself."""
    path = get_path(task, address)
    start = path_start(task, dirfd, path)
    parent, name = task.coffer.fs.lookup_parent(path, start, cred=task.creds)
    return parent, name, path


def filename_create(task: Task, dirfd: int, address: int,
                    is_dir: bool = False) -> tuple[Inode, str]:
    """The parent and name where a new entry goes (mkdir, symlink, link).

    As Linux's filename_create: a trailing slash is allowed only when creating a
    directory; on anything else it is EEXIST if the name exists, else ENOENT.
    """
    path = get_path(task, address)
    stripped = path.rstrip("/") or path
    start = path_start(task, dirfd, path)
    parent, name = task.coffer.fs.lookup_parent(stripped, start, cred=task.creds)
    if stripped != path and not is_dir:
        exists = name in SPECIAL_NAMES or parent.child(name) is not None
        raise FsError(errno.EEXIST if exists else errno.ENOENT, path)
    return parent, name


def sys_mkdirat(task: Task, dirfd: int, pathname: int, mode: int) -> int:
    parent, name = filename_create(task, fd_arg(dirfd), pathname, is_dir=True)
    task.coffer.fs.mkdir(parent, name, mode & MKDIR_MODE_BITS & ~task.fs.umask, task.creds)
    return 0


def sys_mkdir(task: Task, pathname: int, mode: int) -> int:
    return sys_mkdirat(task, AT_FDCWD, pathname, mode)


def _decode_dev(dev: int) -> tuple[int, int]:
    """(major, minor) of a 32-bit device number (new_decode_dev)."""
    return (dev & 0xFFF00) >> 8, (dev & 0xFF) | ((dev >> 12) & 0xFFF00)


def sys_mknodat(task: Task, dirfd: int, pathname: int, mode: int, dev: int) -> int:
    mode &= 0xFFFF  # umode_t
    kind = stat.S_IFMT(mode) or stat.S_IFREG
    if kind == stat.S_IFDIR:
        return -errno.EPERM
    if kind not in MKNOD_TYPES:
        return -errno.EINVAL
    parent, name = filename_create(task, fd_arg(dirfd), pathname)
    rdev = 0
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        if name in SPECIAL_NAMES or parent.child(name) is not None:
            return -errno.EEXIST
        may_create(parent, task.creds, name)  # vfs_mknod: may_create, then CAP_MKNOD
        major, minor = _decode_dev(dev & 0xFFFF_FFFF)
        if kind == stat.S_IFBLK or (major, minor) not in KNOWN_CHAR_DEVICES:
            return -errno.EPERM
        if not capable(task.creds, CAP_MKNOD):
            return -errno.EPERM
        rdev = os.makedev(major, minor)
    perms = mode & S_IALLUGO & ~task.fs.umask
    task.coffer.fs.mknod(parent, name, kind | perms, rdev, task.creds)
    return 0


def sys_mknod(task: Task, pathname: int, mode: int, dev: int) -> int:
    return sys_mknodat(task, AT_FDCWD, pathname, mode, dev)


def sys_rmdir(task: Task, pathname: int) -> int:
    parent, name, _ = user_path_parent(task, AT_FDCWD, pathname)
    task.coffer.fs.rmdir(parent, name, task.creds)
    return 0


def sys_unlinkat(task: Task, dirfd: int, pathname: int, flags: int) -> int:
    if flags & ~AT_REMOVEDIR:
        return -errno.EINVAL
    parent, name, _ = user_path_parent(task, fd_arg(dirfd), pathname)
    if flags & AT_REMOVEDIR:
        task.coffer.fs.rmdir(parent, name, task.creds)
    else:
        task.coffer.fs.unlink(parent, name, task.creds)
    return 0


def sys_unlink(task: Task, pathname: int) -> int:
    return sys_unlinkat(task, AT_FDCWD, pathname, 0)


def sys_renameat2(task: Task, olddirfd: int, oldpath: int, newdirfd: int, newpath: int,
                  flags: int) -> int:
    if flags & ~RENAME_NOREPLACE:
        return -errno.EINVAL  # RENAME_EXCHANGE and RENAME_WHITEOUT are not modelled
    old_parent, old_name, old = user_path_parent(task, fd_arg(olddirfd), oldpath)
    new_parent, new_name, new = user_path_parent(task, fd_arg(newdirfd), newpath)
    if flags & RENAME_NOREPLACE and old_name not in SPECIAL_NAMES and new_name in SPECIAL_NAMES:
        return -errno.EEXIST  # "." and ".." always exist
    if old_name not in SPECIAL_NAMES and new_name not in SPECIAL_NAMES:
        source = old_parent.child(old_name)
        if source is None:
            return -errno.ENOENT
        if not source.is_dir() and (old.endswith("/") or new.endswith("/")):
            return -errno.ENOTDIR  # "file/" names a directory that is not there
        if flags & RENAME_NOREPLACE and new_parent.child(new_name) is not None:
            return -errno.EEXIST
    task.coffer.fs.rename(old_parent, old_name, new_parent, new_name, task.creds)
    return 0


def sys_renameat(task: Task, olddirfd: int, oldpath: int, newdirfd: int, newpath: int) -> int:
    return sys_renameat2(task, olddirfd, oldpath, newdirfd, newpath, 0)


def sys_rename(task: Task, oldpath: int, newpath: int) -> int:
    return sys_renameat2(task, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


def sys_linkat(task: Task, olddirfd: int, oldpath: int, newdirfd: int, newpath: int,
               flags: int) -> int:
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    olddirfd = fd_arg(olddirfd)
    old = get_path(task, oldpath)
    if not old and flags & AT_EMPTY_PATH:
        inode = empty_path_inode(task, olddirfd)
    else:
        start = path_start(task, olddirfd, old)
        inode = task.coffer.fs.lookup(old, start, follow=bool(flags & AT_SYMLINK_FOLLOW),
                                      cred=task.creds)
    parent, name = filename_create(task, fd_arg(newdirfd), newpath)
    task.coffer.fs.link(inode, parent, name, task.creds)
    return 0


def sys_link(task: Task, oldpath: int, newpath: int) -> int:
    return sys_linkat(task, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


def sys_symlinkat(task: Task, target: int, newdirfd: int, linkpath: int) -> int:
    contents = get_path(task, target)
    if not contents:
        return -errno.ENOENT
    parent, name = filename_create(task, fd_arg(newdirfd), linkpath)
    task.coffer.fs.symlink(parent, name, contents, task.creds)
    return 0


def sys_symlink(task: Task, target: int, linkpath: int) -> int:
    return sys_symlinkat(task, target, AT_FDCWD, linkpath)


def register(table: SyscallTable) -> None:
    table.add("mkdir", sys_mkdir, "path", "mode")
    table.add("mkdirat", sys_mkdirat, "dirfd", "path", "mode")
    table.add("mknod", sys_mknod, "path", "mode", "hex")
    table.add("mknodat", sys_mknodat, "dirfd", "path", "mode", "hex")
    table.add("rmdir", sys_rmdir, "path")
    table.add("unlink", sys_unlink, "path")
    table.add("unlinkat", sys_unlinkat, "dirfd", "path", "hex")
    table.add("rename", sys_rename, "path", "path")
    table.add("renameat", sys_renameat, "dirfd", "path", "dirfd", "path")
    table.add("renameat2", sys_renameat2, "dirfd", "path", "dirfd", "path", "hex")
    table.add("link", sys_link, "path", "path")
    table.add("linkat", sys_linkat, "dirfd", "path", "dirfd", "path", "hex")
    table.add("symlink", sys_symlink, "str", "path")
    table.add("symlinkat", sys_symlinkat, "str", "dirfd", "path")

