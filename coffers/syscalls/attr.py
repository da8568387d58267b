"""Changing a file's mode and owner: fs/open.c's chmod and chown families, fs/attr.c's rules.

chmod, fchmod, fchmodat, fchmodat2, chown, fchown, lchown and fchownat find the
inode (by path from a dirfd, or the descriptor's own file) and change it as
``notify_change`` does after ``setattr_prepare`` has said who may:

* only the owner, or a caller with CAP_FOWNER, may change the mode (EPERM); a
  setgid bit set by a caller outside the file's group without CAP_FSETID is
  dropped;
* only a caller with CAP_CHOWN may give a file away (chown_ok); the owner may
  change its group to one of its own groups (chgrp_ok); EPERM otherwise;
* chown of anything but a directory clears the setuid bit, and the setgid bit
  when group-execute is set, even for root and even when no id changes;
* every change updates ctime; a read-only filesystem refuses them all (EROFS).

The checks are :mod:`cofferos.coffers.fs.permission`'s, on the caller's
filesystem ids and capabilities. Files with no inode in the coffer (pipes, the
host's streams) belong to nobody a guest may act for: EPERM.
"""

from __future__ import annotations

import errno
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_CHOWN, CAP_FSETID
from cofferos.coffers.dnotify import fsnotify
from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.notify import DN_ATTRIB
from cofferos.coffers.fs.permission import (
    capable,
    in_group_p,
    inode_owner_or_capable,
    mnt_want_write,
)
from cofferos.coffers.syscalls.cred import NO_ID
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.namei import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_SYMLINK_NOFOLLOW,
    empty_path_inode,
    path_start,
)
from cofferos.coffers.syscalls.uaccess import fd_arg, get_path
from cofferos.coffers.userns import GID_MAP, INVALID_ID, UID_MAP, make_kid

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

S_IALLUGO = 0o7777  #: the bits chmod may set
ATTR_FLAGS = AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH


def user_path_at(task: Task, dirfd: int, pathname: int, flags: int) -> Inode:
    """The inode a *at call names: by path, or ``dirfd``'s own with AT_EMPTY_PATH."""
    empty = flags & AT_EMPTY_PATH
    path = get_path(task, pathname) if pathname or not empty else ""
    if not path and empty:
        return empty_path_inode(task, dirfd)
    start = path_start(task, dirfd, path)
    return task.coffer.fs.lookup(path, start, follow=not flags & AT_SYMLINK_NOFOLLOW,
                                 cred=task.creds)


def fd_inode(task: Task, fd: int) -> Inode:
    """The inode behind an open descriptor (not O_PATH); EPERM if it has none here."""
    inode = fdget(task, fd_arg(fd)).inode
    if inode is None:
        raise FsError(errno.EPERM, "no inode in the coffer")
    return inode


# -- chmod --------------------------------------------------------------------------------
def chmod_common(task: Task, inode: Inode, mode: int) -> int:
    mnt_want_write(inode)
    task.coffer.fs.want_write(inode)
    if inode.is_symlink():
        return -errno.EOPNOTSUPP  # fchmodat2 with AT_SYMLINK_NOFOLLOW on a link
    creds = task.creds
    if not inode_owner_or_capable(inode, creds):
        return -errno.EPERM
    mode &= S_IALLUGO
    if not in_group_p(creds, inode.gid) and not capable(creds, CAP_FSETID, inode):
        mode &= ~stat.S_ISGID
    inode.mode = (inode.mode & ~S_IALLUGO) | mode
    inode.touch_change()
    fsnotify(task, inode, DN_ATTRIB)
    return 0


def sys_fchmodat2(task: Task, dirfd: int, pathname: int, mode: int, flags: int) -> int:
    if flags & ~ATTR_FLAGS:
        return -errno.EINVAL
    return chmod_common(task, user_path_at(task, fd_arg(dirfd), pathname, flags), mode)


def sys_fchmodat(task: Task, dirfd: int, pathname: int, mode: int) -> int:
    return sys_fchmodat2(task, dirfd, pathname, mode, 0)


def sys_chmod(task: Task, pathname: int, mode: int) -> int:
    return sys_fchmodat2(task, AT_FDCWD, pathname, mode, 0)


def sys_fchmod(task: Task, fd: int, mode: int) -> int:
    return chmod_common(task, fd_inode(task, fd), mode)


# -- chown --------------------------------------------------------------------------------
def chown_common(task: Task, inode: Inode, uid: int, gid: int) -> int:
    mnt_want_write(inode)
    task.coffer.fs.want_write(inode)
    uid, gid = uid & NO_ID, gid & NO_ID
    creds = task.creds
    if creds.userns is not None:  # the caller's ids, mapped to kernel ids (EINVAL if not)
        uid = uid if uid == NO_ID else make_kid(creds.userns, UID_MAP, uid)
        gid = gid if gid == NO_ID else make_kid(creds.userns, GID_MAP, gid)
        if INVALID_ID in (uid, gid):
            return -errno.EINVAL
    privileged = capable(creds, CAP_CHOWN, inode)
    owner = creds.fsuid == inode.uid
    if uid != NO_ID and not privileged and not (owner and uid == inode.uid):
        return -errno.EPERM  # chown_ok
    if gid != NO_ID and not privileged and not (
            owner and (gid == inode.gid or in_group_p(creds, gid))):
        return -errno.EPERM  # chgrp_ok
    if uid != NO_ID:
        inode.uid = uid
    if gid != NO_ID:
        inode.gid = gid
    if not inode.is_dir():  # ATTR_KILL_SUID | ATTR_KILL_SGID
        mode = inode.mode & ~stat.S_ISUID
        if mode & (stat.S_ISGID | stat.S_IXGRP) == stat.S_ISGID | stat.S_IXGRP:
            mode &= ~stat.S_ISGID
        inode.mode = mode
    inode.touch_change()
    fsnotify(task, inode, DN_ATTRIB)
    return 0


def sys_fchownat(task: Task, dirfd: int, pathname: int, uid: int, gid: int, flags: int) -> int:
    if flags & ~ATTR_FLAGS:
        return -errno.EINVAL
    return chown_common(task, user_path_at(task, fd_arg(dirfd), pathname, flags), uid, gid)


def sys_chown(task: Task, pathname: int, uid: int, gid: int) -> int:
    return sys_fchownat(task, AT_FDCWD, pathname, uid, gid, 0)


def sys_lchown(task: Task, pathname: int, uid: int, gid: int) -> int:
    return sys_fchownat(task, AT_FDCWD, pathname, uid, gid, AT_SYMLINK_NOFOLLOW)


def sys_fchown(task: Task, fd: int, uid: int, gid: int) -> int:
    return chown_common(task, fd_inode(task, fd), uid, gid)


def register(table: SyscallTable) -> None:
    table.add("chmod", sys_chmod, "path", "mode")
    table.add("fchmod", sys_fchmod, "fd", "mode")
    table.add("fchmodat", sys_fchmodat, "dirfd", "path", "mode")
    table.add("fchmodat2", sys_fchmodat2, "dirfd", "path", "mode", "hex")
    table.add("chown", sys_chown, "path", "int", "int")
    table.add("fchown", sys_fchown, "fd", "int", "int")
    table.add("lchown", sys_lchown, "path", "int", "int")
    table.add("fchownat", sys_fchownat, "dirfd", "path", "int", "int", "hex")
