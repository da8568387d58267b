"""File attributes: stat, lstat, fstat, newfstatat, statx, readlink, readlinkat.

Mirrors Linux's fs/stat.c. The filesystem answers with a
:class:`~cofferos.coffers.fs.StatResult`; this layer finds the inode (by path,
relative to a dirfd, or the descriptor's own file for fstat and AT_EMPTY_PATH)
and encodes the answer in the guest's layout: :func:`pack_stat` for x86-64's
``struct stat`` (144 bytes) and :func:`pack_statx` for ``struct statx`` (256).
readlink lives here too, as in Linux: it copies a symlink's target without a NUL,
cut to the buffer size.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError, Inode, StatResult
from cofferos.coffers.ktime import saturate_s64
from cofferos.coffers.syscalls.fcntl import fdget_raw
from cofferos.coffers.syscalls.namei import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_NO_AUTOMOUNT,
    AT_SYMLINK_NOFOLLOW,
    empty_path_inode,
    path_start,
)
from cofferos.coffers.syscalls.uaccess import copy_to_user, fd_arg, get_path, signed
from cofferos.coffers.userns import GID_MAP, UID_MAP, from_kid_munged

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

NS_PER_SECOND = 1_000_000_000

# struct stat (arch/x86/include/uapi/asm/stat.h): st_dev, st_ino, st_nlink, st_mode,
# st_uid, st_gid, __pad0, st_rdev, st_size, st_blksize, st_blocks, st_atime,
# st_atime_nsec, st_mtime, st_mtime_nsec, st_ctime, st_ctime_nsec, __unused[3].
STAT = struct.Struct("<QQQIIIiQqqq qqqqqq qqq")
assert STAT.size == 144

# struct statx (include/uapi/linux/stat.h), the first 160 of its 256 bytes: stx_mask,
# stx_blksize, stx_attributes, stx_nlink, stx_uid, stx_gid, stx_mode, __spare0,
# stx_ino, stx_size, stx_blocks, stx_attributes_mask, then four struct
# statx_timestamp {tv_sec, tv_nsec, __reserved}: atime, btime, ctime, mtime; then
# stx_rdev_major/minor, stx_dev_major/minor, stx_mnt_id, stx_dio_mem_align,
# stx_dio_offset_align. The rest (subvolume, atomic-write limits, spares) is zero.
STATX_HEAD = struct.Struct("<IIQIIIHHQQQQ" + "qIi" * 4 + "IIIIQII")
STATX_SIZE = 256
assert STATX_HEAD.size == 160

STATX_BASIC_STATS = 0x07FF  # type, mode, nlink, uid, gid, atime, mtime, ctime, ino, size, blocks
STATX__RESERVED = 0x80000000
AT_STATX_SYNC_TYPE = 0x6000
AT_STATX_FORCE_SYNC = 0x2000
AT_STATX_DONT_SYNC = 0x4000
STATX_FLAGS = (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH
               | AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC)
NEWFSTATAT_FLAGS = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH


def _split_ns(ns: int) -> tuple[int, int]:
    """(seconds, nanoseconds) of a time, nanoseconds always in [0, 1e9); the seconds
    saturate at what the 64-bit field holds."""
    return saturate_s64(ns // NS_PER_SECOND), ns % NS_PER_SECOND


#: A time whose seconds fit the signed 64-bit field lies in [-this, this) nanoseconds.
NS_SECONDS_FIT = (1 << 63) * NS_PER_SECOND


def pack_stat(st: StatResult) -> bytes:
    """``struct stat`` as x86-64 Linux lays it out (cp_new_stat)."""
    atime, mtime, ctime = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns
    if (-NS_SECONDS_FIT <= atime < NS_SECONDS_FIT and -NS_SECONDS_FIT <= mtime < NS_SECONDS_FIT
            and -NS_SECONDS_FIT <= ctime < NS_SECONDS_FIT):  # (every stat: _split_ns inline)
        return STAT.pack(
            st.st_dev, st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid, 0,
            st.st_rdev, st.st_size, st.st_blksize, st.st_blocks,
            atime // NS_PER_SECOND, atime % NS_PER_SECOND, mtime // NS_PER_SECOND,
            mtime % NS_PER_SECOND, ctime // NS_PER_SECOND, ctime % NS_PER_SECOND, 0, 0, 0,
        )
    return STAT.pack(
        st.st_dev, st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid, 0,
        st.st_rdev, st.st_size, st.st_blksize, st.st_blocks,
        *_split_ns(st.st_atime_ns), *_split_ns(st.st_mtime_ns), *_split_ns(st.st_ctime_ns),
        0, 0, 0,
    )


def pack_statx(st: StatResult) -> bytes:
    """``struct statx`` with the basic fields (cp_statx); no birth time."""
    def stamp(ns: int) -> tuple[int, int, int]:
        return (*_split_ns(ns), 0)

    head = STATX_HEAD.pack(
        STATX_BASIC_STATS, st.st_blksize, 0, st.st_nlink, st.st_uid, st.st_gid,
        st.st_mode, 0, st.st_ino, st.st_size, st.st_blocks, 0,
        *stamp(st.st_atime_ns), 0, 0, 0, *stamp(st.st_ctime_ns), *stamp(st.st_mtime_ns),
        os.major(st.st_rdev), os.minor(st.st_rdev), os.major(st.st_dev), os.minor(st.st_dev),
        0, 0, 0,
    )
    return head + bytes(STATX_SIZE - STATX_HEAD.size)


def _stat_target(task: Task, dirfd: int, pathname: int, flags: int) -> StatResult:
    """The attributes a *at call with ``flags`` asks for (vfs_statx)."""
    empty = flags & AT_EMPTY_PATH
    path = get_path(task, pathname) if pathname or not empty else ""
    if not path and empty:
        if dirfd == AT_FDCWD:
            return task.fs.cwd.stat()
        return fdget_raw(task, dirfd).stat()  # a host stream has no inode, only a stat
    start = path_start(task, dirfd, path)
    follow = not flags & AT_SYMLINK_NOFOLLOW
    return task.coffer.fs.lookup(path, start, follow=follow, cred=task.creds).stat()


def in_userns(task: Task, st: StatResult) -> StatResult:
    """The owner and group as the caller's user namespace sees them (65534 if unmapped)."""
    ns = task.creds.userns
    if ns is None:
        return st
    return dataclasses.replace(st, st_uid=from_kid_munged(ns, UID_MAP, st.st_uid),
                               st_gid=from_kid_munged(ns, GID_MAP, st.st_gid))


