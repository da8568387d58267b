"""Pipes (fs/pipe.c): a bounded byte buffer between a read end and a write end.

Reading an empty pipe sleeps until data arrives or every writer has closed
(then it reads end-of-file); writing a full pipe sleeps until a reader makes
room. Writes of at most PIPE_BUF bytes are atomic: they go in whole or wait.
Writing with no reader left raises SIGPIPE in the writer and fails with EPIPE.
With O_NONBLOCK both ends answer EAGAIN instead of sleeping. Readers and
writers are counted by open file description, so the pipe learns of the last
close of either end whichever process held it.
"""

from __future__ import annotations

import errno
import os
import stat

from cofferos.coffers.files import POLLIN, POLLOUT, BrokenPipe, OpenFile
from cofferos.coffers.fs import FsError, StatResult
from cofferos.coffers.wait import Block, WaitQueue

PIPE_BUF = 4096  #: writes up to this size are atomic (limits.h)
PIPE_CAPACITY = 16 * 4096  #: the default pipe size, 16 pages
POLLERR, POLLHUP = 0x8, 0x10
PIPE_MODE = stat.S_IFIFO | 0o600


class Pipe:
    """The shared buffer and the counts of open read and write ends."""

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.buffer = bytearray()
        self.readers = 0
        self.writers = 0
        self.readable = WaitQueue()  #: readers wait here for data or EOF
        self.writable = WaitQueue()  #: writers wait here for room

    def changed(self) -> None:
        self.readable.wake_all()
        self.writable.wake_all()


class PipeEnd(OpenFile):
    """One end of a pipe, as an open file description."""

    seekable = False

    def __init__(self, pipe: Pipe, flags: int, reading: bool) -> None:
        super().__init__(flags, f"pipe:[{pipe.ident}]")
        self.pipe = pipe
        self.reading = reading
        if reading:
            pipe.readers += 1
        else:
            pipe.writers += 1

    def release(self) -> None:
        if self.reading:
            self.pipe.readers -= 1
        else:
            self.pipe.writers -= 1
        self.pipe.changed()

    def read(self, size: int) -> bytes:
        if not self.reading:
            raise FsError(errno.EBADF)
        pipe = self.pipe
        if not pipe.buffer:
            if pipe.writers == 0:
                return b""
            if self.flags & os.O_NONBLOCK:
                raise FsError(errno.EAGAIN)
            raise Block([pipe.readable])
        data = bytes(pipe.buffer[:size])
        del pipe.buffer[:size]
        pipe.writable.wake_all()
        return data

    def write(self, data: bytes) -> int:
        if self.reading:
            raise FsError(errno.EBADF)
        pipe = self.pipe
        if pipe.readers == 0:
            raise BrokenPipe
        room = PIPE_CAPACITY - len(pipe.buffer)
        if room < len(data) and (len(data) <= PIPE_BUF or room == 0):
            if self.flags & os.O_NONBLOCK:
                raise FsError(errno.EAGAIN)
            raise Block([pipe.writable])
        written = data[:room]
        pipe.buffer += written
        pipe.readable.wake_all()
        return len(written)

    def poll_mask(self) -> int:
        pipe = self.pipe
        if self.reading:
            mask = POLLIN if pipe.buffer else 0
            return mask | (POLLHUP if pipe.writers == 0 else 0)
        if pipe.readers == 0:
            return POLLERR
        return POLLOUT if len(pipe.buffer) < PIPE_CAPACITY else 0

    def wait_queues(self) -> tuple[WaitQueue, ...]:
        return (self.pipe.readable, self.pipe.writable)

    def stat(self) -> StatResult:
        return StatResult(st_dev=0, st_ino=self.pipe.ident, st_mode=PIPE_MODE, st_nlink=1,
                          st_uid=0, st_gid=0, st_rdev=0, st_size=len(self.pipe.buffer),
                          st_blksize=PIPE_BUF, st_blocks=0, st_atime_ns=0, st_mtime_ns=0,
                          st_ctime_ns=0)


