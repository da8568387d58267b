"""Filesystem statistics: statfs and fstatfs (fs/statfs.c).

The coffer's filesystem lives in memory, like a tmpfs: it answers with
TMPFS_MAGIC, 4096-byte blocks, a size equal to the coffer's memory limit and as
free what the coffer has not yet mapped, and half as many inodes as pages (tmpfs's
default) less those in use; a tmpfs mounted with mount(2) answers the same way,
from the same memory. /proc answers as procfs, with no blocks, message queues and
mqueue mounts the same with MQUEUE_MAGIC, and pipes and the host's standard streams
(which look like pipes) as pipefs.

A tmpfs of mount(2) reports its own mount flags (f_flags: ST_RDONLY, ST_NOSUID,
ST_NODEV, ST_NOEXEC, the atime mode, as calculate_f_flags does) and, with size=, its
own blocks: the limit, and as free what its files do not hold (in whole pages of
bytes: tmpfs counts each file's pages).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from cofferos.coffers.files import OpenFile
from cofferos.coffers.fs import Inode
from cofferos.coffers.mqueue import MQUEUE_MAGIC, MessageQueue, QueueDir
from cofferos.coffers.syscalls.fcntl import fdget_raw
from cofferos.coffers.syscalls.namei import AT_FDCWD, path_start
from cofferos.coffers.syscalls.uaccess import copy_to_user, fd_arg, get_path

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/linux/magic.h
TMPFS_MAGIC = 0x01021994
PROC_SUPER_MAGIC = 0x9FA0
PIPEFS_MAGIC = 0x50495045
BLOCK_SIZE = 4096
NAME_MAX = 255
# Mount flags statfs reports (include/linux/statfs.h): the coffer's fs is noatime.
ST_VALID = 0x0020
ST_NOATIME = 0x0400
ST_NODIRATIME = 0x0800
ST_RELATIME = 0x1000
#: The MS_* flags that statfs reports under the same bit (ro, nosuid, nodev, noexec,
#: sync, noatime, nodiratime); MS_RELATIME is reported as ST_RELATIME.
SAME_BITS = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | ST_NOATIME | ST_NODIRATIME
MS_STRICTATIME = 1 << 24
PAGES_PER_INODE = 2  #: tmpfs's default nr_inodes: half the pages of RAM
# struct statfs: f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree,
# f_fsid (two ints), f_namelen, f_frsize, f_flags, f_spare[4].
STATFS = struct.Struct("<qqQQQQQiiqqq4q")
assert STATFS.size == 120


def _statfs_inode(task: Task, inode: Inode) -> bytes:
    coffer = task.coffer
    sb = inode.sb
    tmpfs = sb.tmpfs
    if sb is not coffer.fs.sb and not tmpfs:  # /proc's, or an IPC namespace's queues
        magic = MQUEUE_MAGIC if isinstance(inode, MessageQueue | QueueDir) else PROC_SUPER_MAGIC
        return STATFS.pack(magic, BLOCK_SIZE, 0, 0, 0, 0, 0, 0, sb.dev,
                           NAME_MAX, BLOCK_SIZE, ST_VALID | ST_NOATIME, 0, 0, 0, 0)
    limit = coffer.memory.limit_bytes
    blocks = limit // BLOCK_SIZE
    free = max(limit - coffer.memory.used_bytes, 0) // BLOCK_SIZE
    files = blocks // PAGES_PER_INODE
    free_files = max(files - (sb.next_ino - 1), 0)
    flags = ST_VALID | ST_NOATIME
    mnt = coffer.fs.mount_of(inode) if tmpfs else None
    if mnt is not None:
        flags = _mount_flags(mnt.flags | mnt.sb_flags)
        size = mnt.tmpfs.size_bytes if mnt.tmpfs is not None else None
        if size is not None and sb.space is not None:
            blocks = size // BLOCK_SIZE
            free = max(blocks - -(-sb.space.used_bytes // BLOCK_SIZE), 0)
    return STATFS.pack(TMPFS_MAGIC, BLOCK_SIZE, blocks, free, free, files, free_files,
                       0, sb.dev, NAME_MAX, BLOCK_SIZE, flags, 0, 0, 0, 0)


def _mount_flags(flags: int) -> int:
    """f_flags of a mount(2) mount (calculate_f_flags): relatime unless noatime or
    strictatime."""
    relatime = 0 if flags & (ST_NOATIME | MS_STRICTATIME) else ST_RELATIME
    return ST_VALID | flags & SAME_BITS | relatime


def _statfs_file(task: Task, file: OpenFile) -> bytes:
    if file.inode is not None:
        return _statfs_inode(task, file.inode)
    return STATFS.pack(PIPEFS_MAGIC, BLOCK_SIZE, 0, 0, 0, 0, 0, 0, 0, NAME_MAX, BLOCK_SIZE,
                       ST_VALID, 0, 0, 0, 0)


def sys_statfs(task: Task, pathname: int, buf: int) -> int:
    path = get_path(task, pathname)
    inode = task.coffer.fs.lookup(path, path_start(task, AT_FDCWD, path), cred=task.creds)
    copy_to_user(task, buf, _statfs_inode(task, inode))
    return 0


def sys_fstatfs(task: Task, fd: int, buf: int) -> int:
    copy_to_user(task, buf, _statfs_file(task, fdget_raw(task, fd_arg(fd))))
    return 0


def register(table: SyscallTable) -> None:
    table.add("statfs", sys_statfs, "path", "ptr")
    table.add("fstatfs", sys_fstatfs, "fd", "ptr")
