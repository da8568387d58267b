"""The lock trace: which kernel lock *instances* a system call would take in Linux.

The system calls are functional; a timing machine (``sim/machine.py``) wants to
know which locks each call would take, keyed by the kernel objects the call
really touched, so that two containers contend only where they share an object.
While a machine records, :data:`trace` is a list and the kernel appends one
record per lock-bearing step: ``(lock class, object)``, the object being the
inode standing for a dentry, a superblock, an address space, a socket, a pipe,
a futex hash bucket, or None for a kernel-global lock. The dispatcher attaches
the records of each call to its event. When no machine records, :data:`trace`
is None and each site costs one test.

The classes below are the kernel's vocabulary of *what* is taken; which lock
algorithm, hold time and placement each class has is data of a kernel version
(``sim/lockversions.py``), so adding a version touches no kernel code.

Most classes are recorded where the object is at hand (the path walk in
``fs/namei.py``, the directory operations in ``fs/vfs.py``); calls whose object
is named by their arguments (a descriptor, a futex word) are resolved here by
:func:`call_records` before the call runs, on the recording path only.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from typing import Any

trace: list[tuple[str, object]] | None = None
"""The running call's lock records while a timing machine records, else None."""

# -- lock classes (the Linux source each models is in sim/lockversions.py) ------------
D_WALK = "d_walk"  #: a path component looked up in the dcache (walk_component)
D_WALK_REF = "d_walk_ref"  #: a component that needs ref-walk even in RCU-walk: "..", symlinks
D_FINAL_REF = "d_final_ref"  #: the reference a walk ends holding on its last dentry
#: (complete_walk/legitimize_path leaving RCU-walk, and the path_put after the call)
MNT_READ = "mnt_read"  #: the mount table's read side at the start of a walk (path_init)
#: a walk crossing a mount point, once per mount crossed: into a mount covering a
#: component (follow_mount's lookup_mnt), or by ".." out of a crossed mount's root
#: (follow_dotdot's follow_up); recorded with the mount's superblock (as MNT_REF)
MNT_CROSS = "mnt_cross"
MNT_WRITE = "mnt_write"  #: mount/umount changing the mount tree (namespace_sem + mount_lock)
DIR_EXCL = "dir_excl"  #: the parent directory's i_rwsem, exclusive (create/unlink/rename)
DIR_SHARED = "dir_shared"  #: a directory's i_rwsem, shared (iterate_dir)
D_ALLOC = "d_alloc"  #: a dentry added to its parent (d_alloc, d_instantiate)
D_DELETE = "d_delete"  #: a dentry dropped from its parent (d_delete, then freed by dput)
#: the last reference on a dentry dropped (dput taking d_count to zero). A tmpfs name is
#: pinned while it exists (shmem_mknod's extra dget, dropped by simple_unlink), so a walk
#: ending on a file or a new name's creator never drops the last reference; a negative
#: dentry is not pinned: the lookup's own dput is its last (recorded after D_NEGATIVE)
D_LAST_PUT = "d_last_put"
#: a lookup of an absent name (tmpfs's simple_lookup, recorded with the parent): a
#: negative dentry allocated and hashed under the parent; its d_op deletes it at its last
#: put (simple_delete_dentry / always_delete_dentry), so it is not cached and every
#: lookup of the absent name makes and kills one. A walk's lookup does it under
#: DIR_LOOKUP; rename's lookup of an absent target under lock_rename's DIR_EXCL
D_NEGATIVE = "d_negative"
#: the directory lock a walk's lookup of a name not in the dcache takes (lookup_slow)
DIR_LOOKUP = "dir_lookup"
SB_INODES = "sb_inodes"  #: an inode added to or removed from its superblock's list
RENAME = "rename"  #: the global rename_lock (d_move)
TASKLIST_WRITE = "tasklist_write"  #: tasklist_lock's write side (copy_process, exit_notify,
#: and release_task when a wait reaps a zombie)
TASKLIST_READ = "tasklist_read"  #: tasklist_lock's read side (do_wait)
MMAP_WRITE = "mmap_write"  #: an address space's mmap_lock for writing (mmap, munmap, brk)
FUTEX_BUCKET = "futex_bucket"  #: a futex hash bucket's lock (futex_q_lock)
SOCK = "sock"  #: a socket's lock (lock_sock)
PIPE = "pipe"  #: a pipe's mutex (pipe_lock)
FILE_WRITE = "file_write"  #: a regular file's inode lock for a write or truncate
PAGE_REF = "page_ref"  #: a page-cache page's reference (and lock bit) for a read
#: an open file added to (open) or removed from (close) its superblock's list of open
#: files (file_sb_list_add / file_sb_list_del, before 3.13)
FILE_LIST = "file_list"
#: the references a walk takes on its starting directory (path_get in path_init, path_put
#: after the call; ref-walk kernels only): recorded with the start directory
WALK_START = "walk_start"
#: the reference a walk takes on its starting mount (mntget/mntput): recorded with the
#: start directory's superblock (one mount of it)
MNT_REF = "mnt_ref"
#: The walk mode of an absolute path's walk (recorded instead of D_WALK / D_FINAL_REF, and
#: WALK_ABS once at its start with the start directory): a kernel whose RCU-walk of
#: absolute paths fails (2.6.38) walks them by reference; every other version maps them
#: as D_WALK / D_FINAL_REF / nothing (sim/lockversions.py with_walk_modes)
D_WALK_ABS = "d_walk_abs"
D_FINAL_REF_ABS = "d_final_ref_abs"
WALK_ABS = "walk_abs"
#: A page fault's new page: taken from the per-CPU free lists (refilled from the zone in
#: batches) and, in steady state, freed back to them (drained to the zone in batches).
PAGE_ALLOC = "page_alloc"
#: A page fault's new anonymous page put on its memory cgroup's LRU list (per-CPU batches
#: moved under the LRU lock) and, in steady state, taken off it when freed.
LRU_ADD = "lru_add"
#: A page charged to its memory cgroup (mem_cgroup_try_charge: a page-cache page a write
#: allocates past a file's end, or a page fault's new page), recorded with the cgroup (a
#: container: each is its own).
PAGE_CHARGE = "page_charge"
#: A page-cache page a truncate frees, uncharged from its memory cgroup (the
#: mem_cgroup_uncharge_list of release_pages), recorded with the cgroup.
PAGE_UNCHARGE = "page_uncharge"
#: A page a write adds to a file, counted in its file system's used blocks (mm/shmem.c:
#: shmem_inode_acct_block's percpu_counter_compare against the size limit, then
#: percpu_counter_inc of sbinfo->used_blocks), recorded with a :class:`BlocksUse`.
SHMEM_BLOCKS = "shmem_blocks"

