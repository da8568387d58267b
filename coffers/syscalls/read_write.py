"""Moving bytes through descriptors: read, write, readv, writev, pread64, pwrite64 and
lseek (sendfile and copy_file_range: :mod:`cofferos.coffers.syscalls.copy_range`).

Mirrors Linux's fs/read_write.c. Each call checks in the kernel's order: the
descriptor (EBADF, also for O_PATH), the access mode it was opened with (EBADF
when not opened for reading or writing), the arguments (EINVAL, ESPIPE), and
only then moves data, at most :data:`MAX_RW_COUNT` bytes per call as Linux does,
and for files and byte streams one chunk at a time (``uaccess.TRANSFER_CHUNK``), so
that no count a guest passes makes the kernel hold more than a chunk of it.
What a transfer means for each kind of file (regular file, device, host stream)
is the :class:`~cofferos.coffers.files.OpenFile`'s business; this layer moves the
bytes between it and guest memory with the uaccess helpers.

If the guest buffer of a read turns out to be bad, the call fails with EFAULT and
a seekable file's offset is put back, so that a faulting read consumes nothing.

read(2) and write(2) are the calls guests make most: a small transfer to or from a
pipe or a tmpfs file (the exact types :class:`PipeEnd` and :class:`InodeFile`) goes
through their checks and charges written out, without helper calls, and copies through
the view of the guest's buffer kept between calls (``BlockMap.kept_view``; issue #17).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.devio import VIRTIO_BLK, VIRTIO_CONSOLE, device_io
from cofferos.coffers.dnotify import fsnotify
from cofferos.coffers.files import (
    READABLE_MODES,
    SEEK_CUR,
    SEEK_SET,
    WRITABLE_MODES,
    DeviceFile,
    HostStream,
    InodeFile,
    OpenFile,
)
from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.notify import DN_ACCESS, DN_MODIFY
from cofferos.coffers.fs.regular import FILE_TYPE_BITS
from cofferos.coffers.net.sock import Socket
from cofferos.coffers.pipe import PipeEnd
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.uaccess import (
    FD_SIGN_BIT,
    TRANSFER_CHUNK,
    copy_from_user,
    copy_to_user,
    fd_arg,
    get_iovecs,
    read_to_user,
    signed,
    transfer_iovecs,
    user_prefix,
    write_from_user,
)
from cofferos.isa.blockmap import PROT_EXEC, PROT_WRITE
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

#: Largest single transfer: INT_MAX rounded down to a page (include/linux/fs.h).
MAX_RW_COUNT = 0x7FFFF000
SEEK_MAX = 4  # SEEK_HOLE
SSIZE_MAX = (1 << 63) - 1
#: The top of user address space (arch/x86/include/asm/page_64.h, 4-level paging).
TASK_SIZE_MAX = (1 << 47) - 4096
#: The flags and the type read(2) and write(2) test, as globals: ``os.O_PATH`` is a
#: global and a module attribute load, about 30 ns more each (issue #17).
O_PATH, O_ACCMODE, O_APPEND, S_IFREG = os.O_PATH, os.O_ACCMODE, os.O_APPEND, stat.S_IFREG


#: Files whose transfers go chunk by chunk (uaccess.TRANSFER_CHUNK): byte streams and
#: files. A socket's write is one message and a datagram read must not be split.
CHUNKED_READS = (InodeFile, DeviceFile)
CHUNKED_WRITES = (InodeFile, DeviceFile, PipeEnd, HostStream)
#: Files whose transfers go through the VFS and page cache (charged file_io_work).
VFS_FILES = (InodeFile, DeviceFile)


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


def _console_io(task: Task, file: OpenFile) -> None:
    """A transfer on the container's stdin, stdout or stderr: its console device."""
    if isinstance(file, HostStream):
        device_io(task.coffer, VIRTIO_CONSOLE, task)


