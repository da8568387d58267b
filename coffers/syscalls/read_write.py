"""Moving bytes through descriptors: read, write, readv, writev, pread64, pwrite64, lseek.

Mirrors Linux's fs/read_write.c. Each call checks in the kernel's order: the
descriptor (EBADF, also for O_PATH), the access mode it was opened with (EBADF
when not opened for reading or writing), the arguments (EINVAL, ESPIPE), and
only then moves data, at most :data:`MAX_RW_COUNT` bytes per call as Linux does.
What a transfer means for each kind of file (regular file, device, host stream)
is the :class:`~cofferos.coffers.files.OpenFile`'s business; this layer moves the
bytes between it and guest memory with the uaccess helpers.

If the guest buffer of a read turns out to be bad, the call fails with EFAULT and
a seekable file's offset is put back, so that a faulting read consumes nothing.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from cofferos.coffers.files import SEEK_CUR, SEEK_SET, InodeFile, OpenFile
from cofferos.coffers.fs import FsError
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.uaccess import (
    copy_from_user,
    copy_to_user,
    fd_arg,
    get_iovecs,
    signed,
)
from cofferos.isa.cpu import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

#: Largest single transfer: INT_MAX rounded down to a page (include/linux/fs.h).
MAX_RW_COUNT = 0x7FFFF000
SEEK_MAX = 4  # SEEK_HOLE
SSIZE_MAX = (1 << 63) - 1
#: The top of user address space (arch/x86/include/asm/page_64.h, 4-level paging).
TASK_SIZE_MAX = (1 << 47) - 4096


def _rw_count(buf: int, count: int) -> int:
    """A size_t count, checked and capped as vfs_read/vfs_write do: EFAULT if the
    buffer runs past user space (access_ok), at most :data:`MAX_RW_COUNT`."""
    if buf + count > TASK_SIZE_MAX:
        raise FsError(errno.EFAULT, "buffer outside user space")
    return min(count, MAX_RW_COUNT)


def _read_into(task: Task, file: OpenFile, buf: int, data: bytes, pos_before: int) -> int:
    """Copy what was read to the guest; on a bad buffer undo the offset change."""
    try:
        copy_to_user(task, buf, data)
    except MemoryFault:
        if file.seekable:
            file.pos = pos_before
        raise
    return len(data)


def sys_read(task: Task, fd: int, buf: int, count: int) -> int:
    file = fdget(task, fd_arg(fd))
    file.check_readable()
    pos = file.pos
    data = file.read(_rw_count(buf, count))
    return _read_into(task, file, buf, data, pos)


def sys_write(task: Task, fd: int, buf: int, count: int) -> int:
    file = fdget(task, fd_arg(fd))
    file.check_writable()
    count = _rw_count(buf, count)
    data = copy_from_user(task, buf, count) if count else b""
    return file.write(data)


def sys_pread64(task: Task, fd: int, buf: int, count: int, offset: int) -> int:
    offset = signed(offset)
    if offset < 0:
        return -errno.EINVAL
    file = fdget(task, fd_arg(fd))
    if not file.seekable:
        return -errno.ESPIPE
    file.check_readable()
    data = file.pread(_rw_count(buf, count), offset)
    copy_to_user(task, buf, data)
    return len(data)


def sys_pwrite64(task: Task, fd: int, buf: int, count: int, offset: int) -> int:
    offset = signed(offset)
    if offset < 0:
        return -errno.EINVAL
    file = fdget(task, fd_arg(fd))
    if not file.seekable:
        return -errno.ESPIPE
    file.check_writable()
    count = _rw_count(buf, count)
    data = copy_from_user(task, buf, count) if count else b""
    return file.pwrite(data, offset)


def _iov_total(iovecs: list[tuple[int, int]]) -> int:
    """Total length of a vector; EINVAL if a length is negative as ssize_t."""
    total = 0
    for _, length in iovecs:
        if length > SSIZE_MAX:
            raise FsError(errno.EINVAL, "iovec length")
        total += length
    return total


def sys_readv(task: Task, fd: int, iov: int, iovcnt: int) -> int:
    file = fdget(task, fd_arg(fd))
    file.check_readable()
    iovecs = get_iovecs(task, iov, signed(iovcnt, 32))
    total = min(_iov_total(iovecs), MAX_RW_COUNT)
    pos = file.pos
    data = file.read(total)
    done = 0
    try:
        for base, length in iovecs:
            if done >= len(data):
                break
            chunk = data[done : done + length]
            copy_to_user(task, base, chunk)
            done += len(chunk)
    except MemoryFault:
        if file.seekable:
            file.pos = pos
        raise
    return len(data)


def sys_writev(task: Task, fd: int, iov: int, iovcnt: int) -> int:
    file = fdget(task, fd_arg(fd))
    file.check_writable()
    iovecs = get_iovecs(task, iov, signed(iovcnt, 32))
    remaining = min(_iov_total(iovecs), MAX_RW_COUNT)
    parts = []
    for base, length in iovecs:
        if remaining <= 0:
            break
        take = min(length, remaining)
        if take:
            parts.append(copy_from_user(task, base, take))
        remaining -= take
    data = b"".join(parts)
    if not data:
        return 0
    return file.write(data)


def sys_lseek(task: Task, fd: int, offset: int, whence: int) -> int:
    file = fdget(task, fd_arg(fd))
    whence = fd_arg(whence)
    if whence < 0 or whence > SEEK_MAX:
        return -errno.EINVAL
    if isinstance(file, InodeFile) and file.inode.is_dir():
        return _dir_lseek(file, signed(offset), whence)
    return file.seek(signed(offset), whence)


def _dir_lseek(file: InodeFile, offset: int, whence: int) -> int:
    """A directory's offset counts entries, as getdents64 reads them (tmpfs's
    dcache_dir_lseek): only SEEK_SET and SEEK_CUR, never negative."""
    if whence == SEEK_CUR:
        offset += file.dir_cursor
    elif whence != SEEK_SET:
        return -errno.EINVAL
    if offset < 0:
        return -errno.EINVAL
    file.dir_cursor = file.pos = offset
    return offset


def register(table: SyscallTable) -> None:
    table.add("read", sys_read, "fd", "ptr", "size")
    table.add("write", sys_write, "fd", "ptr", "size")
    table.add("pread64", sys_pread64, "fd", "ptr", "size", "off")
    table.add("pwrite64", sys_pwrite64, "fd", "ptr", "size", "off")
    table.add("readv", sys_readv, "fd", "ptr", "int")
    table.add("writev", sys_writev, "fd", "ptr", "int")
    table.add("lseek", sys_lseek, "fd", "off", "whence")
