"""Setting a file's access and modification times (fs/utimes.c).

utimensat is the general call: two ``struct timespec`` (access, then
modification time), each a time, ``UTIME_NOW`` (the coffer's clock now) or
``UTIME_OMIT`` (leave it); a NULL array means "both now". With a NULL path it
acts on the descriptor ``dirfd`` (what futimens does). utimes and futimesat take
``struct timeval`` (microseconds), utime ``struct utimbuf`` (seconds).

As Linux: both times UTIME_OMIT succeeds without even looking at the path;
an explicit time needs the owner (or CAP_FOWNER), EPERM
otherwise; "now" also lets anyone who may write the file; ctime always becomes
now. Nanoseconds outside [0, 1e9) that are neither marker are EINVAL, found
after the path.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.dnotify import fsnotify
from cofferos.coffers.fs import Inode
from cofferos.coffers.fs.notify import DN_ATTRIB
from cofferos.coffers.fs.permission import (
    MAY_WRITE,
    generic_permission,
    inode_owner_or_capable,
    mnt_want_write,
)
from cofferos.coffers.syscalls.attr import ATTR_FLAGS, fd_inode, user_path_at
from cofferos.coffers.syscalls.namei import AT_FDCWD
from cofferos.coffers.syscalls.uaccess import TIMESPEC, copy_from_user, fd_arg

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/linux/stat.h
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
NS_PER_SECOND = 1_000_000_000
NS_PER_MICROSECOND = 1_000
US_PER_SECOND = 1_000_000
TIMEVAL = struct.Struct("<qq")  # struct __kernel_old_timeval: tv_sec, tv_usec
UTIMBUF = struct.Struct("<qq")  # struct utimbuf: actime, modtime

Times = tuple[tuple[int, int], tuple[int, int]]  #: (seconds, nanoseconds) for atime, mtime


def _nsec_valid(nsec: int) -> bool:
    return nsec in (UTIME_NOW, UTIME_OMIT) or 0 <= nsec < NS_PER_SECOND


def vfs_utimes(task: Task, inode: Inode, times: Times | None) -> int:
    if times is not None:
        if not all(_nsec_valid(nsec) for _, nsec in times):
            return -errno.EINVAL
        if all(nsec == UTIME_NOW for _, nsec in times):
            times = None
    mnt_want_write(inode)  # EROFS before the ownership checks (utimes_common)
    task.coffer.fs.want_write(inode)
    creds = task.creds
    if times is not None:  # setattr_prepare(ATTR_TIMES_SET)
        if not inode_owner_or_capable(inode, creds):
            return -errno.EPERM
    elif not inode_owner_or_capable(inode, creds) and not generic_permission(
            inode, creds, MAY_WRITE):
        return -errno.EACCES  # ATTR_TOUCH: write permission will do
    now = inode.sb.now_ns()
    atime, mtime = times if times is not None else ((0, UTIME_NOW), (0, UTIME_NOW))
    for name, (sec, nsec) in (("atime_ns", atime), ("mtime_ns", mtime)):
        if nsec == UTIME_NOW:
            setattr(inode, name, now)
        elif nsec != UTIME_OMIT:
            setattr(inode, name, sec * NS_PER_SECOND + nsec)
    inode.ctime_ns = now
    fsnotify(task, inode, DN_ATTRIB)
    return 0


def do_utimes(task: Task, dirfd: int, pathname: int, times: Times | None, flags: int) -> int:
    if pathname == 0 and dirfd != AT_FDCWD:  # do_utimes_fd: futimens
        if flags:
            return -errno.EINVAL
        return vfs_utimes(task, fd_inode(task, dirfd), times)
    if flags & ~ATTR_FLAGS:
        return -errno.EINVAL
    return vfs_utimes(task, user_path_at(task, dirfd, pathname, flags), times)


def sys_utimensat(task: Task, dirfd: int, pathname: int, utimes: int, flags: int) -> int:
    times: Times | None = None
    if utimes:
        raw = copy_from_user(task, utimes, 2 * TIMESPEC.size)
        times = (TIMESPEC.unpack_from(raw, 0), TIMESPEC.unpack_from(raw, TIMESPEC.size))
        if times[0][1] == UTIME_OMIT and times[1][1] == UTIME_OMIT:
            return 0  # nothing to do: the path is not even looked up
    return do_utimes(task, fd_arg(dirfd), pathname, times, flags & 0xFFFF_FFFF)


def sys_futimesat(task: Task, dirfd: int, pathname: int, utimes: int) -> int:
    times: Times | None = None
    if utimes:
        raw = copy_from_user(task, utimes, 2 * TIMEVAL.size)
        pairs = (TIMEVAL.unpack_from(raw, 0), TIMEVAL.unpack_from(raw, TIMEVAL.size))
        if not all(0 <= usec < US_PER_SECOND for _, usec in pairs):
            return -errno.EINVAL  # also catches UTIME_NOW/UTIME_OMIT, utimensat's only
        atime, mtime = ((sec, usec * NS_PER_MICROSECOND) for sec, usec in pairs)
        times = (atime, mtime)
    return do_utimes(task, fd_arg(dirfd), pathname, times, 0)


def sys_utimes(task: Task, pathname: int, utimes: int) -> int:
    return sys_futimesat(task, AT_FDCWD, pathname, utimes)


def sys_utime(task: Task, pathname: int, buf: int) -> int:
    times: Times | None = None
    if buf:
        actime, modtime = UTIMBUF.unpack(copy_from_user(task, buf, UTIMBUF.size))
        times = ((actime, 0), (modtime, 0))
    return do_utimes(task, AT_FDCWD, pathname, times, 0)


def register(table: SyscallTable) -> None:
    table.add("utimensat", sys_utimensat, "dirfd", "path", "ptr", "hex")
    table.add("futimesat", sys_futimesat, "dirfd", "path", "ptr")
    table.add("utimes", sys_utimes, "path", "ptr")
    table.add("utime", sys_utime, "path", "ptr")