def _page_cache(task: Task, file: OpenFile, offset: int, nbytes: int) -> None:
    """A read of a host-image file goes through the kernel domain's page cache: each
    page not cached there yet is read from the device first (a miss, charged here)."""
    if nbytes and isinstance(file, InodeFile) and file.inode.host_key is not None:
        coffer = task.coffer
        misses = coffer.domain.cache_pages(file.inode.host_key, offset, nbytes,
                                           coffer.config.name)
        if misses:
            task.charge(misses * coffer.config.kernel_costs.page_cache_miss)
            device_io(coffer, VIRTIO_BLK, task)  # one block request fills the pages


def sys_read(task: Task, fd: int, buf: int, count: int) -> int:
    # The checks are written out, not called (fdget's, check_readable's, _rw_count's):
    # read(2) and write(2) are the calls guests make most, and each Python call costs
    # about 0.1 us of a trap of a few (issue #17). Files and devices go through the VFS
    # and page cache (charged file_io_work once the buffer passed access_ok, as
    # vfs_read checks it first); pipes and sockets do not; the container's stdin,
    # stdout and stderr are its console, a device request.
    entry = task.files.fds.get(fd if fd < FD_SIGN_BIT else fd_arg(fd))
    if entry is None:
        raise FsError(errno.EBADF)
    file = entry.file
    if file.flags & O_PATH or file.flags & O_ACCMODE not in READABLE_MODES:
        raise FsError(errno.EBADF)  # O_PATH, or not opened for reading
    # A pipe and a tmpfs file by their exact type first (neither is the console): an
    # isinstance against a tuple of kinds costs about a Python call (issue #17).
    kind = type(file)
    plain = kind is PipeEnd or kind is InodeFile
    if not plain and isinstance(file, HostStream):
        device_io(task.coffer, VIRTIO_CONSOLE, task)
    if buf + count > TASK_SIZE_MAX:
        raise FsError(errno.EFAULT, "buffer outside user space")
    if count > MAX_RW_COUNT:
        count = MAX_RW_COUNT
    pos = file.pos
    if plain:  # the guest buffer's view kept between calls: BlockMap.kept_view, whose
        memory = task.cpu.memory_map  # dictionary is read here first (a call fewer a trap)
        view = (memory.kept_views.get((buf, count, PROT_WRITE, PROT_EXEC))
                or memory.kept_view(buf, count, PROT_WRITE, PROT_EXEC))
        if view is not None:
            coffer = task.coffer
            if kind is PipeEnd:  # a buffer the guest can write: what the pipe gives fits
                data = file.read(count)
                done = len(data)
                view[:done] = data
                cycles = done * coffer.dispatcher.costs.copy_cycles_per_kib // 1024
                task.kernel_cycles += cycles  # task.charge(costs.copy(done))
                coffer.stats.kernel_cycles += cycles
                return done
            inode = file._inode  # type: ignore[attr-defined]  # (kind is InodeFile)
            if inode.mode & FILE_TYPE_BITS == S_IFREG:
                if type(inode) is Inode:  # the bytes it holds, copied once into the view
                    done = inode.read_into(view, pos, count)
                else:  # a synthetic file's own read (procfs)
                    data = inode.read(pos, count)
                    done = len(data)
                    view[:done] = data
                file.pos = pos + done
                costs = coffer.dispatcher.costs  # (the coffer's config.kernel_costs)
                cycles = costs.file_io_work + done * costs.copy_cycles_per_kib // 1024
                task.kernel_cycles += cycles  # task.charge(file_io_work + costs.copy(done))
                coffer.stats.kernel_cycles += cycles
                if done and inode.host_key is not None:  # _page_cache's test, inline
                    _page_cache(task, file, pos, done)
                if coffer.dnotify.marks:  # fsnotify's own test: most coffers watch nothing
                    fsnotify(task, inode, DN_ACCESS)
                return done
    if isinstance(file, CHUNKED_READS):  # the VFS_FILES
        # A few writable pages (most reads; never more than a chunk): read_to_user's
        # first and only round, stored straight into the guest's pages, as
        # copy_to_user stores (never onto code: see BlockMap.user_view).
        vfs_work = task.coffer.config.kernel_costs.file_io_work
        view = task.cpu.memory_map.user_view(buf, count, PROT_WRITE, PROT_EXEC)
        if view is None:
            task.charge(vfs_work)
            done = read_to_user(task, buf, count, file.read_chunk, file.unread)
        else:
            data = file.read(count)
            done = len(data)
            view[:done] = data
            task.charge(vfs_work + task.coffer.dispatcher.costs.copy(done))  # one call
        if done and file.inode.host_key is not None:  # _page_cache's test, without its call
            _page_cache(task, file, pos, done)
        if task.coffer.dnotify.marks:  # fsnotify's own test: most coffers watch nothing
            fsnotify(task, file.inode, DN_ACCESS)
        return done
    if isinstance(file, PipeEnd):
        view = task.cpu.memory_map.user_view(buf, count, PROT_WRITE, PROT_EXEC)
        if view is not None:  # a buffer the guest can write: what the pipe gives fits
            data = file.read(count)
            view[: len(data)] = data
            task.charge(task.coffer.dispatcher.costs.copy(len(data)))
            return len(data)
        count = _pipe_room(task, file, buf, count)
    data = file.read(count)  # not a file of the page cache: those are CHUNKED_READS
    return _read_into(task, file, buf, data, pos)