PAGE_SIZE = 4096
"""The page-cache unit: a read touches one :data:`PAGE_REF` per page of its range."""
#: A tmpfs mounted without size= holds at most half of the RAM (shmem_default_max_blocks:
#: totalram_pages / 2); the coffer's memory limit stands for the RAM.
DEFAULT_SIZE_PART = 2


class BlocksUse:
    """One page added to a file system's used-blocks counter: the counter (the lock
    table keys the lock by it, :attr:`lock_object`) and the pages still free below the
    limit before this one, when the call was made (the counter's state then: a slice's
    calls are replayed in simulated time after they ran)."""

    __slots__ = ("lock_object", "free_pages")

    def __init__(self, counter: object, free_pages: int) -> None:
        self.lock_object = counter
        self.free_pages = free_pages


def _blocks(task: Any, inode: Any, added: int) -> list[tuple[str, object]]:
    """A :data:`SHMEM_BLOCKS` record for each of ``added`` pages ``inode``'s file system
    gains: its space account is the counter, its limit the size= of its tmpfs or, without
    one, Linux's default of half the RAM."""
    from cofferos.coffers.syscalls.namespace import UNLIMITED  # (only while recording)

    space = getattr(getattr(inode, "sb", None), "space", None)
    if space is None or added <= 0:
        return []
    limit = space.limit_bytes
    if limit >= UNLIMITED:
        limit = task.coffer.memory.limit_bytes // DEFAULT_SIZE_PART
    free = (limit - space.used_bytes) // PAGE_SIZE
    return [(SHMEM_BLOCKS, BlocksUse(space, free - page)) for page in range(added)]

FUTEX_HASH_BUCKETS = 256 * 16
"""futex_init: 256 buckets per possible CPU (roundup_pow_of_two(256 * num_possible_cpus()),
kernel/futex/core.c), for a 16-CPU machine; the bucket a key lands in."""


def futex_bucket(task: Any, address: int) -> int:
    """The hash bucket of a private futex key (the address space, the address).

    Linux hashes the mm pointer; the address space is named here by its container and
    process so that the same run lands in the same buckets every time."""
    key = f"{task.coffer.config.name}/{task.process.tgid}/{address:x}"
    return zlib.crc32(key.encode()) % FUTEX_HASH_BUCKETS


