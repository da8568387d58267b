"""Copies in the kernel between descriptors: sendfile and copy_file_range
(fs/read_write.c).

sendfile copies from a regular file to any descriptor, and copy_file_range from
one regular file to another, in the kernel: with an offset pointer the source
file's own offset is left alone and the pointer advanced instead. A copy reads
without moving anything first and commits the offsets only after the write, so a
write that must wait (a full pipe) retries the whole call cleanly. Split from
:mod:`cofferos.coffers.syscalls.read_write`, which keeps read and write.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from cofferos.coffers.files import InodeFile, OpenFile
from cofferos.coffers.fs import FsError
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.read_write import MAX_RW_COUNT, _console_io, _page_cache
from cofferos.coffers.syscalls.uaccess import I64, copy_from_user, copy_to_user, fd_arg
from cofferos.coffers.wait import Block

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task


def _get_offset(task: Task, address: int) -> int:
    return I64.unpack(copy_from_user(task, address, I64.size))[0]


def _put_offset(task: Task, address: int, value: int) -> None:
    copy_to_user(task, address, I64.pack(value))


#: Bytes sendfile and copy_file_range hold at once: Linux moves them a pipe's worth of
#: pages at a time (do_splice_direct), never the whole count. Whole, 2 GiB of a sparse
#: file's holes took 2 GiB of the host (fuzz campaigns of seeds 0 and 6).
SPLICE_CHUNK = 1 << 20


def _move_chunks(count: int, read: Callable[[int, int], bytes],
                 write: Callable[[int, bytes], int]) -> int:
    """Move up to ``count`` bytes a chunk at a time: ``read(done, n)``, then
    ``write(done, data)`` returning what it took. A short read or write ends the move;
    an error after some bytes moved ends it with their count, before any propagates."""
    done = 0
    while done < count:
        want = min(SPLICE_CHUNK, count - done)
        data = read(done, want)
        if not data:
            break
        try:
            written = write(done, data)
        except (FsError, Block):  # (a full pipe after some bytes: those are the answer)
            if done:
                break
            raise
        done += written
        if written < len(data) or len(data) < want:
            break
    return done


def sys_sendfile64(task: Task, out_fd: int, in_fd: int, offset: int, count: int) -> int:
    source = fdget(task, fd_arg(in_fd))
    source.check_readable()
    if offset:
        pos = _get_offset(task, offset)
        if not source.seekable:
            return -errno.ESPIPE
    else:
        pos = source.pos
    if pos < 0:
        return -errno.EINVAL
    count = min(count, MAX_RW_COUNT)
    sink = fdget(task, fd_arg(out_fd))
    sink.check_writable()
    if not isinstance(source, InodeFile) or not source.inode.is_reg():
        return -errno.EINVAL  # in_fd must be a file with pages (splice_read)
    if sink.seekable and sink.flags & os.O_APPEND:
        return -errno.EINVAL  # do_splice_direct
    _console_io(task, sink)
    read = [0]  # (a /proc file's size says nothing of what it reads: count what came)

    def pread(done: int, n: int) -> bytes:
        data = source.pread(n, pos + done)
        read[0] += len(data)
        return data

    written = _move_chunks(count, pread, lambda _done, data: sink.write(data))
    _page_cache(task, source, pos, read[0])  # splice_read reads through the page cache
    if offset:
        _put_offset(task, offset, pos + written)
    else:
        source.pos = pos + written
    return written


def sys_copy_file_range(task: Task, fd_in: int, off_in: int, fd_out: int, off_out: int,
                        length: int, flags: int) -> int:
    source = fdget(task, fd_arg(fd_in))
    sink = fdget(task, fd_arg(fd_out))
    pos_in = _get_offset(task, off_in) if off_in else source.pos
    pos_out = _get_offset(task, off_out) if off_out else sink.pos
    if flags:
        return -errno.EINVAL
    inode_in, inode_out = source.inode, sink.inode
    if inode_in is None or inode_out is None:
        return -errno.EINVAL  # pipes and streams
    if inode_in.is_dir() or inode_out.is_dir():
        return -errno.EISDIR
    if not inode_in.is_reg() or not inode_out.is_reg():
        return -errno.EINVAL
    if not _readable(source) or not _writable(sink) or sink.flags & os.O_APPEND:
        return -errno.EBADF
    if pos_in < 0 or pos_out < 0:
        return -errno.EINVAL
    count = max(min(length, MAX_RW_COUNT, inode_in.size - pos_in), 0)  # shortened to EOF
    if inode_in is inode_out and pos_out + count > pos_in and pos_out < pos_in + count:
        return -errno.EINVAL  # overlapping ranges of one file
    if not count:
        return 0
    _page_cache(task, source, pos_in, count)  # before the write may copy a file up
    written = _move_chunks(count, lambda done, n: inode_in.read(pos_in + done, n),
                           lambda done, data: inode_out.write(pos_out + done, data))
    for address, file, pos in ((off_in, source, pos_in), (off_out, sink, pos_out)):
        if address:
            _put_offset(task, address, pos + written)
        else:
            file.pos = pos + written
    return written


def _readable(file: OpenFile) -> bool:
    return file.flags & os.O_ACCMODE in (os.O_RDONLY, os.O_RDWR)


def _writable(file: OpenFile) -> bool:
    return file.flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)


def register(table: SyscallTable) -> None:
    table.add("sendfile", sys_sendfile64, "fd", "fd", "ptr", "size")
    table.add("copy_file_range", sys_copy_file_range, "fd", "ptr", "fd", "ptr", "size", "hex")
