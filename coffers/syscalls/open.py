"""Opening and closing files, and the calls about the cwd: Linux's fs/open.c.

open, openat and creat resolve the path from where :func:`~.namei.path_start`
says, let the coffer's :class:`~cofferos.coffers.fs.FileSystem` apply open(2)'s
namei rules (O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW, O_DIRECTORY, EISDIR ...), wrap
the inode in an open file description (:func:`dentry_open`: a file, a memory
device, a pseudo-terminal of :mod:`cofferos.coffers.tty`, /dev/coffer/ops of
:mod:`cofferos.coffers.opsdev`) and install it at
the lowest free descriptor; opening a FIFO may wait for the other side
(:func:`cofferos.coffers.pipe.fifo_open`). Also here, as in fs/open.c: close,
access, faccessat and faccessat2 (do_faccessat: the real ids, or the effective
ones with AT_EACCESS), chdir, fchdir (search permission), umask (kernel/sys.c,
kept next to chdir), truncate, ftruncate and fallocate. chmod and chown are in
:mod:`.attr`, getcwd in :mod:`.d_path`.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from cofferos.coffers.capability import access_override
from cofferos.coffers.dnotify import fsnotify
from cofferos.coffers.files import DeviceFile, InodeFile, OpenFile
from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.notify import DN_MODIFY
from cofferos.coffers.fs.permission import (
    MAY_ACCESS,
    MAY_CHDIR,
    MAY_EXEC,
    MAY_WRITE,
    inode_permission,
)
from cofferos.coffers.fs.synthetic import SyntheticDir
from cofferos.coffers.leases import break_lease
from cofferos.coffers.net.sockaddr import AF_UNIX
from cofferos.coffers.net.unix_gc import unix_gc
from cofferos.coffers.net.vsock import VsockDeviceFile, is_vsock_device
from cofferos.coffers.opsdev import OpsDeviceFile, is_ops_device
from cofferos.coffers.pipe import fifo_open
from cofferos.coffers.syscalls.fcntl import fdget, fdget_raw
from cofferos.coffers.syscalls.namei import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_SYMLINK_NOFOLLOW,
    empty_path_inode,
    path_start,
)
from cofferos.coffers.syscalls.uaccess import fd_arg, get_path, signed
from cofferos.coffers.tty.devpts import is_ctty, is_ptmx, slave_index

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

#: The kernel's O_LARGEFILE on x86-64 (Python's os.O_LARGEFILE is glibc's, 0 there);
#: 64-bit opens always carry it (force_o_largefile), and F_GETFL shows it.
O_LARGEFILE = 0o100000
#: Flags that act only at open time and are not kept in f_flags (do_dentry_open).
OPEN_ONLY_FLAGS = os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC | os.O_CLOEXEC
#: O_TMPFILE is __O_TMPFILE | O_DIRECTORY; with O_CREAT as well it is EINVAL.
O_TMPFILE_BIT = os.O_TMPFILE & ~os.O_DIRECTORY
O_TMPFILE_MASK = os.O_TMPFILE | os.O_CREAT
#: The only flags an O_PATH open keeps (build_open_flags).
O_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW
#: Permission bits of a created file (S_IALLUGO).
S_IALLUGO = 0o7777
# access(2) modes (include/linux/fs.h) and faccessat2 flags.
F_OK, X_OK, W_OK, R_OK = os.F_OK, os.X_OK, os.W_OK, os.R_OK
S_IRWXO = 0o7
AT_EACCESS = 0x200
FACCESSAT2_FLAGS = AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH
#: umask keeps the permission bits only (S_IRWXUGO).
S_IRWXUGO = 0o777
U32 = 0xFFFF_FFFF
# fallocate modes (include/uapi/linux/falloc.h); a tmpfs-like file takes these two.
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_SUPPORTED_MASK = 0x7F  #: every mode bit Linux knows


def file_flags(flags: int) -> int:
    """The status flags an open file description keeps (its f_flags)."""
    if flags & os.O_PATH:
        return flags & O_PATH_FLAGS
    return (flags & ~OPEN_ONLY_FLAGS) | O_LARGEFILE


def dentry_open(task: Task, inode: Inode, flags: int, path: str) -> OpenFile:
    """An open file description for ``inode``: a device, or a file or directory."""
    kept = file_flags(flags)
    if flags & os.O_PATH or inode.is_reg() or inode.is_dir():
        return InodeFile(inode, kept, path)
    if is_ops_device(inode):
        coffer = task.coffer
        return OpsDeviceFile(inode, kept, path, coffer.monotonic_ns, coffer.stats.ops)
    if inode.is_chr():
        return _chrdev_open(task, inode, flags, kept, path)
    if inode.is_fifo():
        return fifo_open(task, inode, kept, path)
    raise FsError(errno.ENXIO, "sockets cannot be opened")


def _chrdev_open(task: Task, inode: Inode, flags: int, kept: int, path: str) -> OpenFile:
    """chrdev_open: the terminals of :mod:`cofferos.coffers.tty`, /dev/vsock, or a
    memory device."""
    devpts = task.coffer.devpts.instance_for(inode)
    if is_ptmx(inode):
        return devpts.open_master(task, inode, kept, path)
    if is_ctty(inode):
        return devpts.open_ctty(task, inode, kept, path)
    if slave_index(inode) is not None:
        return devpts.open_slave(task, inode, kept, path, noctty=bool(flags & os.O_NOCTTY))
    if is_vsock_device(inode):
        return VsockDeviceFile(inode, kept, path)
    return DeviceFile(inode, kept, path, task.coffer.random_bytes)


def _check_free_fd(task: Task) -> None:
    """EMFILE now if no descriptor is free: Linux takes the descriptor before the
    open, so a full table creates no file."""
    if task.files.lowest_free() >= task.files.limit:
        raise FsError(errno.EMFILE)


def do_tmpfile(task: Task, start: Inode, path: str, flags: int, mode: int) -> OpenFile:
    """O_TMPFILE (do_tmpfile, vfs_tmpfile): an unnamed file in the directory ``path``.

    Only the coffer's own directories can hold one: /proc and the like have no
    tmpfile operation (EOPNOTSUPP). Without O_EXCL, linkat may name it later."""
    creds = task.creds
    directory = task.coffer.fs.lookup(path, start, cred=creds)
    if not directory.is_dir():
        raise FsError(errno.ENOTDIR, path)
    inode_permission(directory, creds, MAY_WRITE | MAY_EXEC, path)
    if isinstance(directory, SyntheticDir):
        raise FsError(errno.EOPNOTSUPP, "no O_TMPFILE here")
    inode = task.coffer.fs.tmpfile(directory, mode & ~task.fs.umask,
                                   linkable=not flags & os.O_EXCL, cred=creds)
    return InodeFile(inode, file_flags(flags), path)


def do_sys_open(task: Task, dirfd: int, path: str, flags: int, mode: int) -> int:
    flags &= U32  # an int in the kernel's prototype
    # build_open_how drops O_TMPFILE from an O_PATH open; build_open_flags wants it with
    # O_DIRECTORY, without O_CREAT, and open for writing.
    tmpfile = bool(flags & O_TMPFILE_BIT) and not flags & os.O_PATH
    if tmpfile and (flags & O_TMPFILE_MASK != os.O_TMPFILE
                    or flags & os.O_ACCMODE == os.O_RDONLY):
        return -errno.EINVAL
    start = path_start(task, dirfd, path)
    _check_free_fd(task)
    stack = task.coffer.dispatcher.personalities
    writing = (flags & os.O_ACCMODE) != os.O_RDONLY or bool(flags & os.O_CREAT)
    if stack and not stack.allows("may_open", task, path, writing):
        return -errno.EACCES  # a personality's filesystem policy
    if tmpfile:
        unnamed = do_tmpfile(task, start, path, flags, mode & S_IALLUGO)
        return task.files.install(unnamed, cloexec=bool(flags & os.O_CLOEXEC))
    inode = task.coffer.fs.open(path, start, flags, mode & S_IALLUGO, task.fs.umask,
                                cred=task.creds)
    file = dentry_open(task, inode, flags, path)
    if inode.flctx is not None and not flags & os.O_PATH:
        break_lease(task, inode, file.flags, file)
    return task.files.install(file, cloexec=bool(flags & os.O_CLOEXEC))


def sys_openat(task: Task, dirfd: int, pathname: int, flags: int, mode: int) -> int:
    return do_sys_open(task, fd_arg(dirfd), get_path(task, pathname), flags, mode)


def sys_open(task: Task, pathname: int, flags: int, mode: int) -> int:
    return do_sys_open(task, AT_FDCWD, get_path(task, pathname), flags, mode)


def sys_creat(task: Task, pathname: int, mode: int) -> int:
    flags = os.O_CREAT | os.O_WRONLY | os.O_TRUNC
    return do_sys_open(task, AT_FDCWD, get_path(task, pathname), flags, mode)


def sys_close(task: Task, fd: int) -> int:
    fd = fd_arg(fd)
    file = task.files.get(fd)
    task.files.close(fd)
    if task.coffer.net.unix.inflight and getattr(file, "family", None) == AF_UNIX:
        unix_gc(task.coffer)  # unix_release_sock: sockets in flight may be garbage now
    return 0


def do_faccessat(task: Task, dirfd: int, pathname: int, mode: int, flags: int) -> int:
    if mode & ~S_IRWXO:
        return -errno.EINVAL
    if flags & ~FACCESSAT2_FLAGS:
        return -errno.EINVAL
    creds = task.creds if flags & AT_EACCESS else access_override(task.creds)
    path = get_path(task, pathname) if pathname or not flags & AT_EMPTY_PATH else ""
    if not path and flags & AT_EMPTY_PATH:
        inode = empty_path_inode(task, dirfd)
    else:
        start = path_start(task, dirfd, path)
        follow = not flags & AT_SYMLINK_NOFOLLOW
        inode = task.coffer.fs.lookup(path, start, follow=follow, cred=creds)
    # R_OK, W_OK and X_OK are MAY_READ, MAY_WRITE and MAY_EXEC; F_OK asks nothing.
    inode_permission(inode, creds, mode | MAY_ACCESS, path)
    if mode & os.W_OK and (inode.is_reg() or inode.is_dir() or inode.is_symlink()):
        task.coffer.fs.want_write(inode)  # "SuS v2 requires we report a read only fs too"
    return 0


def sys_faccessat2(task: Task, dirfd: int, pathname: int, mode: int, flags: int) -> int:
    return do_faccessat(task, fd_arg(dirfd), pathname, mode, flags)


def sys_faccessat(task: Task, dirfd: int, pathname: int, mode: int) -> int:
    return do_faccessat(task, fd_arg(dirfd), pathname, mode, 0)


def sys_access(task: Task, pathname: int, mode: int) -> int:
    return do_faccessat(task, AT_FDCWD, pathname, mode, 0)


def sys_chdir(task: Task, pathname: int) -> int:
    path = get_path(task, pathname)
    creds = task.creds
    inode = task.coffer.fs.lookup(path, path_start(task, AT_FDCWD, path), cred=creds)
    if not inode.is_dir():
        return -errno.ENOTDIR
    inode_permission(inode, creds, MAY_EXEC | MAY_CHDIR, path)
    task.fs.cwd = inode
    return 0


def sys_fchdir(task: Task, fd: int) -> int:
    inode = fdget_raw(task, fd_arg(fd)).inode
    if inode is None or not inode.is_dir():
        return -errno.ENOTDIR
    inode_permission(inode, task.creds, MAY_EXEC | MAY_CHDIR)
    task.fs.cwd = inode
    return 0


def sys_umask(task: Task, mask: int) -> int:
    old = task.fs.umask
    task.fs.umask = mask & S_IRWXUGO
    return old


def sys_truncate(task: Task, pathname: int, length: int) -> int:
    length = signed(length)
    if length < 0:
        return -errno.EINVAL
    path = get_path(task, pathname)
    inode = task.coffer.fs.lookup(path, path_start(task, AT_FDCWD, path), cred=task.creds)
    if inode.is_dir():  # vfs_truncate
        return -errno.EISDIR
    if not inode.is_reg():
        return -errno.EINVAL
    inode_permission(inode, task.creds, MAY_WRITE, path)
    break_lease(task, inode, os.O_WRONLY)
    inode.truncate(length)
    fsnotify(task, inode, DN_MODIFY)
    return 0


def sys_ftruncate(task: Task, fd: int, length: int) -> int:
    length = signed(length)
    if length < 0:
        return -errno.EINVAL
    file = fdget(task, fd_arg(fd))
    inode = file.inode
    if inode is None or not inode.is_reg() or file.flags & os.O_ACCMODE == os.O_RDONLY:
        return -errno.EINVAL  # do_ftruncate: a regular file open for writing
    inode.truncate(length)
    fsnotify(task, inode, DN_MODIFY)
    return 0


def sys_fallocate(task: Task, fd: int, mode: int, offset: int, length: int) -> int:
    mode, offset, length = mode & U32, signed(offset), signed(length)
    file = fdget(task, fd_arg(fd))
    if offset < 0 or length <= 0:  # vfs_fallocate's checks, in its order
        return -errno.EINVAL
    if mode & ~FALLOC_FL_SUPPORTED_MASK:
        return -errno.EOPNOTSUPP
    if mode & FALLOC_FL_PUNCH_HOLE and not mode & FALLOC_FL_KEEP_SIZE:
        return -errno.EOPNOTSUPP
    file.check_writable()
    inode = file.inode
    if inode is None or inode.is_fifo():
        return -errno.ESPIPE
    if inode.is_dir():
        return -errno.EISDIR
    if not inode.is_reg():
        return -errno.ENODEV
    if inode.sb.space is None:
        # procfs and the other synthetic filesystems have no fallocate (EOPNOTSUPP, as
        # natively): only tmpfs files draw on a quota, and a hole filled here was host
        # memory charged to none (1 GB a call: coffersim fuzz --seed 0).
        return -errno.EOPNOTSUPP
    end = offset + length
    if end > inode.sb.max_file_size:
        return -errno.EFBIG
    if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
        return -errno.EOPNOTSUPP  # shmem_fallocate takes no other mode
    if mode & FALLOC_FL_PUNCH_HOLE:
        inode.punch_hole(offset, min(end, inode.size))
    elif not mode & FALLOC_FL_KEEP_SIZE and end > inode.size:
        inode.allocate(end)
    return 0


def register(table: SyscallTable) -> None:
    table.add("open", sys_open, "path", "oflags", "mode")
    table.add("openat", sys_openat, "dirfd", "path", "oflags", "mode")
    table.add("creat", sys_creat, "path", "mode")
    table.add("close", sys_close, "fd")
    table.add("access", sys_access, "path", "int")
    table.add("faccessat", sys_faccessat, "dirfd", "path", "int")
    table.add("faccessat2", sys_faccessat2, "dirfd", "path", "int", "hex")
    table.add("chdir", sys_chdir, "path")
    table.add("fchdir", sys_fchdir, "fd")
    table.add("umask", sys_umask, "mode")
    table.add("truncate", sys_truncate, "path", "off")
    table.add("ftruncate", sys_ftruncate, "fd", "off")
    table.add("fallocate", sys_fallocate, "fd", "hex", "off", "off")