def fault_records(memcg: object) -> tuple[tuple[str, object], ...]:
    """The records of one first-touch page fault of a process in memory cgroup ``memcg``
    (a container: each is its own cgroup): a page allocated and put on the LRU."""
    return ((PAGE_ALLOC, None), (LRU_ADD, memcg), (PAGE_CHARGE, memcg))


def _file_list_close(task: Any, regs: tuple[int, ...]) -> list[tuple[str, object]]:
    """close of a file with an inode (a regular file or a directory): off the open list."""
    inode = getattr(_file_of(task, regs[1]), "inode", None)
    return [(FILE_LIST, None)] if inode is not None else []


def _global(cls: str) -> Callable[[Any, tuple[int, ...]], list[tuple[str, object]]]:
    return lambda _task, _regs: [(cls, None)]


def _mm(task: Any, _regs: tuple[int, ...]) -> list[tuple[str, object]]:
    return [(MMAP_WRITE, task.mm)]


def _futex(task: Any, regs: tuple[int, ...]) -> list[tuple[str, object]]:
    return [(FUTEX_BUCKET, futex_bucket(task, regs[1]))]


def _file_of(task: Any, fd: int) -> object | None:
    entry = task.files.fds.get(fd) if task.files is not None else None
    return entry.file if entry is not None else None


def _fd_object(task: Any, regs: tuple[int, ...]) -> list[tuple[str, object]]:
    """A socket's lock or a pipe's mutex for I/O on descriptor regs[1]."""
    file = _file_of(task, regs[1])
    if file is None:
        return []
    pipe = getattr(file, "pipe", None)
    if pipe is not None:
        return [(PIPE, pipe)]
    from cofferos.coffers.net.sock import Socket  # (only while recording: no import cycle)
    if isinstance(file, Socket):
        return [(SOCK, file)]
    return []


def _regular_inode(task: Any, fd: int) -> object | None:
    """The inode of descriptor ``fd`` when it is a regular file (not a device, pipe...)."""
    file = _file_of(task, fd)
    inode = getattr(file, "inode", None)
    is_reg = getattr(inode, "is_reg", None)
    return inode if is_reg is not None and is_reg() else None


def _file_write(task: Any, regs: tuple[int, ...]) -> list[tuple[str, object]]:
    """A write or truncate of a regular file: its inode lock (shmem_file_write_iter and
    do_truncate take inode_lock); other descriptors: as :func:`_fd_object`. (writev
    records only this: its length is in the guest's iovecs, so no page charge.)"""
    inode = _regular_inode(task, regs[1])
    return [(FILE_WRITE, inode)] if inode is not None else _fd_object(task, regs)