def _pipe_room(task: Task, pipe: PipeEnd, buf: int, count: int) -> int:
    """How much of a pipe to take: no more than the guest buffer can hold. Linux copies
    a pipe buffer to the guest before consuming it, so a read into a buffer the guest
    cannot write is EFAULT and leaves the bytes in the pipe (once there are some: an
    empty pipe still blocks or answers EAGAIN first)."""
    if task.cpu.memory_map.user_view(buf, count, PROT_WRITE) is not None:
        return count  # the common case, a small writable buffer, without a page walk
    room = user_prefix(task, buf, count, writing=True)
    if count and not room:
        pipe.read(0)  # blocks, or EAGAIN, while the pipe is empty; takes nothing
        raise MemoryFault(buf, count)
    return room


def sys_write(task: Task, fd: int, buf: int, count: int) -> int:
    # The checks and charges written out, as in sys_read.
    entry = task.files.fds.get(fd if fd < FD_SIGN_BIT else fd_arg(fd))
    if entry is None:
        raise FsError(errno.EBADF)
    file = entry.file
    if file.flags & O_PATH or file.flags & O_ACCMODE not in WRITABLE_MODES:
        raise FsError(errno.EBADF)  # O_PATH, or not opened for writing
    kind = type(file)  # a pipe and a tmpfs file first, by exact type, as in sys_read
    plain = kind is PipeEnd or kind is InodeFile
    if not plain and isinstance(file, HostStream):
        device_io(task.coffer, VIRTIO_CONSOLE, task)
    if buf + count > TASK_SIZE_MAX:
        raise FsError(errno.EFAULT, "buffer outside user space")
    if count > MAX_RW_COUNT:
        count = MAX_RW_COUNT
    if plain:  # as in sys_read
        memory = task.cpu.memory_map
        view = memory.kept_views.get((buf, count, 0, 0)) or memory.kept_view(buf, count)
        if view is not None:
            coffer = task.coffer
            costs = coffer.dispatcher.costs  # (the coffer's config.kernel_costs)
            cycles = count * costs.copy_cycles_per_kib // 1024
            if kind is PipeEnd:
                task.kernel_cycles += cycles  # task.charge(costs.copy(count))
                coffer.stats.kernel_cycles += cycles
                return file.write(view)  # the pipe copies the guest's bytes once, into itself
            cycles += costs.file_io_work
            task.kernel_cycles += cycles  # task.charge(file_io_work + costs.copy(count))
            coffer.stats.kernel_cycles += cycles
            inode = file._inode  # type: ignore[attr-defined]  # InodeFile.write written out
            if file.flags & O_APPEND:
                file.pos = inode.size
            # an Inode copies the view once, into the file; a synthetic file takes bytes
            written = inode.write(file.pos, view if type(inode) is Inode else bytes(view))
            file.pos += written
            if coffer.dnotify.marks:  # fsnotify's own test: most coffers watch nothing
                fsnotify(task, inode, DN_MODIFY)
            return written
    if file.discards_writes:  # /dev/null reads no buffer (write_null)
        if isinstance(file, VFS_FILES):
            task.charge(task.coffer.config.kernel_costs.file_io_work)
        return count
    if isinstance(file, CHUNKED_WRITES):
        # A few readable pages (most writes; never more than a chunk): write_from_user's
        # first and only round, the bytes taken straight from the guest's pages.
        vfs_work = (task.coffer.config.kernel_costs.file_io_work
                    if isinstance(file, VFS_FILES) else 0)
        view = task.cpu.memory_map.user_view(buf, count)
        if view is None:
            task.charge(vfs_work)
            written = write_from_user(task, buf, count, file.write_chunk)
        else:
            task.charge(vfs_work + task.coffer.dispatcher.costs.copy(count))  # one call
            written = file.write(bytes(view))
        if task.coffer.dnotify.marks:  # fsnotify's own test: most coffers watch nothing
            fsnotify(task, file.inode, DN_MODIFY)
        return written
    if isinstance(file, Socket):  # one message: copy only what the socket could take
        count = file.send_copy_limit(count)
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
    done = read_to_user(task, buf, _rw_count(buf, count),
                        lambda size, done: file.pread(size, offset + done), lambda _: None)
    _page_cache(task, file, offset, done)
    fsnotify(task, file.inode, DN_ACCESS)
    return done


