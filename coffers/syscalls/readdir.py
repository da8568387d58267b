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
DOT_ENTRIES = 2  # "." and "..", positions 0 and 1


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


def positions(directory: Inode, entries: list[tuple[str, Inode]]) -> list[int]:
    """Each listed entry's position: its index, or, where the directory numbers its
    entries itself (``position``: /proc/PID/fd), that number after "." and ".."."""
    position = getattr(directory, "position", None)
    if position is None:
        return list(range(len(entries)))
    return [*range(DOT_ENTRIES), *(position(name) for name, _ in entries[DOT_ENTRIES:])]


def fill_dirents(entries: list[tuple[str, Inode]], start: int, count: int,
                 at: list[int] | None = None) -> tuple[bytes, int]:
    """Records for the entries at positions ``start`` and after (``at``: each entry's
    position, ascending; by default its index) that fit in ``count`` bytes, and the
    next position.

    EINVAL if not even the first one fits (and there is one).
    """
    at = list(range(len(entries))) if at is None else at
    out = bytearray()
    pos = start
    for here, (name, inode) in sorted(zip(at, entries, strict=True), key=lambda e: e[0]):
        if here < start:
            continue
        record = dirent64(inode.ino, here + 1, d_type(inode.mode), os.fsencode(name))
        if len(out) + len(record) > count:
            if not out:
                raise FsError(errno.EINVAL, "buffer too small for one entry")
            break
        out += record
        pos = here + 1
    return bytes(out), pos


def sys_getdents64(task: Task, fd: int, dirp: int, count: int) -> int:
    file = fdget(task, fd_arg(fd))
    if not isinstance(file, InodeFile) or not file.inode.is_dir():
        return -errno.ENOTDIR
    directory = file.inode
    if directory.nlink == 0:
        return -errno.ENOENT  # IS_DEADDIR: the directory was removed
    entries = listing(directory)
    data, pos = fill_dirents(entries, file.dir_cursor, count & U32,
                             positions(directory, entries))
    copy_to_user(task, dirp, data)
    file.dir_cursor = file.pos = pos
    return len(data)


def register(table: SyscallTable) -> None:
    table.add("getdents64", sys_getdents64, "fd", "ptr", "size")
