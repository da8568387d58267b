"""The name of the working directory: getcwd, from Linux's fs/d_path.c.

The coffer's filesystem walks from the cwd inode up to the coffer root
(:meth:`~cofferos.coffers.fs.FileSystem.path_of`), so the answer is always a path
inside the coffer; a cwd that was removed is ENOENT, as in Linux.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from cofferos.coffers.syscalls.uaccess import copy_to_user

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task


def sys_getcwd(task: Task, buf: int, size: int) -> int:
    """Store the cwd with its NUL at ``buf``; returns the length including the NUL."""
    path = os.fsencode(task.coffer.fs.path_of(task.fs.cwd)) + b"\0"
    if len(path) > size:
        return -errno.ERANGE
    copy_to_user(task, buf, path)
    return len(path)


def register(table: SyscallTable) -> None:
    table.add("getcwd", sys_getcwd, "ptr", "size")
