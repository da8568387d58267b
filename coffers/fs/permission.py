"""Discretionary access control: who may read, write, search, create and delete.

The checks of Linux's fs/namei.c, fs/inode.c and fs/attr.c, on an
:class:`~cofferos.coffers.fs.inode.Inode` and the caller's credentials (anything
with ``fsuid``, ``fsgid``, ``groups`` and ``cap_effective``, see
:class:`FsCred`; the system call layer passes the task's
:class:`~cofferos.coffers.task.Credentials`):

* :func:`generic_permission` (with :func:`acl_permission_check`): the owner's,
  group's or others' bits against the filesystem uid, gid and supplementary
  groups, then CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; EACCES;
* :func:`inode_owner_or_capable`: the owner, or CAP_FOWNER (chmod, utimes);
* :func:`may_create` and :func:`may_delete` (with the sticky bit's
  :func:`check_sticky`) on a directory; EACCES for missing bits, EPERM for the
  sticky bit;
* :func:`inode_init_owner`: the owner of a new inode, from the filesystem ids or
  a setgid directory.

A read-only filesystem or mount refuses writes with EROFS before any of these
(:func:`inode_permission`, :func:`mnt_want_write`).

No ACLs, no immutable or append-only flags, no idmapped mounts; the sysctl
``fs.protected_hardlinks`` is 1 (:func:`may_linkat`), ``protected_symlinks``,
``protected_regular`` and ``protected_fifos`` 0, as in a kernel without the
distribution's sysctl.d. Every function raises :class:`FsError`, never returns
an errno. A ``cred`` of None means the kernel itself: nothing is checked.
"""

from __future__ import annotations

import errno
import stat
from typing import TYPE_CHECKING, Protocol

from ..capability import (
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_FSETID,
    cap_raised,
)
from .errors import FsError
from .inode import Inode

if TYPE_CHECKING:
    from ..userns import UserNamespace

# include/linux/fs.h
MAY_EXEC = 0x01
MAY_WRITE = 0x02
MAY_READ = 0x04
MAY_APPEND = 0x08
MAY_ACCESS = 0x10
MAY_OPEN = 0x20
MAY_CHDIR = 0x40
MAY_RWX = MAY_READ | MAY_WRITE | MAY_EXEC
S_IXUGO = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
#: What a read-only filesystem refuses to write (sb_permission): devices, FIFOs and
#: sockets on it may still be written, as they do not write the filesystem.
WRITABLE_TYPES = frozenset({stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK})
OWNER_SHIFT, GROUP_SHIFT = 6, 3
"""Where the owner's and the group's rwx bits sit in the mode (others' at 0)."""
PROTECTED_HARDLINKS = True
"""The sysctl fs.protected_hardlinks (1 in Linux's defaults since 3.6)."""


class FsCred(Protocol):
    """What the checks read of ``struct cred``."""

    @property
    def fsuid(self) -> int: ...
    @property
    def fsgid(self) -> int: ...
    @property
    def groups(self) -> tuple[int, ...]: ...
    @property
    def cap_effective(self) -> int: ...
    @property
    def userns(self) -> UserNamespace | None: ...


def capable(cred: FsCred, cap: int, inode: Inode | None = None) -> bool:
    """Without an ``inode``, capable(): ``cap`` is effective and the caller lives in
    the coffer's initial user namespace (mknod, mount, trusted xattrs: nothing a
    user namespace may do to what it does not own). With one,
    capable_wrt_inode_uidgid: ``cap`` is effective in the caller's own user
    namespace and the inode's owner and group are mapped there (always so in the
    initial one)."""
    if not cap_raised(cred.cap_effective, cap):
        return False
    if cred.userns is None:
        return True
    if inode is None:
        return False
    from cofferos.coffers.userns import GID_MAP, INVALID_ID, UID_MAP, from_kid

    return (from_kid(cred.userns, UID_MAP, inode.uid) != INVALID_ID
            and from_kid(cred.userns, GID_MAP, inode.gid) != INVALID_ID)


def in_group_p(cred: FsCred, gid: int) -> bool:
    """The filesystem gid or a supplementary group is ``gid`` (kernel/groups.c)."""
    return gid == cred.fsgid or gid in cred.groups


def acl_permission_check(inode: Inode, cred: FsCred, mask: int) -> bool:
    """Whether the one class of bits that applies (owner, else group, else others)
    grants every right in ``mask`` (fs/namei.c, without ACLs)."""
    mode = inode.mode
    if cred.fsuid == inode.uid:
        mode >>= OWNER_SHIFT
    elif in_group_p(cred, inode.gid):
        mode >>= GROUP_SHIFT
    return not mask & MAY_RWX & ~mode


def generic_permission(inode: Inode, cred: FsCred, mask: int) -> bool:
    """fs/namei.c's generic_permission: the mode bits, then the capabilities that
    override them. A directory may be read and searched with CAP_DAC_READ_SEARCH and
    anything done to it with CAP_DAC_OVERRIDE; a file may be read with
    CAP_DAC_READ_SEARCH, and read or written with CAP_DAC_OVERRIDE, but executed
    only if some execute bit is set."""
    if acl_permission_check(inode, cred, mask):
        return True
    if inode.is_dir():
        if not mask & MAY_WRITE and capable(cred, CAP_DAC_READ_SEARCH, inode):
            return True
        return capable(cred, CAP_DAC_OVERRIDE, inode)
    mask &= MAY_RWX
    if mask == MAY_READ and capable(cred, CAP_DAC_READ_SEARCH, inode):
        return True
    if not mask & MAY_EXEC or inode.mode & S_IXUGO:
        return capable(cred, CAP_DAC_OVERRIDE, inode)
    return False


