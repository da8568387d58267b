"""Pipes (fs/pipe.c): a bounded byte buffer between a read end and a write end.

Reading an empty pipe sleeps until data arrives or every writer has closed
(then it reads end-of-file); writing a full pipe sleeps until a reader makes
room. Writes of at most PIPE_BUF bytes are atomic: they go in whole or wait.
Writing with no reader left raises SIGPIPE in the writer and fails with EPIPE.
With O_NONBLOCK both ends answer EAGAIN instead of sleeping. Readers and
writers are counted by open file description, so the pipe learns of the last
close of either end whichever process held it.

A FIFO (fs/pipe.c's fifo_open) is the same pipe reached by name: it hangs off its
inode (:attr:`~cofferos.coffers.fs.Inode.pipe`) and each open makes a
:class:`FifoFile`. Opening for reading waits until a writer has opened, and for
writing until a reader has (``O_NONBLOCK``: a reader opens at once, a writer
fails with ENXIO); ``O_RDWR`` opens at once. As in Linux a waiting opener
already counts as a reader or writer (so a writer that finds it may write at
once), and the pipe counts opens per side: a sleeper that sees the partner's
count change knows a partner came, even if it has already gone again. In the
retry model of :mod:`cofferos.coffers.wait` the opener's count is kept in
``Pipe.openers`` across its retries and dropped if it stops waiting without
finishing (a signal, death). When the last end closes, unread data is gone.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.file_locks import locks_remove_file
from cofferos.coffers.files import POLLIN, POLLOUT, BrokenPipe, OpenFile
from cofferos.coffers.fown import POLL_IN, POLL_OUT, send_sigio
from cofferos.coffers.fs import FsError, Inode, StatResult
from cofferos.coffers.wait import WOKEN, Block, WaitQueue

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Task

PIPE_BUF = 4096  #: writes up to this size are atomic (limits.h)
PAGE_SIZE = 4096
PIPE_DEF_BUFFERS = 16  #: a new pipe's ring: 16 pages (include/linux/pipe_fs_i.h)
PIPE_CAPACITY = PIPE_DEF_BUFFERS * PAGE_SIZE  #: the default pipe size
#: fs.pipe-max-size (fs/pipe.c pipe_max_size): the largest size F_SETPIPE_SZ may give a
#: pipe without CAP_SYS_RESOURCE; /proc/sys/fs/pipe-max-size shows this constant.
PIPE_MAX_SIZE = 1024 * 1024
#: round_pipe_size refuses anything above this (it would not fit an unsigned int rounded up).
PIPE_ROUNDABLE_MAX = 1 << 31
POLLERR, POLLHUP = 0x8, 0x10
PIPE_MODE = stat.S_IFIFO | 0o600


class Pipe:
    """The shared buffer and the counts of open read and write ends."""

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.buffer = bytearray()
        self.readers = 0
        self.writers = 0
        self.capacity = PIPE_CAPACITY  #: bytes the ring holds (F_SETPIPE_SZ changes it)
        self.readable = WaitQueue()  #: readers wait here for data or EOF
        self.writable = WaitQueue()  #: writers wait here for room
        # FIFOs only: opens so far per side (r_counter, w_counter), the queue openers
        # wait on for a partner, and each waiting opener's (reading, writing, the
        # partner's count it saw).
        self.r_counter = 0
        self.w_counter = 0
        self.open_wait = WaitQueue()
        self.openers: dict[Task, tuple[bool, bool, int]] = {}
        #: O_ASYNC ends (fasync_readers, fasync_writers): (the open end, its descriptor,
        #: the coffer that signals its owner) - told of data, and of room.
        self.fasync_readers: list[tuple[PipeEnd, int, Coffer]] = []
        self.fasync_writers: list[tuple[PipeEnd, int, Coffer]] = []

    def changed(self) -> None:
        self.readable.wake_all()
        self.writable.wake_all()

    def kill_fasync(self, readers: bool) -> None:
        """SIGIO (or the F_SETSIG signal) to the owners of the O_ASYNC ends: readers are
        told of data (POLL_IN), writers of room (POLL_OUT)."""
        ends = self.fasync_readers if readers else self.fasync_writers
        if not ends:  # the common case: no O_ASYNC end (a test, not a loop setup)
            return
        for end, fd, coffer in ends:
            if end.owner is not None:
                send_sigio(coffer, end.owner, fd, POLL_IN if readers else POLL_OUT)

    def count(self, reading: bool, writing: bool, delta: int) -> None:
        self.readers += delta if reading else 0
        self.writers += delta if writing else 0
        if self.readers == 0 and self.writers == 0:
            self.buffer.clear()  # free_pipe_info: what nobody read is gone

    def forget_stale_openers(self) -> None:
        """Uncount FIFO openers that stopped waiting without finishing their open."""
        for task, (reading, writing, _) in list(self.openers.items()):
            waiting = task in self.open_wait.waiters
            retrying = task.runnable and task.wakeup == WOKEN
            if not task.alive or not (waiting or retrying):
                del self.openers[task]
                self.count(reading, writing, -1)
                self.changed()


class PipeEnd(OpenFile):
    """One end of a pipe, as an open file description."""

    seekable = False

    def __init__(self, pipe: Pipe, flags: int, reading: bool, writing: bool | None = None,
                 path: str | None = None) -> None:
        super().__init__(flags, path or f"pipe:[{pipe.ident}]")
        self.pipe = pipe
        self.reading = reading
        self.writing = not reading if writing is None else writing
        if self.reading:
            pipe.readers += 1
        if self.writing:
            pipe.writers += 1

    def release(self) -> None:
        pipe = self.pipe
        if self.reading:
            pipe.readers -= 1
        if self.writing:
            pipe.writers -= 1
        pipe_fasync(self, 0, None)  # __fput: the end leaves the O_ASYNC lists
        pipe.changed()
        if (pipe.readers == 0) != (pipe.writers == 0):  # pipe_release: one side is gone
            pipe.kill_fasync(readers=True)
            pipe.kill_fasync(readers=False)

    def read(self, size: int) -> bytes:
        if not self.reading:
            raise FsError(errno.EBADF)
        pipe = self.pipe
        if not pipe.buffer:
            if pipe.openers:
                pipe.forget_stale_openers()
            if pipe.writers == 0:
                return b""
            if self.flags & os.O_NONBLOCK:
                raise FsError(errno.EAGAIN)
            raise Block([pipe.readable])
        data = bytes(pipe.buffer[:size])
        del pipe.buffer[:size]
        if pipe.writable.waiters:  # most often nobody waits, and no end is O_ASYNC
            pipe.writable.wake_all()
        if pipe.fasync_writers:
            pipe.kill_fasync(readers=False)
        return data

    def write(self, data: bytes | memoryview) -> int:
        """Append ``data`` (taken whole, or what fits); it is copied into the pipe before
        this returns, so a view of the guest's pages will do (sys_write's small write)."""
        if not self.writing:
            raise FsError(errno.EBADF)
        pipe = self.pipe
        if pipe.openers:
            pipe.forget_stale_openers()
        if pipe.readers == 0:
            raise BrokenPipe
        room = pipe.capacity - len(pipe.buffer)
        if room < len(data) and (len(data) <= PIPE_BUF or room == 0):
            if self.flags & os.O_NONBLOCK:
                raise FsError(errno.EAGAIN)
            raise Block([pipe.writable])
        if room < len(data):  # a large write: what fits (a small one fits, or waited above)
            data = data[:room]
        pipe.buffer += data
        if pipe.readable.waiters:
            pipe.readable.wake_all()
        if pipe.fasync_readers:
            pipe.kill_fasync(readers=True)
        return len(data)

    def poll_mask(self) -> int:
        pipe = self.pipe
        mask = 0
        if self.reading:
            mask |= POLLIN if pipe.buffer else 0
            mask |= POLLHUP if pipe.writers == 0 else 0
        if self.writing:  # Linux: POLLOUT when there is room, POLLERR with no reader
            mask |= POLLOUT if len(pipe.buffer) < pipe.capacity else 0
            mask |= POLLERR if pipe.readers == 0 else 0
        return mask

    def wait_queues(self) -> tuple[WaitQueue, ...]:
        return (self.pipe.readable, self.pipe.writable)

    def stat(self) -> StatResult:
        return StatResult(st_dev=0, st_ino=self.pipe.ident, st_mode=PIPE_MODE, st_nlink=1,
                          st_uid=0, st_gid=0, st_rdev=0, st_size=len(self.pipe.buffer),
                          st_blksize=PIPE_BUF, st_blocks=0, st_atime_ns=0, st_mtime_ns=0,
                          st_ctime_ns=0)


class FifoFile(PipeEnd):
    """A FIFO opened by name: an end of the pipe its inode carries."""

    def __init__(self, inode: Inode, pipe: Pipe, flags: int, path: str) -> None:
        mode = flags & os.O_ACCMODE
        super().__init__(pipe, flags, reading=mode != os.O_WRONLY, writing=mode != os.O_RDONLY,
                         path=path)
        self._inode = inode

    @property
    def inode(self) -> Inode:
        return self._inode

    def release(self) -> None:
        super().release()
        if self.pipe.readers == 0 and self.pipe.writers == 0:
            self.pipe.buffer.clear()  # free_pipe_info: what nobody read is gone
        locks_remove_file(self._inode, self)

    def stat(self) -> StatResult:
        return self._inode.stat()


def pipe_fasync(end: PipeEnd, fd: int, coffer: Coffer | None) -> None:
    """Put ``end`` on its pipe's O_ASYNC lists under descriptor ``fd`` (pipe_fasync),
    or with no ``coffer`` take it off them."""
    pipe = end.pipe
    for entries, side in ((pipe.fasync_readers, end.reading), (pipe.fasync_writers, end.writing)):
        entries[:] = [entry for entry in entries if entry[0] is not end]
        if coffer is not None and side:
            entries.append((end, fd, coffer))


def round_pipe_size(size: int) -> int:
    """The ring size F_SETPIPE_SZ makes of ``size``: at least a page, a power of two,
    0 (EINVAL) above 2 GiB (round_pipe_size)."""
    if size > PIPE_ROUNDABLE_MAX:
        return 0
    if size < PAGE_SIZE:
        return PAGE_SIZE
    return 1 << (size - 1).bit_length()


def pipe_set_size(pipe: Pipe, size: int, privileged: bool) -> int:
    """F_SETPIPE_SZ (pipe_set_size): resize the ring and return its new size in bytes.

    Growing past :data:`PIPE_MAX_SIZE` needs CAP_SYS_RESOURCE (EPERM); shrinking below
    the pages the unread data occupies is EBUSY (pipe_resize_ring). Linux counts
    occupied ring slots; here the data is one buffer, so its slots are its pages."""
    rounded = round_pipe_size(size)
    if rounded == 0:
        return -errno.EINVAL
    if rounded > pipe.capacity and rounded > PIPE_MAX_SIZE and not privileged:
        return -errno.EPERM
    if rounded < -(-len(pipe.buffer) // PAGE_SIZE) * PAGE_SIZE:
        return -errno.EBUSY
    pipe.capacity = rounded
    pipe.changed()
    return rounded


def fifo_open(task: Task, inode: Inode, flags: int, path: str) -> FifoFile:
    """Open the FIFO ``inode`` (fifo_open): wait for a partner, or ENXIO, as flags say."""
    pipe = inode.pipe
    if pipe is None:
        pipe = inode.pipe = Pipe(inode.ino)
    pipe.forget_stale_openers()
    mode = flags & os.O_ACCMODE
    reading, writing = mode != os.O_WRONLY, mode != os.O_RDONLY
    retry = pipe.openers.pop(task, None)
    if retry is None:  # a first attempt: count this opener now, and tell the other side
        if mode == os.O_WRONLY and flags & os.O_NONBLOCK and pipe.readers == 0:
            raise FsError(errno.ENXIO, "FIFO has no reader")
        pipe.count(reading, writing, 1)
        pipe.r_counter += reading
        pipe.w_counter += writing
        pipe.open_wait.wake_all()
        mark = pipe.w_counter if mode == os.O_RDONLY else pipe.r_counter
    else:
        mark = retry[2]
    if not flags & os.O_NONBLOCK and (
            (mode == os.O_RDONLY and pipe.writers == 0 and pipe.w_counter == mark)
            or (mode == os.O_WRONLY and pipe.readers == 0 and pipe.r_counter == mark)):
        pipe.openers[task] = (reading, writing, mark)
        raise Block([pipe.open_wait])  # wait_for_partner
    pipe.readers -= int(reading)  # the open file counts itself from here on
    pipe.writers -= int(writing)
    return FifoFile(inode, pipe, flags, path)