def sys_pwrite64(task: Task, fd: int, buf: int, count: int, offset: int) -> int:
    offset = signed(offset)
    if offset < 0:
        return -errno.EINVAL
    file = fdget(task, fd_arg(fd))
    if not file.seekable:
        return -errno.ESPIPE
    file.check_writable()
    count = _rw_count(buf, count)
    if file.discards_writes:
        return count
    written = write_from_user(task, buf, count,
                              lambda data, done: file.pwrite(data, offset + done))
    fsnotify(task, file.inode, DN_MODIFY)
    return written


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
    _console_io(task, file)
    iovecs = get_iovecs(task, iov, signed(iovcnt, 32))
    total = min(_iov_total(iovecs), MAX_RW_COUNT)
    pos = file.pos
    if isinstance(file, CHUNKED_READS):  # vector by vector, chunk by chunk, as read(2)
        done = transfer_iovecs(iovecs, total, lambda base, want, _at: read_to_user(
            task, base, want, file.read_chunk, file.unread))
        _page_cache(task, file, pos, done)
        return done
    data = file.read(total)  # a pipe or socket: one read, so a message stays whole
    _page_cache(task, file, pos, len(data))
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
    _console_io(task, file)
    iovecs = get_iovecs(task, iov, signed(iovcnt, 32))
    remaining = min(_iov_total(iovecs), MAX_RW_COUNT)
    if file.discards_writes:  # /dev/null reads no buffer (write_null)
        return remaining
    if isinstance(file, Socket):  # one message: copy only what the socket could take
        remaining = file.send_copy_limit(remaining)
    elif remaining > TRANSFER_CHUNK and isinstance(file, CHUNKED_WRITES):
        return _writev_chunked(task, file, iovecs, remaining)
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


def _writev_chunked(task: Task, file: OpenFile, iovecs: list[tuple[int, int]],
                    total: int) -> int:
    """A large writev, vector by vector and chunk by chunk, so the host never holds
    the whole (up to 2 GiB) at once. Small ones stay one write: a pipe's PIPE_BUF
    atomicity holds for the whole vector. Ends at a short write or a late error,
    returning what was written, as Linux's do_iter_write."""
    return transfer_iovecs(iovecs, total, lambda base, take, _done: write_from_user(
        task, base, take, lambda data, _: file.write(data)))


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