def inode_permission(inode: Inode, cred: FsCred | None, mask: int, what: str = "") -> None:
    """EACCES unless ``cred`` has every right in ``mask`` on ``inode`` (inode_permission);
    first EROFS for writing a file, directory or symlink of a read-only filesystem
    (sb_permission), whoever asks; EPERM for writing an immutable file, whoever asks."""
    if mask & MAY_WRITE and inode.sb.read_only and stat.S_IFMT(inode.mode) in WRITABLE_TYPES:
        raise FsError(errno.EROFS, what)
    if mask & MAY_WRITE and inode.immutable:
        raise FsError(errno.EPERM, what)
    if cred is not None and not generic_permission(inode, cred, mask):
        raise FsError(errno.EACCES, what)


def mnt_want_write(inode: Inode, what: str = "") -> None:
    """EROFS if ``inode`` is on a read-only filesystem or mount: the check of every call
    that changes an inode without asking for write permission (chmod, chown, utimes,
    setxattr...)."""
    if inode.sb.read_only:
        raise FsError(errno.EROFS, what)


def may_lookup(directory: Inode, cred: FsCred | None, name: str = "") -> None:
    """Search permission on a directory a component is looked up in (may_lookup).

    The mode bits are asked first, as generic_permission would: they grant the search
    on nearly every component of a path walk, and then :func:`inode_permission` (whose
    read-only and immutable checks concern writes only) would find the same."""
    if cred is None or directory.mode & S_IXUGO == S_IXUGO:  # (every class may search)
        return
    if acl_permission_check(directory, cred, MAY_EXEC):
        return
    inode_permission(directory, cred, MAY_EXEC, name)


def inode_owner_or_capable(inode: Inode, cred: FsCred | None) -> bool:
    """The caller owns ``inode`` or holds CAP_FOWNER (fs/inode.c)."""
    return cred is None or cred.fsuid == inode.uid or capable(cred, CAP_FOWNER, inode)


def may_create(directory: Inode, cred: FsCred | None, name: str = "") -> None:
    """Write and search permission on the directory a new entry goes in (may_create;
    the caller has already answered EEXIST and ENOENT)."""
    inode_permission(directory, cred, MAY_WRITE | MAY_EXEC, name)


def check_sticky(directory: Inode, inode: Inode, cred: FsCred) -> bool:
    """Whether the sticky bit of ``directory`` keeps the caller from removing or
    renaming ``inode``: neither is the caller's and it lacks CAP_FOWNER."""
    if not directory.mode & stat.S_ISVTX:
        return False
    if cred.fsuid in (inode.uid, directory.uid):
        return False
    return not capable(cred, CAP_FOWNER, inode)


def may_delete(directory: Inode, victim: Inode, cred: FsCred | None, name: str = "") -> None:
    """Whether ``victim`` may be removed from (or renamed out of, or replaced in)
    ``directory`` (may_delete): EACCES without write and search permission on the
    directory, EPERM when its sticky bit protects the victim. The type checks
    (EISDIR, ENOTDIR, EBUSY) come after, in the caller."""
    if cred is None:
        return
    inode_permission(directory, cred, MAY_WRITE | MAY_EXEC, name)
    if check_sticky(directory, victim, cred):
        raise FsError(errno.EPERM, f"sticky directory: {name}")


def may_linkat(inode: Inode, cred: FsCred | None) -> None:
    """fs.protected_hardlinks: EPERM for a hard link to a file the caller neither owns
    nor may read and write, or that is setuid, or setgid and group-executable."""
    if cred is None or not PROTECTED_HARDLINKS or inode_owner_or_capable(inode, cred):
        return
    setgid_exec = stat.S_ISGID | stat.S_IXGRP
    safe = (inode.is_reg() and not inode.mode & stat.S_ISUID
            and inode.mode & setgid_exec != setgid_exec
            and generic_permission(inode, cred, MAY_READ | MAY_WRITE))
    if not safe:
        raise FsError(errno.EPERM, "protected_hardlinks")


def inode_init_owner(inode: Inode, directory: Inode, cred: FsCred | None) -> None:
    """Give a new ``inode`` its owner (fs/inode.c): the filesystem uid, and the
    filesystem gid, or in a setgid directory the directory's gid (a new directory
    inherits the setgid bit too; a setgid, group-executable file made by someone
    outside that group and without CAP_FSETID loses its setgid bit)."""
    if cred is None:
        return
    inode.uid = cred.fsuid
    if directory.mode & stat.S_ISGID:
        inode.gid = directory.gid
        if inode.is_dir():
            inode.mode |= stat.S_ISGID
        elif (inode.mode & (stat.S_ISGID | stat.S_IXGRP) == stat.S_ISGID | stat.S_IXGRP
              and not in_group_p(cred, inode.gid) and not capable(cred, CAP_FSETID, inode)):
            inode.mode &= ~stat.S_ISGID
    else:
        inode.gid = cred.fsgid
