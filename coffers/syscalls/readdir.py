"""Listing a directory: getdents64, from Linux's fs/readdir.c.

getdents64 fills the guest's buffer with as many ``struct linux_dirent64``
records as fit, starting where the previous call stopped. The position is the
open file's :attr:`~cofferos.coffers.files.InodeFile.dir_cursor`, counted in
entries: "." is 0, ".." is 1, then the directory's entries in their stable order
(also each record's ``d_off``: the position of the entry after it), so that
lseek to a ``d_off`` (seekdir, rewinddir) resumes at that entry.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.files import InodeFile
from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.uaccess import copy_to_user, fd_arg

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# struct linux_dirent64 (include/linux/dirent.h): d_ino, d_off, d_reclen, d_type,
# then d_name, NUL-terminated, the record padded to a multiple of 8 bytes.
DIRENT64_HEAD = struct.Struct("<QqHB")
DIRENT64_ALIGN = 8

# d_type values (include/linux/fs_types.h: S_IFMT >> 12)
DT_UNKNOWN, DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK = 0, 1, 2, 4, 6, 8, 10, 12
S_DT_SHIFT = 12
U32 = 0xFFFF_FFFF  # count is an unsigned int


def d_type(mode: int) -> int:
    """The d_type of a file of ``mode``: its S_IFMT bits, shifted down (S_DT)."""
    return stat.S_IFMT(mode) >> S_DT_SHIFT


def dirent64(ino: int, off: int, kind: int, name: bytes) -> bytes:
    """One ``struct linux_dirent64`` record, padded to 8 bytes."""
    size = DIRENT64_HEAD.size + len(name) + 1
    reclen = -(-size // DIRENT64_ALIGN) * DIRENT64_ALIGN
    return DIRENT64_HEAD.pack(ino, off, reclen, kind) + name + bytes(reclen - size + 1)


def listing(directory: Inode) -> list[tuple[str, Inode]]:
    """What getdents64 lists: ".", "..", then the entries."""
    parent = directory.parent or directory
    return [(".", directory), ("..", parent), *directory.entries()]


def fill_dirents(entries: list[tuple[str, Inode]], start: int, count: int) -> tuple[bytes, int]:
    """Records for ``entries[start:]`` that fit in ``count`` bytes, and the next position.

    EINVAL if not even the first one fits (and there is one).
    """
    out = bytearray()
    pos = start
    while pos < len(entries):
        name, inode = entries[pos]
        record = dirent64(inode.ino, pos + 1, d_type(inode.mode), os.fsencode(name))
        if len(out) + len(record) > count:
            if not out:
                raise FsError(errno.EINVAL, "buffer too small for one entry")
            break
        out += record
        pos += 1
    return bytes(out), pos


def sys_getdents64(task: Task, fd: int, dirp: int, count: int) -> int:
    file = fdget(task, fd_arg(fd))
    if not isinstance(file, InodeFile) or not file.inode.is_dir():
        return -errno.ENOTDIR
    directory = file.inode
    if directory.nlink == 0:
        return -errno.ENOENT  # IS_DEADDIR: the directory was removed
    data, pos = fill_dirents(listing(directory), file.dir_cursor, count & U32)
    copy_to_user(task, dirp, data)
    file.dir_cursor = file.pos = pos
    return len(data)


def register(table: SyscallTable) -> None:
    table.add("getdents64", sys_getdents64, "fd", "ptr", "size")
