"""Memory system calls: brk, mmap, munmap, mprotect, mremap, madvise (mm/).

Thin wrappers over :class:`~cofferos.coffers.mm.AddressSpace`: they check
arguments as Linux does and turn failures into errnos. File mappings are
private copies of the file's bytes at map time; MAP_SHARED writes are not
written back to the file (no guest in the test suite relies on it, and the
limitation is documented in docs/kernel.md).
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from cofferos.coffers.files import DeviceFile, InodeFile
from cofferos.coffers.fs.vfs import MS_NOEXEC
from cofferos.coffers.mm import COPY_CHUNK, PAGE_MASK, MmError, page_up
from cofferos.coffers.syscalls.uaccess import fd_arg

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE = 0x01, 0x02, 0x03
MAP_TYPE = 0x0F
MAP_FIXED, MAP_ANONYMOUS = 0x10, 0x20
MAP_FIXED_NOREPLACE = 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MADV_DONTNEED, MADV_FREE = 4, 8
PROT_EXEC = 0x4
PROT_ALL = 0x7  # PROT_READ | PROT_WRITE | PROT_EXEC
PROT_GROWS = 0x03000000  # PROT_GROWSDOWN | PROT_GROWSUP: accepted and ignored


def sys_brk(task: Task, addr: int) -> int:
    return task.mm.set_brk(addr)


def _file_bytes(task: Task, fd: int, offset: int, length: int) -> bytes | None:
    """The bytes a file mapping starts with; None for /dev/zero (anonymous)."""
    file = task.files.get(fd)
    if isinstance(file, DeviceFile):
        return None
    if not isinstance(file, InodeFile) or not file.inode.is_reg():
        raise MmError(errno.ENODEV)
    if (file.flags & os.O_ACCMODE) == os.O_WRONLY:  # a mapping must be readable
        raise MmError(errno.EACCES)
    return file.inode.read(offset, length)


def sys_mmap(task: Task, addr: int, length: int, prot: int, flags: int, fd: int,
             offset: int) -> int:
    map_type = flags & MAP_TYPE
    if length == 0 or offset & PAGE_MASK or map_type not in (MAP_SHARED, MAP_PRIVATE,
                                                             MAP_SHARED_VALIDATE):
        return -errno.EINVAL
    if prot & ~(PROT_ALL | PROT_GROWS):
        return -errno.EINVAL
    prot &= PROT_ALL
    if prot & PROT_EXEC:
        task.process.foreign_code = True  # code that is not the program file's
    length = page_up(length)
    contents = None
    if not flags & MAP_ANONYMOUS:
        contents = _file_bytes(task, fd_arg(fd), offset, length)
        inode = getattr(task.files.get(fd_arg(fd)), "inode", None)
        if prot & PROT_EXEC and inode is not None and task.coffer.fs.mount_flag(
                inode, MS_NOEXEC):
            return -errno.EPERM  # do_mmap: VM_EXEC of a file on a noexec mount
    mm = task.mm
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if addr & PAGE_MASK:
            return -errno.EINVAL
        replace = bool(flags & MAP_FIXED)
        if not replace and not mm.is_free(addr, addr + length):
            return -errno.EEXIST  # MAP_FIXED_NOREPLACE over an existing mapping
        start = mm.map_fixed(addr, length, prot, "")
    else:
        start = mm.map_anywhere(length, prot, "", hint=addr)
    if contents:
        mm.write(start, contents)
    return start


def sys_munmap(task: Task, addr: int, length: int) -> int:
    if addr & PAGE_MASK or length == 0:
        return -errno.EINVAL
    task.mm.unmap(addr, length)
    return 0


def sys_mprotect(task: Task, addr: int, length: int, prot: int) -> int:
    if addr & PAGE_MASK or prot & ~(PROT_ALL | PROT_GROWS):
        return -errno.EINVAL
    if length:
        if prot & PROT_EXEC:
            task.process.foreign_code = True
        task.mm.protect(addr, length, prot & PROT_ALL)
    return 0


def sys_mremap(task: Task, old: int, old_len: int, new_len: int, flags: int, new_addr: int) -> int:
    if flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED) or old & PAGE_MASK:
        return -errno.EINVAL
    if flags & MREMAP_FIXED and (not flags & MREMAP_MAYMOVE or new_addr & PAGE_MASK):
        return -errno.EINVAL
    fixed_to = new_addr if flags & MREMAP_FIXED else None
    return task.mm.move(old, old_len, new_len, bool(flags & MREMAP_MAYMOVE), fixed_to)


def sys_madvise(task: Task, addr: int, length: int, advice: int) -> int:
    if addr & PAGE_MASK:
        return -errno.EINVAL
    end = addr + page_up(length)
    if not task.mm.covered(addr, end):
        return -errno.ENOMEM
    if advice in (MADV_DONTNEED, MADV_FREE):
        # Private anonymous pages read back as zero after DONTNEED; glibc relies on it.
        for start in range(addr, end, COPY_CHUNK):
            task.mm.write(start, bytes(min(COPY_CHUNK, end - start)))
    return 0


def register(table: SyscallTable) -> None:
    table.add("brk", sys_brk, "hex")
    table.add("mmap", sys_mmap, "hex", "size", "prot", "mapflags", "fd", "off")
    table.add("munmap", sys_munmap, "hex", "size")
    table.add("mprotect", sys_mprotect, "hex", "size", "prot")
    table.add("mremap", sys_mremap, "hex", "size", "size", "hex", "hex")
    table.add("madvise", sys_madvise, "hex", "size", "int")
