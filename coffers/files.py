"""Open files and the descriptor table: Linux's ``struct file`` and ``files_struct``.

An :class:`OpenFile` is an open file description: what was opened, with which
flags, and the current offset. Several descriptors (after ``dup``) share one.
Kinds of open file:

* :class:`InodeFile` - a regular file or directory of the coffer's filesystem;
* :class:`DeviceFile` - /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom;
* :class:`HostStream` - the coffer's stdin, stdout and stderr, connected to the
  host's (the only host objects a guest can reach, on purpose).

The descriptor table that maps small integers to open files is
:mod:`cofferos.coffers.fdtable`. Everything here raises :class:`FsError` with an errno.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from cofferos.coffers.file_locks import locks_remove_file
from cofferos.coffers.fs import FsError, Inode, StatResult
from cofferos.coffers.fs.regular import FILE_TYPE_BITS

if TYPE_CHECKING:
    from cofferos.coffers.fown import FileOwner

O_ACCMODE = os.O_ACCMODE
SEEK_SET, SEEK_CUR, SEEK_END = os.SEEK_SET, os.SEEK_CUR, os.SEEK_END
SEEK_DATA, SEEK_HOLE = 3, 4
POLLIN, POLLOUT = 0x1, 0x4
MAX_FILE_OFFSET = (1 << 63) - 1
HOST_STREAM_BLKSIZE = 4096
#: fs.nr_open (fs/file.c sysctl_nr_open): the highest RLIMIT_NOFILE a process may set
#: (setrlimit above it is EPERM); /proc/sys/fs/nr_open shows this constant.
NR_OPEN = 1 << 20
PAGE_SIZE = 4096  #: tmpfs finds data and holes by whole pages


class BrokenPipe(FsError):
    """A write with no reader left: EPIPE, and the writer gets SIGPIPE (raise_signal)."""

    raise_signal = 13  # SIGPIPE

    def __init__(self) -> None:
        super().__init__(errno.EPIPE)


READABLE_MODES = (os.O_RDONLY, os.O_RDWR)  #: access modes a read(2) is allowed on
WRITABLE_MODES = (os.O_WRONLY, os.O_RDWR)


def _readable(flags: int) -> bool:
    return (flags & O_ACCMODE) in READABLE_MODES


def _writable(flags: int) -> bool:
    return (flags & O_ACCMODE) in WRITABLE_MODES


class OpenFile:
    """An open file description. Subclasses override what their kind supports."""

    seekable = True
    discards_writes = False  #: a write succeeds without reading the guest's buffer
    #: Who hears of events on it (F_SETOWN, F_SETSIG, leases: :mod:`cofferos.coffers.fown`);
    #: None until set, as Linux allocates f_owner on first use.
    owner: FileOwner | None = None

    def __init__(self, flags: int, path: str) -> None:
        self.flags = flags
        self.path = path
        self.pos = 0
        self.refs = 0  #: descriptors (in any table) that refer to this open file

    def release(self) -> None:
        """The last descriptor referring to this open file was closed."""

    def flush(self) -> None:
        """One descriptor referring to this open file was closed, by the task on the
        CPU (filp_close's ``f_op->flush``): nothing for most kinds of file."""

    def poll_mask(self) -> int:
        """Readiness for poll(2): POLLIN | POLLOUT for files that never block."""
        return POLLIN | POLLOUT

    def wait_queues(self) -> tuple[object, ...]:
        """Queues woken when readiness may have changed (none: never blocks)."""
        return ()

    def deadline_ns(self) -> int | None:
        """When readiness next changes by itself on the coffer's monotonic clock (a
        timer's expiry), so that a poll sleeping on this file wakes then; None: never."""
        return None

    # Defaults: the errno Linux gives when a kind does not support an operation.
    def read(self, size: int) -> bytes:
        raise FsError(errno.EINVAL)

    def write(self, data: bytes) -> int:
        raise FsError(errno.EINVAL)

    def pread(self, size: int, offset: int) -> bytes:
        raise FsError(errno.ESPIPE)

    def pwrite(self, data: bytes, offset: int) -> int:
        raise FsError(errno.ESPIPE)

    def size(self) -> int:
        return 0

    def seek(self, offset: int, whence: int) -> int:
        if not self.seekable:
            raise FsError(errno.ESPIPE)
        if whence == SEEK_SET:
            new = offset
        elif whence == SEEK_CUR:
            new = self.pos + offset
        elif whence == SEEK_END:
            new = self.size() + offset
        elif whence == SEEK_DATA:
            if offset >= self.size():
                raise FsError(errno.ENXIO)
            new = offset
        elif whence == SEEK_HOLE:
            if offset >= self.size():
                raise FsError(errno.ENXIO)
            new = self.size()
        else:
            raise FsError(errno.EINVAL)
        if new < 0 or new > MAX_FILE_OFFSET:
            raise FsError(errno.EINVAL)
        self.pos = new
        return new

    def stat(self) -> StatResult:
        raise FsError(errno.EBADF)

    @property
    def inode(self) -> Inode | None:
        return None

    def check_readable(self) -> None:
        if self.flags & O_ACCMODE not in READABLE_MODES:
            raise FsError(errno.EBADF)

    def check_writable(self) -> None:
        if self.flags & O_ACCMODE not in WRITABLE_MODES:
            raise FsError(errno.EBADF)

    # The chunk-by-chunk copies' callbacks (cofferos.coffers.syscalls.uaccess), as
    # methods: read(2) and write(2) build no closure per call.
    def read_chunk(self, size: int, _done: int) -> bytes:
        return self.read(size)

    def write_chunk(self, data: bytes, _done: int) -> int:
        return self.write(data)

    def unread(self, n: int) -> None:
        """Give ``n`` bytes read but never stored back to a seekable file's offset."""
        if self.seekable:
            self.pos -= n


class InodeFile(OpenFile):
    """A regular file or a directory of the coffer's filesystem."""

    def __init__(self, inode: Inode, flags: int, path: str) -> None:
        super().__init__(flags, path)
        self._inode = inode
        self.dir_cursor = 0  # getdents64 position, in entries

    @property
    def inode(self) -> Inode:
        return self._inode

    def release(self) -> None:
        locks_remove_file(self._inode, self)  # its flock and OFD locks go with it

    def size(self) -> int:
        return self._inode.size

    def read(self, size: int) -> bytes:
        if self._inode.mode & FILE_TYPE_BITS == stat.S_IFDIR:  # S_ISDIR, without a call
            raise FsError(errno.EISDIR)
        data = self._inode.read(self.pos, size)
        self.pos += len(data)
        return data

    def write(self, data: bytes) -> int:
        if self.flags & os.O_APPEND:
            self.pos = self._inode.size
        written = self._inode.write(self.pos, data)
        self.pos += written
        return written

    def pread(self, size: int, offset: int) -> bytes:
        if self._inode.is_dir():
            raise FsError(errno.EISDIR)
        return self._inode.read(offset, size)

    def pwrite(self, data: bytes, offset: int) -> int:
        if self.flags & os.O_APPEND:  # Linux ignores the offset for O_APPEND
            offset = self._inode.size
        return self._inode.write(offset, data)

    def stat(self) -> StatResult:
        return self._inode.stat()

    def seek(self, offset: int, whence: int) -> int:
        """SEEK_DATA and SEEK_HOLE as tmpfs answers them (shmem_file_llseek): data and
        holes by whole pages, the end of the file a hole, ENXIO from the end on."""
        if whence not in (SEEK_DATA, SEEK_HOLE) or not self._inode.is_reg():
            return super().seek(offset, whence)
        size = self._inode.size
        if offset < 0 or offset >= size:
            raise FsError(errno.ENXIO)
        data = self._inode.data_after(offset)
        if data is not None:  # whole pages, the file's size the last one's end
            data = (data[0], min(-(-data[1] // PAGE_SIZE) * PAGE_SIZE, size))
        if whence == SEEK_DATA:
            if data is None:
                raise FsError(errno.ENXIO)  # only a hole from here to the end
            self.pos = max(offset, data[0])
        else:
            self.pos = offset if data is None or offset < data[0] else data[1]
        return self.pos


# Character devices: (major, minor) -> behaviour, as drivers/char/mem.c and random.c.
DEV_NULL, DEV_ZERO, DEV_FULL, DEV_RANDOM, DEV_URANDOM = (1, 3), (1, 5), (1, 7), (1, 8), (1, 9)


class DeviceFile(OpenFile):
    """A memory character device: null, zero, full, random, urandom."""

    def __init__(self, inode: Inode, flags: int, path: str,
                 random_bytes: Callable[[int], bytes]) -> None:
        super().__init__(flags, path)
        self._inode = inode
        self._device = (os.major(inode.rdev), os.minor(inode.rdev))
        self._random_bytes = random_bytes
        if self._device not in (DEV_NULL, DEV_ZERO, DEV_FULL, DEV_RANDOM, DEV_URANDOM):
            raise FsError(errno.ENXIO)  # e.g. /dev/tty: no controlling terminal

    @property
    def inode(self) -> Inode:
        return self._inode

    def read(self, size: int) -> bytes:
        if self._device == DEV_NULL:
            return b""
        if self._device in (DEV_ZERO, DEV_FULL):
            return bytes(size)
        return self._random_bytes(size)

    @property
    def discards_writes(self) -> bool:
        """/dev/null and /dev/zero accept any write without reading its buffer
        (drivers/char/mem.c's write_null), so even a bad buffer is no EFAULT there."""
        return self._device in (DEV_NULL, DEV_ZERO)

    def write(self, data: bytes) -> int:
        if self._device == DEV_FULL:
            raise FsError(errno.ENOSPC)
        return len(data)

    def pread(self, size: int, offset: int) -> bytes:
        return self.read(size)

    def pwrite(self, data: bytes, offset: int) -> int:
        return self.write(data)

    def seek(self, offset: int, whence: int) -> int:
        self.pos = 0  # memory devices accept any seek and stay at 0
        return 0

    def stat(self) -> StatResult:
        return self._inode.stat()


@dataclass
class HostStream(OpenFile):
    """One of stdin, stdout or stderr, connected to a host stream (a pipe, file or tty).

    ``sink`` is a binary file object (tests pass ``io.BytesIO``) or a host file
    descriptor number, used only through read/write: the guest cannot reach
    anything else of the host through it.
    """

    sink: BinaryIO | int
    stream_flags: int
    name: str
    seekable = False

    def __post_init__(self) -> None:
        OpenFile.__init__(self, self.stream_flags, self.name)

    __hash__ = object.__hash__
    __eq__ = object.__eq__

    def read(self, size: int) -> bytes:
        if isinstance(self.sink, int):
            try:
                return os.read(self.sink, size)
            except OSError as err:
                raise FsError(err.errno or errno.EIO) from None
        return self.sink.read(size) or b""

    def write(self, data: bytes) -> int:
        if isinstance(self.sink, int):
            try:
                return os.write(self.sink, data)
            except BrokenPipeError:
                raise BrokenPipe from None
            except OSError as err:
                raise FsError(err.errno or errno.EIO) from None
        written = self.sink.write(data)
        return len(data) if written is None else written

    def stat(self) -> StatResult:
        # A character device with no identity of the host's: like a pipe end to the guest.
        return StatResult(st_dev=0, st_ino=0, st_mode=stat.S_IFIFO | 0o600, st_nlink=1,
                          st_uid=0, st_gid=0, st_rdev=0, st_size=0,
                          st_blksize=HOST_STREAM_BLKSIZE, st_blocks=0,
                          st_atime_ns=0, st_mtime_ns=0, st_ctime_ns=0)
