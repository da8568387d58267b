"""Memory system calls: brk, mmap, munmap, mprotect, mremap, madvise, msync (mm/).

Thin wrappers over :class:`~cofferos.coffers.mm.AddressSpace`: they check
arguments as Linux does and turn failures into errnos. A regular file is mapped
through its shared memory object (:mod:`cofferos.coffers.shmem`), whose bytes
read(2) and write(2) then reach too. MAP_SHARED maps the object's pages: stores
through the mapping are the file's contents at once and ``msync`` has nothing
left to write. MAP_PRIVATE maps them copy-on-write: a page reads the file, and
follows its later changes, until the process first stores to it; a page wholly
past the end of the file is SIGBUS in both. Anonymous MAP_SHARED (and /dev/zero)
gets a fresh object. Nothing is copied at mmap time, whatever the file's size.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from cofferos.coffers.files import DeviceFile, InodeFile
from cofferos.coffers.fs.inode import DEFAULT_MAX_FILE_SIZE
from cofferos.coffers.fs.vfs import MS_NOEXEC
from cofferos.coffers.mm import COPY_CHUNK, PAGE_MASK, MmError, page_up
from cofferos.coffers.shmem import ShmemObject, inode_shmem
from cofferos.coffers.syscalls.uaccess import fd_arg

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE = 0x01, 0x02, 0x03
MAP_TYPE = 0x0F
MAP_FIXED, MAP_ANONYMOUS = 0x10, 0x20
MAP_FIXED_NOREPLACE = 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MADV_DONTNEED, MADV_FREE, MADV_REMOVE = 4, 8, 9
MS_ASYNC, MS_INVALIDATE, MS_SYNC = 1, 2, 4  # include/uapi/asm-generic/mman-common.h
PROT_WRITE = 0x2
PROT_EXEC = 0x4
PROT_ALL = 0x7  # PROT_READ | PROT_WRITE | PROT_EXEC
PROT_GROWS = 0x03000000  # PROT_GROWSDOWN | PROT_GROWSUP: accepted and ignored


def sys_brk(task: Task, addr: int) -> int:
    return task.mm.set_brk(addr)


def _mapped_file(task: Task, fd: int, shared_write: bool) -> InodeFile | None:
    """The regular file an mmap maps; None for /dev/zero (anonymous memory)."""
    file = task.files.get(fd)
    if isinstance(file, DeviceFile):
        return None
    if not isinstance(file, InodeFile) or not file.inode.is_reg():
        raise MmError(errno.ENODEV)
    mode = file.flags & os.O_ACCMODE
    if mode == os.O_WRONLY or (shared_write and mode != os.O_RDWR):
        raise MmError(errno.EACCES)  # readable always; writable too to store through it
    return file


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
    mm = task.mm
    shared = map_type != MAP_PRIVATE
    file = None if flags & MAP_ANONYMOUS else _mapped_file(
        task, fd_arg(fd), shared and bool(prot & PROT_WRITE))
    if prot & PROT_EXEC and file is not None and task.coffer.fs.mount_flag(
            file.inode, MS_NOEXEC):
        return -errno.EPERM  # do_mmap: VM_EXEC of a file on a noexec mount
    contents, shm, private = None, None, False
    if file is not None and not file.inode.page_cached:  # a /proc file: its bytes now
        if shared:
            return -errno.ENODEV  # do_mmap: the file has no mmap operation
        contents = file.inode.read(offset, length)
    elif file is not None:  # the file's pages, shared or copy-on-write
        if offset + length > DEFAULT_MAX_FILE_SIZE:
            return -errno.EOVERFLOW  # file_mmap_ok: past the largest file (s_maxbytes)
        shm, private = inode_shmem(file.inode, mm.account), not shared
        if shared:
            file.inode.host_key = None  # its stores no longer match the host file's pages
    elif shared:  # the same pages in every address space that maps them
        shm, offset = ShmemObject("dev/zero", length, mm.account), 0
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if addr & PAGE_MASK:
            return -errno.EINVAL
        replace = bool(flags & MAP_FIXED)
        if not replace and not mm.is_free(addr, addr + length):
            return -errno.EEXIST  # MAP_FIXED_NOREPLACE over an existing mapping
        start = mm.map_fixed(addr, length, prot, "", shm, offset, private)
    else:
        start = mm.map_anywhere(length, prot, "", hint=addr, shm=shm, offset=offset,
                                private=private)
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
    if advice in (MADV_DONTNEED, MADV_FREE, MADV_REMOVE):
        for vma in task.mm.overlapping(addr, end):
            lo, hi = max(vma.start, addr), min(vma.end, end)
            if vma.private:  # copies made on write go: the file's bytes show again
                task.mm.drop_copies(vma, lo, hi)
                continue
            if vma.shm is not None:  # shared pages keep their bytes, unless removed
                if advice == MADV_REMOVE:
                    vma.shm.zero(vma.shm_offset(lo), vma.shm_offset(hi))
                continue
            # Private anonymous pages read back as zero after DONTNEED; glibc relies on it.
            for start in range(lo, hi, COPY_CHUNK):
                task.mm.write(start, bytes(min(COPY_CHUNK, hi - start)))
    return 0


def sys_msync(task: Task, addr: int, length: int, flags: int) -> int:
    """Shared mappings are the file's bytes already (see the module doc): only checks."""
    if addr & PAGE_MASK or flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC):
        return -errno.EINVAL
    if flags & MS_ASYNC and flags & MS_SYNC:
        return -errno.EINVAL
    if not task.mm.covered(addr, addr + page_up(length)):
        return -errno.ENOMEM
    return 0


def register(table: SyscallTable) -> None:
    table.add("brk", sys_brk, "hex")
    table.add("mmap", sys_mmap, "hex", "size", "prot", "mapflags", "fd", "off")
    table.add("munmap", sys_munmap, "hex", "size")
    table.add("mprotect", sys_mprotect, "hex", "size", "prot")
    table.add("mremap", sys_mremap, "hex", "size", "size", "hex", "hex")
    table.add("madvise", sys_madvise, "hex", "size", "int")
    table.add("msync", sys_msync, "hex", "size", "hex")
