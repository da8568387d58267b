"""memfd_create (mm/memfd.c): an anonymous file that lives in memory.

The file is a fresh regular inode of the coffer's filesystem that no directory
holds, opened read-write: it can be written, read, truncated, mapped and passed
on like any file, and it disappears with its last descriptor. Its name serves
only as the link text /proc shows ("/memfd:NAME (deleted)"). File seals
(MFD_ALLOW_SEALING is accepted) and huge pages are not modelled.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.files import InodeFile
from cofferos.coffers.fs import FsError
from cofferos.coffers.syscalls.open import O_LARGEFILE
from cofferos.coffers.syscalls.uaccess import strncpy_from_user

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/linux/memfd.h
MFD_CLOEXEC = 0x0001
MFD_ALLOW_SEALING = 0x0002
MFD_HUGETLB = 0x0004
MFD_NOEXEC_SEAL = 0x0008
MFD_EXEC = 0x0010
MFD_ALL_FLAGS = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC
MFD_NAME_PREFIX = "memfd:"
MFD_NAME_MAX_LEN = 255 - len(MFD_NAME_PREFIX)  #: NAME_MAX less the prefix
MEMFD_MODE = stat.S_IFREG | 0o777  #: shmem_file_setup's S_IRWXUGO
EXEC_BITS = 0o111


def sys_memfd_create(task: Task, uname: int, flags: int) -> int:
    flags &= 0xFFFF_FFFF
    if flags & ~MFD_ALL_FLAGS or flags & MFD_HUGETLB:
        return -errno.EINVAL  # no hugetlbfs in a coffer
    if flags & MFD_EXEC and flags & MFD_NOEXEC_SEAL:
        return -errno.EINVAL
    try:
        raw = strncpy_from_user(task, uname, MFD_NAME_MAX_LEN + 1)
    except FsError:
        return -errno.EINVAL  # name longer than MFD_NAME_MAX_LEN
    name = raw.decode("utf-8", "surrogateescape")
    mode = MEMFD_MODE & ~EXEC_BITS if flags & MFD_NOEXEC_SEAL else MEMFD_MODE
    creds = task.creds
    inode = task.coffer.fs.sb.new_inode(mode, uid=creds.fsuid, gid=creds.fsgid)
    inode.nlink = 0  # in no directory, as an unlinked file
    file = InodeFile(inode, os.O_RDWR | O_LARGEFILE, f"/{MFD_NAME_PREFIX}{name} (deleted)")
    return task.files.install(file, cloexec=bool(flags & MFD_CLOEXEC))


def register(table: SyscallTable) -> None:
    table.add("memfd_create", sys_memfd_create, "str", "hex")
