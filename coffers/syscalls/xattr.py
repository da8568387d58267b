"""Extended attributes: setxattr, getxattr, listxattr, removexattr and their l* and f*
forms (fs/xattr.c, with tmpfs's simple_xattrs, mm/shmem.c).

Every file of a coffer's own filesystems (its root, tmpfs mounts) keeps extended
attributes in memory on its inode (:attr:`Inode.xattrs
<cofferos.coffers.fs.inode.Inode.xattrs>`), as tmpfs does; /proc has none
(EOPNOTSUPP), and neither have pipes, sockets or the host's streams. The rules
are fs/xattr.c's, in its order:

* EROFS for a set or remove on a read-only filesystem, after the arguments;
* the arguments first: unknown ``flags`` EINVAL, a name that is empty or longer
  than XATTR_NAME_MAX ERANGE, a value over XATTR_SIZE_MAX E2BIG, bad pointers
  EFAULT; then the file (the path's lookup errors, or EBADF);
* ``xattr_permission``: ``trusted.*`` needs CAP_SYS_ADMIN (EPERM to write, ENODATA
  to read), and so does writing ``security.*`` (the capability module's
  cap_inode_setxattr, EPERM); ``user.*`` is for regular files and directories only
  (EPERM, ENODATA), and on a sticky directory only its owner or CAP_FOWNER may
  write it; then the file's own write or read permission (EACCES), which
  ``security.*`` skips;
* the name's namespace: ``user.``, ``trusted.`` and ``security.`` are kept; any
  other (``system.``: no POSIX ACLs here) is EOPNOTSUPP, and a prefix with nothing
  after it EINVAL;
* XATTR_CREATE on an existing name EEXIST, XATTR_REPLACE or removexattr of a
  missing one ENODATA; a get or list into a buffer too small ERANGE (size 0 asks
  for the size); a set or remove changes the file's ctime.

listxattr lists names in strcmp order (tmpfs keeps them in a tree since Linux
6.2), ``trusted.*`` only to a caller with CAP_SYS_ADMIN. ``user.*`` attributes on
tmpfs are Linux 6.6's (before it, tmpfs refused them); the uname release says 6.1,
so docs/kernel.md lists this. The attributes' bytes are not charged to the
coffer's disk quota (tmpfs charges them to its inode space, which a coffer does
not model).
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_ADMIN
from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.permission import (
    MAY_READ,
    MAY_WRITE,
    capable,
    inode_owner_or_capable,
    inode_permission,
    mnt_want_write,
)
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.namei import AT_FDCWD, path_start
from cofferos.coffers.syscalls.uaccess import (
    copy_from_user,
    copy_to_user,
    fd_arg,
    get_path,
    strncpy_from_user,
)

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/linux/limits.h and xattr.h
XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536
XATTR_CREATE = 0x1
XATTR_REPLACE = 0x2
XATTR_USER_PREFIX = "user."
XATTR_TRUSTED_PREFIX = "trusted."
XATTR_SECURITY_PREFIX = "security."
#: The namespaces tmpfs has handlers for (without POSIX ACLs).
HANDLED_PREFIXES = (XATTR_USER_PREFIX, XATTR_TRUSTED_PREFIX, XATTR_SECURITY_PREFIX)


class _Target:
    """The file a call acts on: its inode in the coffer, or None (pipe, socket, stream)."""

    def __init__(self, inode: Inode | None) -> None:
        self.inode = inode

    @property
    def mode(self) -> int:
        return self.inode.mode if self.inode is not None else 0


Resolve = Callable[[], _Target]
"""Finds the file a call names, after its other arguments were read (fs/xattr.c's order)."""


def _name(task: Task, address: int) -> str:
    """The attribute's name: ERANGE if empty or longer than XATTR_NAME_MAX."""
    try:
        raw = strncpy_from_user(task, address, XATTR_NAME_MAX + 1)
    except FsError as error:
        if error.errno == errno.ENAMETOOLONG:
            raise FsError(errno.ERANGE, "xattr name too long") from None
        raise
    if not raw:
        raise FsError(errno.ERANGE, "empty xattr name")
    return raw.decode("utf-8", "surrogateescape")


def _by_path(task: Task, pathname: int, follow: bool) -> _Target:
    path = get_path(task, pathname)
    inode = task.coffer.fs.lookup(path, path_start(task, AT_FDCWD, path), follow=follow,
                                  cred=task.creds)
    return _Target(inode)


def _by_fd(task: Task, fd: int) -> _Target:
    return _Target(fdget(task, fd_arg(fd)).inode)


def _permission(task: Task, target: _Target, name: str, mask: int) -> None:
    """xattr_permission: the namespace's rule, then the file's own permission."""
    refused = errno.EPERM if mask & MAY_WRITE else errno.ENODATA
    if name.startswith(XATTR_SECURITY_PREFIX):
        if mask & MAY_WRITE and not capable(task.creds, CAP_SYS_ADMIN):
            raise FsError(errno.EPERM, "security.* needs CAP_SYS_ADMIN")  # cap_inode_setxattr
        return
    if name.startswith(XATTR_TRUSTED_PREFIX):
        if not capable(task.creds, CAP_SYS_ADMIN):
            raise FsError(refused, "trusted.* needs CAP_SYS_ADMIN")
        return
    mode = target.mode
    if name.startswith(XATTR_USER_PREFIX):
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise FsError(refused, "user.* only on regular files and directories")
        if (stat.S_ISDIR(mode) and mode & stat.S_ISVTX and mask & MAY_WRITE
                and not inode_owner_or_capable(target.inode, task.creds)):
            raise FsError(errno.EPERM, "sticky directory")
    if target.inode is not None:
        inode_permission(target.inode, task.creds, mask)


def _store(target: _Target, name: str) -> dict[str, bytes]:
    """xattr_resolve_name: the inode's attributes if its filesystem handles ``name``."""
    prefix = next((p for p in HANDLED_PREFIXES if name.startswith(p)), None)
    inode = target.inode
    if prefix is None or inode is None or not inode.has_xattrs:
        raise FsError(errno.EOPNOTSUPP, name)
    if name == prefix:
        raise FsError(errno.EINVAL, "nothing after the namespace prefix")
    if inode.xattrs is None:
        inode.xattrs = {}
    return inode.xattrs


# -- set ----------------------------------------------------------------------------------
def _set(task: Task, resolve: Resolve, name_addr: int, value: int, size: int,
         flags: int) -> int:
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        return -errno.EINVAL
    name = _name(task, name_addr)
    if size > XATTR_SIZE_MAX:
        return -errno.E2BIG
    data = copy_from_user(task, value, size) if size else b""
    target = resolve()
    if target.inode is not None:
        mnt_want_write(target.inode)
        task.coffer.fs.want_write(target.inode)
    _permission(task, target, name, MAY_WRITE)
    xattrs = _store(target, name)
    if flags & XATTR_CREATE and name in xattrs:
        return -errno.EEXIST
    if flags & XATTR_REPLACE and name not in xattrs:
        return -errno.ENODATA
    xattrs[name] = data
    target.inode.touch_change()  # type: ignore[union-attr]  # _store found it
    return 0


def sys_setxattr(task: Task, path: int, name: int, value: int, size: int, flags: int) -> int:
    return _set(task, lambda: _by_path(task, path, True), name, value, size, flags)


def sys_lsetxattr(task: Task, path: int, name: int, value: int, size: int, flags: int) -> int:
    return _set(task, lambda: _by_path(task, path, False), name, value, size, flags)


def sys_fsetxattr(task: Task, fd: int, name: int, value: int, size: int, flags: int) -> int:
    return _set(task, lambda: _by_fd(task, fd), name, value, size, flags)


# -- get ----------------------------------------------------------------------------------
def _get(task: Task, resolve: Resolve, name_addr: int, value: int, size: int) -> int:
    name = _name(task, name_addr)
    target = resolve()
    _permission(task, target, name, MAY_READ)
    data = _store(target, name).get(name)
    if data is None:
        return -errno.ENODATA
    if size:
        if len(data) > min(size, XATTR_SIZE_MAX):
            return -errno.ERANGE
        copy_to_user(task, value, data)
    return len(data)


def sys_getxattr(task: Task, path: int, name: int, value: int, size: int) -> int:
    return _get(task, lambda: _by_path(task, path, True), name, value, size)


def sys_lgetxattr(task: Task, path: int, name: int, value: int, size: int) -> int:
    return _get(task, lambda: _by_path(task, path, False), name, value, size)


def sys_fgetxattr(task: Task, fd: int, name: int, value: int, size: int) -> int:
    return _get(task, lambda: _by_fd(task, fd), name, value, size)


# -- list ---------------------------------------------------------------------------------
def _list(task: Task, target: _Target, buf: int, size: int) -> int:
    inode = target.inode
    names = sorted(inode.xattrs or {}) if inode is not None and inode.has_xattrs else []
    if not capable(task.creds, CAP_SYS_ADMIN):
        names = [n for n in names if not n.startswith(XATTR_TRUSTED_PREFIX)]
    listing = b"".join(n.encode("utf-8", "surrogateescape") + b"\0" for n in names)
    if size:
        if len(listing) > min(size, XATTR_LIST_MAX):
            return -errno.ERANGE
        copy_to_user(task, buf, listing)
    return len(listing)


def sys_listxattr(task: Task, path: int, buf: int, size: int) -> int:
    return _list(task, _by_path(task, path, True), buf, size)


def sys_llistxattr(task: Task, path: int, buf: int, size: int) -> int:
    return _list(task, _by_path(task, path, False), buf, size)


def sys_flistxattr(task: Task, fd: int, buf: int, size: int) -> int:
    return _list(task, _by_fd(task, fd), buf, size)


# -- remove -------------------------------------------------------------------------------
def _remove(task: Task, resolve: Resolve, name_addr: int) -> int:
    name = _name(task, name_addr)
    target = resolve()
    if target.inode is not None:
        mnt_want_write(target.inode)
        task.coffer.fs.want_write(target.inode)
    _permission(task, target, name, MAY_WRITE)
    xattrs = _store(target, name)
    if xattrs.pop(name, None) is None:
        return -errno.ENODATA
    target.inode.touch_change()  # type: ignore[union-attr]  # _store found it
    return 0


def sys_removexattr(task: Task, path: int, name: int) -> int:
    return _remove(task, lambda: _by_path(task, path, True), name)


def sys_lremovexattr(task: Task, path: int, name: int) -> int:
    return _remove(task, lambda: _by_path(task, path, False), name)


def sys_fremovexattr(task: Task, fd: int, name: int) -> int:
    return _remove(task, lambda: _by_fd(task, fd), name)


def register(table: SyscallTable) -> None:
    table.add("setxattr", sys_setxattr, "path", "str", "ptr", "size", "hex")
    table.add("lsetxattr", sys_lsetxattr, "path", "str", "ptr", "size", "hex")
    table.add("fsetxattr", sys_fsetxattr, "fd", "str", "ptr", "size", "hex")
    table.add("getxattr", sys_getxattr, "path", "str", "ptr", "size")
    table.add("lgetxattr", sys_lgetxattr, "path", "str", "ptr", "size")
    table.add("fgetxattr", sys_fgetxattr, "fd", "str", "ptr", "size")
    table.add("listxattr", sys_listxattr, "path", "ptr", "size")
    table.add("llistxattr", sys_llistxattr, "path", "ptr", "size")
    table.add("flistxattr", sys_flistxattr, "fd", "ptr", "size")
    table.add("removexattr", sys_removexattr, "path", "str")
    table.add("lremovexattr", sys_lremovexattr, "path", "str")
    table.add("fremovexattr", sys_fremovexattr, "fd", "str")
