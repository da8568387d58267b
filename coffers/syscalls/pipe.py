"""pipe and pipe2 (fs/pipe.c). The pipe itself is :mod:`cofferos.coffers.pipe`."""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.pipe import Pipe, PipeEnd
from cofferos.coffers.syscalls.uaccess import copy_to_user

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

FD_PAIR = struct.Struct("<ii")
O_DIRECT = 0o40000  # packet mode: accepted, treated as a byte stream


def sys_pipe2(task: Task, fds: int, flags: int) -> int:
    if flags & ~(os.O_CLOEXEC | os.O_NONBLOCK | O_DIRECT):
        return -errno.EINVAL
    table = task.files
    if sum(1 for fd in table.fds if fd < table.limit) + 2 > table.limit:
        return -errno.EMFILE
    coffer = task.coffer
    coffer.pipe_count += 1
    pipe = Pipe(coffer.pipe_count)
    status = flags & os.O_NONBLOCK
    reader = PipeEnd(pipe, os.O_RDONLY | status, reading=True)
    writer = PipeEnd(pipe, os.O_WRONLY | status, reading=False)
    cloexec = bool(flags & os.O_CLOEXEC)
    read_fd = table.install(reader, cloexec)
    write_fd = table.install(writer, cloexec)
    try:
        copy_to_user(task, fds, FD_PAIR.pack(read_fd, write_fd))
    except Exception:
        table.close(read_fd)
        table.close(write_fd)
        raise
    return 0


def sys_pipe(task: Task, fds: int) -> int:
    return sys_pipe2(task, fds, 0)


def register(table: SyscallTable) -> None:
    table.add("pipe", sys_pipe, "ptr")
    table.add("pipe2", sys_pipe2, "ptr", "oflags")