def _pages(size: int) -> int:
    """The page-cache pages a file of ``size`` bytes holds (its last one partly)."""
    return -(-size // PAGE_SIZE)


def _write_pages(task: Any, regs: tuple[int, ...], offset: int | None) -> list[tuple[str, object]]:
    """write/pwrite64 of a regular file: its inode lock, and a :data:`PAGE_CHARGE` for each
    page the write adds past the file's end (shmem_write_begin allocating it; a page in a
    hole of a sparse file is not counted: the file's size stands for its pages), and as
    many :data:`SHMEM_BLOCKS` records (:func:`_blocks`)."""
    from cofferos.coffers.syscalls.read_write import MAX_RW_COUNT  # (it imports this module)

    records = _file_write(task, regs)
    inode = _regular_inode(task, regs[1])
    if inode is None:
        return records
    file, size = _file_of(task, regs[1]), getattr(inode, "size", 0)
    if getattr(file, "flags", 0) & os.O_APPEND:  # (the offset is ignored: at the end)
        offset = size
    elif offset is None:
        offset = getattr(file, "pos", 0)
    count = min(regs[3], MAX_RW_COUNT)
    if count <= 0 or offset < 0:
        return records
    end = _pages(offset + count)  # (at most the pages the write touches: past a hole, no more)
    added = min(end - _pages(size), end - offset // PAGE_SIZE)
    return records + [(PAGE_CHARGE, task.coffer)] * max(added, 0) + _blocks(task, inode, added)


def _truncate(task: Any, regs: tuple[int, ...]) -> list[tuple[str, object]]:
    """ftruncate of a regular file: its inode lock, and a :data:`PAGE_UNCHARGE` for each
    whole page past the new end that it frees (shmem_undo_range), at most the pages the
    file holds (a sparse file's holes free nothing)."""
    records = _file_write(task, regs)
    inode = _regular_inode(task, regs[1])
    if inode is None:
        return records
    freed = min(_pages(getattr(inode, "size", 0)) - _pages(max(regs[2], 0)),
                _pages(inode.held_bytes()) if hasattr(inode, "held_bytes") else 0)
    return records + [(PAGE_UNCHARGE, task.coffer)] * max(freed, 0)


def _page_key(inode: object, page: int) -> int:
    """A page-cache page named by its file and index (the lock table keys ints as is)."""
    return hash((id(inode), page))


def _file_read(task: Any, regs: tuple[int, ...], offset: int | None) -> list[tuple[str, object]]:
    """A read of a regular file: the reference of each page it copies (find_get_page,
    put_page); other descriptors: as :func:`_fd_object`.

    Only pages that hold data: a hole reads as zeros from no page (shmem_file_read_iter
    zeroes the user's buffer). And only as far as the copy goes: at most MAX_RW_COUNT
    bytes (rw_verify_area), and up to the page whose copy faults in the user's buffer.
    A sparse file may be exabytes long: the fuzzer's reads of 2 GiB of holes into a bad
    buffer once named 524,288 pages each, and the timing machine kept a lock for each
    page named until the run ended (about 650 MiB of the host per read;
    tests/test_hardening_sparse.py)."""
    from cofferos.coffers.syscalls.read_write import MAX_RW_COUNT  # (it imports this module)

    inode = _regular_inode(task, regs[1])
    if inode is None:
        return _fd_object(task, regs)
    if offset is None:
        offset = getattr(_file_of(task, regs[1]), "pos", 0)
    size = min(regs[3], MAX_RW_COUNT, max(getattr(inode, "size", 0) - offset, 0))
    size = min(size, _user_reach(task, regs[2], size) + 1)  # (+1: the page whose copy faults)
    if size <= 0:
        return []
    return [(PAGE_REF, _page_key(inode, page)) for page in _data_pages(inode, offset, size)]


def _user_reach(task: Any, address: int, size: int) -> int:
    """Bytes of the user's buffer [address, +size) a copy can store to before it faults
    (all of them when the task has no engine to ask)."""
    memory_map = getattr(getattr(task, "cpu", None), "memory_map", None)
    return size if memory_map is None else memory_map.reachable(address, size, writing=True)


def _data_pages(inode: Any, offset: int, size: int) -> Iterator[int]:
    """The numbers of the pages of [offset, +size) of ``inode`` that hold data."""
    end = offset + size
    data_after = getattr(inode, "data_after", None)
    if data_after is None:  # (no holes to skip)
        yield from range(offset // PAGE_SIZE, (end - 1) // PAGE_SIZE + 1)
        return
    cursor = offset
    while cursor < end:
        run = data_after(cursor)
        if run is None or run[0] >= end or run[1] <= cursor:
            return
        start, stop = max(run[0], cursor), min(run[1], end)
        yield from range(start // PAGE_SIZE, (stop - 1) // PAGE_SIZE + 1)
        cursor = stop


def _dir_fd(task: Any, regs: tuple[int, ...]) -> list[tuple[str, object]]:
    """iterate_dir: the directory's i_rwsem, shared (exclusive before 4.7)."""
    inode = getattr(_file_of(task, regs[1]), "inode", None)
    return [(DIR_SHARED, inode)] if inode is not None else []


#: Per system call name: the records its arguments name (resolved before the call).
CALL_RESOLVERS: dict[str, Callable[[Any, tuple[int, ...]], list[tuple[str, object]]]] = {
    **{name: _global(TASKLIST_WRITE) for name in ("clone", "clone3", "fork", "vfork",
                                                  "exit", "exit_group")},
    **{name: _global(TASKLIST_READ) for name in ("wait4", "waitid")},
    **{name: _mm for name in ("mmap", "munmap", "brk", "mremap", "mprotect")},
    "futex": _futex,
    **{name: _global(MNT_WRITE) for name in ("mount", "umount2")},
    **{name: _dir_fd for name in ("getdents64", "getdents")},
    **{name: _global(FILE_LIST) for name in ("open", "openat", "creat", "openat2")},
    "close": _file_list_close,
    "read": lambda task, regs: _file_read(task, regs, None),
    "pread64": lambda task, regs: _file_read(task, regs, regs[4]),
    "write": lambda task, regs: _write_pages(task, regs, None),
    "pwrite64": lambda task, regs: _write_pages(task, regs, regs[4]),
    "writev": _file_write,
    "ftruncate": _truncate,
    **{name: _fd_object for name in ("readv", "sendto",
                                     "recvfrom", "sendmsg", "recvmsg", "connect", "accept",
                                     "accept4", "shutdown")},
}