def sys_newfstatat(task: Task, dirfd: int, pathname: int, statbuf: int, flags: int) -> int:
    if flags & ~NEWFSTATAT_FLAGS:
        return -errno.EINVAL
    st = in_userns(task, _stat_target(task, fd_arg(dirfd), pathname, flags))
    copy_to_user(task, statbuf, pack_stat(st))
    return 0


def sys_stat(task: Task, pathname: int, statbuf: int) -> int:
    return sys_newfstatat(task, AT_FDCWD, pathname, statbuf, 0)


def sys_lstat(task: Task, pathname: int, statbuf: int) -> int:
    return sys_newfstatat(task, AT_FDCWD, pathname, statbuf, AT_SYMLINK_NOFOLLOW)


def sys_fstat(task: Task, fd: int, statbuf: int) -> int:
    st = in_userns(task, fdget_raw(task, fd_arg(fd)).stat())
    copy_to_user(task, statbuf, pack_stat(st))
    return 0


def sys_statx(task: Task, dirfd: int, pathname: int, flags: int, mask: int,
              statxbuf: int) -> int:
    flags, mask = flags & 0xFFFF_FFFF, mask & 0xFFFF_FFFF
    if flags & ~STATX_FLAGS or flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE:
        return -errno.EINVAL
    if mask & STATX__RESERVED:
        return -errno.EINVAL
    st = in_userns(task, _stat_target(task, fd_arg(dirfd), pathname, flags))
    copy_to_user(task, statxbuf, pack_statx(st))
    return 0


def _readlink_inode(task: Task, dirfd: int, path: str) -> Inode:
    """The link readlinkat reads; an empty path means ``dirfd``'s own file."""
    if not path:
        inode = empty_path_inode(task, dirfd)
        if not inode.is_symlink():
            raise FsError(errno.ENOENT, "empty path names no symlink")
        return inode
    return task.coffer.fs.lookup(path, path_start(task, dirfd, path), follow=False,
                                 cred=task.creds)


def sys_readlinkat(task: Task, dirfd: int, pathname: int, buf: int, bufsiz: int) -> int:
    bufsiz = signed(bufsiz, 32)
    if bufsiz <= 0:
        return -errno.EINVAL
    inode = _readlink_inode(task, fd_arg(dirfd), get_path(task, pathname))
    target = os.fsencode(inode.readlink())[:bufsiz]  # EINVAL if not a symlink
    copy_to_user(task, buf, target)
    return len(target)


def sys_readlink(task: Task, pathname: int, buf: int, bufsiz: int) -> int:
    return sys_readlinkat(task, AT_FDCWD, pathname, buf, bufsiz)


def register(table: SyscallTable) -> None:
    table.add("stat", sys_stat, "path", "ptr")
    table.add("lstat", sys_lstat, "path", "ptr")
    table.add("fstat", sys_fstat, "fd", "ptr")
    table.add("newfstatat", sys_newfstatat, "dirfd", "path", "ptr", "hex")
    table.add("statx", sys_statx, "dirfd", "path", "hex", "hex", "ptr")
    table.add("readlink", sys_readlink, "path", "ptr", "size")
    table.add("readlinkat", sys_readlinkat, "dirfd", "path", "ptr", "size")
