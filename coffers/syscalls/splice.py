"""Moving bytes to and from a pipe inside the kernel: splice (fs/splice.c).

``splice(fd_in, off_in, fd_out, off_out, len, flags)`` moves up to ``len`` bytes
where one side (or both) is a pipe, without passing them through the caller's
memory. The checks run in Linux 6.1's order: a zero length is 0 at once, an
unknown flag EINVAL, a bad descriptor EBADF, an offset pointer on a pipe's side
ESPIPE, a bad offset pointer EFAULT, a side not open for reading or writing EBADF;
then a pipe to itself, an offset on a file without positioned I/O, an O_APPEND
file written from a pipe, a negative offset and two non-pipes are EINVAL.

A file spliced into a pipe moves as much as the pipe has room for (waiting for
room, or EAGAIN with SPLICE_F_NONBLOCK or an O_NONBLOCK pipe; EPIPE and SIGPIPE
without a reader); a pipe spliced into a file or another pipe moves what the pipe
holds (waiting for data; 0 once no writer is left). With an offset pointer the
file's own offset is left alone and the pointer advanced, as for pread. Nothing is
taken from a pipe until the other side has accepted it, so a call that must wait
is retried whole.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.files import BrokenPipe, InodeFile, OpenFile
from cofferos.coffers.fs import FsError
from cofferos.coffers.pipe import Pipe, PipeEnd
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.read_write import MAX_RW_COUNT, _page_cache
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user, fd_arg
from cofferos.coffers.wait import Block

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/linux/splice.h
SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE, SPLICE_F_GIFT = 0x1, 0x2, 0x4, 0x8
SPLICE_F_ALL = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT
LOFF_T = struct.Struct("<q")


def _pipe_of(file: OpenFile) -> Pipe | None:
    """get_pipe_info: the pipe behind a pipe's end or a FIFO, else None."""
    return file.pipe if isinstance(file, PipeEnd) else None


def _wait_for_data(pipe: Pipe, nonblock: bool) -> bool:
    """splice_from_pipe_next: True once the pipe holds data, False at EOF (no writer)."""
    if pipe.buffer:
        return True
    if pipe.writers == 0:
        return False
    if nonblock:
        raise FsError(errno.EAGAIN)
    raise Block([pipe.readable])


def _room(pipe: Pipe, nonblock: bool) -> int:
    """wait_for_space: the bytes the pipe can take now (EPIPE without a reader)."""
    if pipe.readers == 0:
        raise BrokenPipe
    room = pipe.capacity - len(pipe.buffer)
    if room > 0:
        return room
    if nonblock:
        raise FsError(errno.EAGAIN)
    raise Block([pipe.writable])


def _consume(pipe: Pipe, count: int) -> None:
    del pipe.buffer[:count]
    pipe.writable.wake_all()
    pipe.kill_fasync(readers=False)


def _fill(pipe: Pipe, data: bytes) -> None:
    pipe.buffer += data
    pipe.readable.wake_all()
    pipe.kill_fasync(readers=True)


def _pipe_to_pipe(ipipe: Pipe, opipe: Pipe, length: int, nonblock: bool) -> int:
    if not _wait_for_data(ipipe, nonblock):
        return 0
    count = min(length, len(ipipe.buffer), _room(opipe, nonblock))
    data = bytes(ipipe.buffer[:count])
    _consume(ipipe, count)
    _fill(opipe, data)
    return count


def _file_offset(file: OpenFile, offset: int | None) -> int:
    """The position a file side starts at: the pointer's (which needs positioned I/O)
    or the file's own; EINVAL for a negative one (rw_verify_area)."""
    if offset is not None and not file.seekable:
        raise FsError(errno.EINVAL)
    pos = file.pos if offset is None else offset
    if pos < 0:
        raise FsError(errno.EINVAL)
    return pos


def _pipe_to_file(ipipe: Pipe, out: OpenFile, offset: int | None, length: int,
                  nonblock: bool) -> tuple[int, int]:
    """(bytes moved, the file's new position)."""
    pos = _file_offset(out, offset)
    if out.seekable and out.flags & os.O_APPEND:
        raise FsError(errno.EINVAL)
    if not _wait_for_data(ipipe, nonblock):
        return 0, pos
    data = bytes(ipipe.buffer[:length])
    written = out.pwrite(data, pos) if out.seekable else out.write(data)
    _consume(ipipe, written)
    return written, pos + written


def _file_to_pipe(task: Task, source: OpenFile, offset: int | None, opipe: Pipe, length: int,
                  nonblock: bool) -> tuple[int, int]:
    """(bytes moved, the file's new position)."""
    pos = _file_offset(source, offset)
    if isinstance(source, InodeFile) and source.inode.is_dir():
        raise FsError(errno.EINVAL)  # a directory has no splice_read
    count = min(length, _room(opipe, nonblock))
    data = source.pread(count, pos) if source.seekable else source.read(count)
    _page_cache(task, source, pos, len(data))  # splice_read reads through the page cache
    _fill(opipe, data)
    return len(data), pos + len(data)


def _get_offset(task: Task, address: int) -> int | None:
    return LOFF_T.unpack(copy_from_user(task, address, LOFF_T.size))[0] if address else None


def sys_splice(task: Task, fd_in: int, off_in: int, fd_out: int, off_out: int, length: int,
               flags: int) -> int:
    flags &= 0xFFFF_FFFF
    if not length:
        return 0
    if flags & ~SPLICE_F_ALL:
        return -errno.EINVAL
    source = fdget(task, fd_arg(fd_in))
    sink = fdget(task, fd_arg(fd_out))
    ipipe, opipe = _pipe_of(source), _pipe_of(sink)
    if (ipipe is not None and off_in) or (opipe is not None and off_out):
        return -errno.ESPIPE
    pos_out, pos_in = _get_offset(task, off_out), _get_offset(task, off_in)
    source.check_readable()
    sink.check_writable()
    length = min(length, MAX_RW_COUNT)
    nonblock = bool(flags & SPLICE_F_NONBLOCK)
    if ipipe is not None and opipe is not None:
        if ipipe is opipe:
            return -errno.EINVAL
        nonblock = nonblock or bool((source.flags | sink.flags) & os.O_NONBLOCK)
        return _pipe_to_pipe(ipipe, opipe, length, nonblock)
    if ipipe is not None:
        nonblock = nonblock or bool(source.flags & os.O_NONBLOCK)
        moved, pos = _pipe_to_file(ipipe, sink, pos_out, length, nonblock)
        _set_position(task, sink, off_out, pos)
        return moved
    if opipe is not None:
        nonblock = nonblock or bool(sink.flags & os.O_NONBLOCK)
        moved, pos = _file_to_pipe(task, source, pos_in, opipe, length, nonblock)
        _set_position(task, source, off_in, pos)
        return moved
    return -errno.EINVAL


def _set_position(task: Task, file: OpenFile, address: int, pos: int) -> None:
    if address:
        copy_to_user(task, address, LOFF_T.pack(pos))
    elif file.seekable:
        file.pos = pos


def register(table: SyscallTable) -> None:
    table.add("splice", sys_splice, "fd", "ptr", "fd", "ptr", "size", "hex")
