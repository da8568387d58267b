"""Inodes: the objects a coffer's filesystem is made of.

An :class:`Inode` is one file of any type (directory, regular file, symlink,
character device, FIFO, socket) with its ``st_mode``, owner, link count and
timestamps. Directories hold their children by name in creation order; regular
files hold their bytes in memory; symlinks hold their target string.

Every inode belongs to a :class:`Superblock`: the per-filesystem record of the
device number, the clock and the next free inode number. There is no state at
module level, so two coffers' filesystems share nothing mutable.

Contents may arrive late. The host importer (:mod:`cofferos.coffers.fs.hostimport`)
attaches a *content source* to a regular file and a *directory source* to a
directory; the inode calls them once, on first use, and from then on keeps
everything in memory. Nothing in this module touches the host. What a regular
file does with its bytes (read, write, holes, the disk quota) is its base class,
:class:`~cofferos.coffers.fs.regular.RegularFile`.

Synthetic filesystems such as /proc (:mod:`cofferos.coffers.fs.synthetic`)
subclass :class:`Inode` and override two hooks that every other inode answers
trivially: :meth:`Inode.open_instance` (what an open file description reads:
itself, or a snapshot) and :meth:`Inode.jump_link` (a "magic" symlink that
leads straight to an inode instead of to a path).

Above this module, :mod:`cofferos.coffers.fs.namei` walks paths through
directories and :mod:`cofferos.coffers.fs.vfs` changes the tree. Access control
(the caller's uid against ``mode``) is the system call layer's job: it knows the
credentials. Reads do not update ``atime``, as on a filesystem mounted
``noatime``, so that runs stay deterministic and cheap.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from stat import S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG
from typing import TYPE_CHECKING

from .errors import FsError
from .regular import ContentSource, RegularFile

if TYPE_CHECKING:  # what the layer above hangs off an inode, as Linux's i_flctx and i_pipe
    from cofferos.coffers.file_locks import FileLockContext
    from cofferos.coffers.mm import MemoryAccount
    from cofferos.coffers.pipe import Pipe
    from cofferos.coffers.shmem import ShmemObject

BLKSIZE = 4096
"""st_blksize: the preferred I/O size, one page."""
SECTOR_SIZE = 512
"""The unit of st_blocks."""
DIR_SIZE = BLKSIZE
"""st_size of a directory, as ext4 reports one with a single block."""
FIRST_INO = 1
"""The root's inode number; later inodes count up from it."""
DEFAULT_MAX_FILE_SIZE = (1 << 63) - 1
"""Largest regular file a write or truncate may make (bytes): tmpfs's s_maxbytes,
MAX_LFS_FILESIZE (include/linux/fs.h). A file's data is page-granular (:mod:`.filedata`),
so a guest's ``lseek`` to 1 TiB followed by a one-byte write holds one page."""
MAX_IMPORT_SIZE = 1 << 30
"""Largest file copied in whole from the host or an image (bytes): its contents are
read into the host's memory at once, so a bigger one is refused (EFBIG)."""
EMPTY_DIR_NLINK = 2
"""Links of an empty directory: its entry in the parent and its own "."."""
PERMISSION_BITS = 0o7777
"""setuid, setgid, sticky and rwx for user, group and other."""
FILE_TYPE_BITS = 0o170000
"""The file type bits of a mode (S_IFMT): the type tests below compare them in place,
where ``stat.S_ISDIR`` and the like cost a call each, several a system call (issue #17)."""


DirectorySource = Callable[[], Iterable[tuple[str, "Inode"]]]
"""Called once, on first look into a directory: its entries in a stable order."""


@dataclass
class Superblock:
    """What every inode of one filesystem shares: device, clock, limits, inode numbers."""

    dev: int
    """st_dev of every inode."""
    now_ns: Callable[[], int]
    """The coffer's clock (simulated time, nanoseconds since the epoch)."""
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    """Largest regular file, in bytes; beyond it writes fail with EFBIG."""
    next_ino: int = FIRST_INO
    """The inode number the next new inode receives."""
    space: MemoryAccount | None = None
    """The disk space regular files draw on (the coffer's quota, and a host disk pool
    behind it); None: unlimited. Growth past it is ENOSPC. A file gives its bytes back
    at its last unlink (not at the last close). A file with no name that grows (an
    open file unlinked, an O_TMPFILE, a memfd) is charged its whole size again, until
    the inode goes with its last user: its bytes, holes included, are host memory
    (a memfd written at offset 10^9 held 1 GB of the host: ``coffersim fuzz``)."""
    read_only: bool = False
    """Writes are refused with EROFS: the filesystem (SB_RDONLY) or its one mount
    (MNT_READONLY) is read-only, see :mod:`cofferos.coffers.syscalls.namespace`."""
    tmpfs: bool = False
    """A tmpfs of mount(2): new inodes in its directories are its own."""

    def alloc_ino(self) -> int:
        """Take the next inode number (for inodes of a subclass, see :mod:`.synthetic`)."""
        ino = self.next_ino
        self.next_ino += 1
        return ino

    def new_inode(self, mode: int, *, uid: int = 0, gid: int = 0, rdev: int = 0) -> Inode:
        """A fresh inode of this filesystem with the next inode number."""
        return Inode(self, self.alloc_ino(), mode, uid=uid, gid=gid, rdev=rdev)


@dataclass(slots=True)
class StatResult:
    """The answer of stat(2), field for field as ``struct stat`` on x86-64 Linux.

    Not frozen, though nothing changes one: a frozen dataclass sets each field through
    ``object.__setattr__``, 2.3 us a stat against 0.6 here (timeit, issue #17)."""

    st_dev: int
    st_ino: int
    st_mode: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_rdev: int
    st_size: int
    st_blksize: int
    st_blocks: int
    st_atime_ns: int
    st_mtime_ns: int
    st_ctime_ns: int


class Inode(RegularFile):
    """One file of a coffer's filesystem; see the module docstring."""

    has_xattrs = True
    """Whether the filesystem keeps extended attributes (tmpfs's simple_xattrs)."""
    page_cached = True
    """Whether mmap maps the file's pages (its shared memory object,
    :mod:`cofferos.coffers.shmem`); a synthetic file's are produced at each read."""
    tree_changes = 0
    """Counts the directories taken out of a directory (rmdir, rename, a mount over
    one), in every filesystem: a path walk's cache (:class:`.namei.PrefixCache`) is
    good until it moves."""

    def __init__(
        self,
        sb: Superblock,
        ino: int,
        mode: int,
        *,
        uid: int = 0,
        gid: int = 0,
        rdev: int = 0,
    ) -> None:
        now = sb.now_ns()
        self.sb = sb
        self.ino = ino
        self.mode = mode
        self.uid = uid
        self.gid = gid
        kind = mode & FILE_TYPE_BITS
        self.rdev = rdev if kind == S_IFCHR or kind == S_IFBLK else 0
        self.atime_ns = now
        self.mtime_ns = now
        self.ctime_ns = now
        self.parent: Inode | None = None
        """For a directory, the directory that holds it (the root's is itself)."""
        self.immutable = False
        """FS_IMMUTABLE_FL (``chattr +i``): opening it for writing fails with EPERM, even
        for root (a host program shown inside the coffer is immutable)."""
        self.opaque = False
        """An imported host FIFO, socket or device: it can be listed and stat'ed,
        never opened, read or written (EACCES)."""
        self._nlink = EMPTY_DIR_NLINK if kind == S_IFDIR else 1
        self._removed = False
        self._data: bytearray | None = bytearray() if kind == S_IFREG else None
        self._source: ContentSource | None = None
        self._charged = 0  #: bytes of sb.space held (an imported file: 0 until copied up)
        #: A regular file's size when it ends in a hole (ftruncate up): the bytes past
        #: ``_data`` read as zeros and take no memory or space until written.
        self._sparse_size = 0
        self._children: dict[str, Inode] = {}
        self._lister: DirectorySource | None = None
        self._target = ""
        self.linkable = False
        """An O_TMPFILE file (made without O_EXCL) that linkat may still name (I_LINKABLE)."""
        self.flctx: FileLockContext | None = None
        """The flock and POSIX locks held on this file (Linux's i_flctx), made on first lock."""
        self.xattrs: dict[str, bytes] | None = None
        """Extended attributes by full name, made on first set (:mod:`.xattr`)."""
        self.pipe: Pipe | None = None
        """For a FIFO, its pipe (Linux's i_pipe), made on first open and kept while it lives."""
        self.shmem: ShmemObject | None = None
        """For a regular file mapped MAP_SHARED, the shared memory object that holds its
        bytes from then on (:mod:`cofferos.coffers.shmem`), as a shmem inode's i_mapping."""
        self.host_key: object | None = None
        """For a file imported from the host and not yet written: the host file's
        (st_dev, st_ino), or an image file's content source, which keys its pages in
        the kernel's page cache (never shown to the guest). Cleared by a write or
        truncate (the copy-up of an overlay)."""

    def __repr__(self) -> str:
        return f"<Inode {self.ino} mode={self.mode:o} nlink={self.nlink}>"

    # -- type -------------------------------------------------------------------

    def is_dir(self) -> bool:
        return self.mode & FILE_TYPE_BITS == S_IFDIR

    def is_reg(self) -> bool:
        return self.mode & FILE_TYPE_BITS == S_IFREG

    def is_symlink(self) -> bool:
        return self.mode & FILE_TYPE_BITS == S_IFLNK

    def is_chr(self) -> bool:
        return self.mode & FILE_TYPE_BITS == S_IFCHR

    def is_fifo(self) -> bool:
        return self.mode & FILE_TYPE_BITS == S_IFIFO

    # -- hooks for synthetic inodes (see :mod:`.synthetic`) -------------------------

    def open_instance(self) -> Inode:
        """The inode an open file description of this one reads and writes: itself.

        A synthetic file returns a private snapshot of its contents instead, taken
        now, as Linux's seq_file does at open."""
        return self

    def jump_link(self) -> Inode | None:
        """For a magic link (/proc/PID/fd/N, /proc/PID/cwd), the inode following it
        leads to without reading its target as a path (Linux's nd_jump_link); None
        for an ordinary symlink, whose target text is walked."""
        return None

    # -- link count and timestamps ------------------------------------------------

    @property
    def nlink(self) -> int:
        """Hard links; for a directory, 2 plus its subdirectories once it is listed."""
        if self._removed:
            return 0
        if self.mode & FILE_TYPE_BITS == S_IFDIR and self._lister is None:
            subdirs = sum(1 for child in self._children.values() if child.is_dir())
            return EMPTY_DIR_NLINK + subdirs
        return self._nlink

    def unlinked(self) -> bool:
        """``nlink == 0`` without counting a listed directory's subdirectories (which
        leave at least its :data:`EMPTY_DIR_NLINK`): each file a directory gains asks
        it (issue #17: @metadata's creates counted 16 entries each)."""
        if self._removed:
            return True
        if self.mode & FILE_TYPE_BITS == S_IFDIR and self._lister is None:
            return False
        return self._nlink == 0

    @nlink.setter
    def nlink(self, value: int) -> None:
        self._nlink = value

    def drop_link(self) -> None:
        """One name of this inode went away (unlink, rmdir, or replaced by rename)."""
        if self.mode & FILE_TYPE_BITS == S_IFDIR:
            self._removed = True
        else:
            self._nlink -= 1
            if self._nlink == 0 and self._charged:
                self._settle(0)  # the last name: its blocks are freed
        self.touch_change()

    def __del__(self) -> None:
        """The last user of a file with no name went: what it was charged since its
        last name went (or since it was made, a memfd) is given back
        (shmem_evict_inode). A named file gives its bytes back at its last unlink."""
        held = getattr(self, "_charged", 0)  # 0 too if __init__ did not finish
        if held and self._nlink == 0 and self.sb.space is not None:
            self.sb.space.charge(-held)

    def touch_change(self) -> None:
        """Metadata changed: update ctime."""
        self.ctime_ns = self.sb.now_ns()

    def touch_modify(self) -> None:
        """Contents changed: update mtime and ctime."""
        self.mtime_ns = self.ctime_ns = self.sb.now_ns()

    # -- size (a regular file's data: .regular.RegularFile) ----------------------

    @property
    def size(self) -> int:
        """st_size: bytes of a file, length of a symlink's target, one block for a directory."""
        if self.is_reg():
            if self._data is None:
                assert self._source is not None
                return self._source.size
            return max(len(self._data), self._sparse_size)
        if self.is_symlink():
            return len(os.fsencode(self._target))
        if self.is_dir():
            return DIR_SIZE
        return 0

    # -- symlinks ----------------------------------------------------------------

    def set_target(self, target: str) -> None:
        """Set a symlink's target (only when it is made)."""
        self._target = target

    def readlink(self) -> str:
        """The symlink's target, as stored; EINVAL for anything else."""
        if not self.is_symlink():
            raise FsError(errno.EINVAL, "not a symlink")
        return self._target

    # -- directories -------------------------------------------------------------

    def attach_directory_source(self, lister: DirectorySource) -> None:
        """Let this directory's entries be listed by ``lister`` on first look inside."""
        self._lister = lister

    def _listed(self) -> dict[str, Inode]:
        if not self.is_dir():
            raise FsError(errno.ENOTDIR)
        if self._lister is not None:
            listing = list(self._lister())  # may fail: then try again next time
            for name, child in listing:
                if child.is_dir():
                    child.parent = self
                self._children[name] = child
            self._lister = None
        return self._children

    def entries(self) -> list[tuple[str, Inode]]:
        """The children in stable creation order, without "." and ".."."""
        return list(self._listed().items())

    def child(self, name: str) -> Inode | None:
        """The child called ``name``, or None; ENOTDIR if this is not a directory."""
        return self._listed().get(name)

    def add_entry(self, name: str, inode: Inode) -> None:
        """Put ``inode`` into this directory as ``name`` (the caller checked it is free)."""
        self._listed()[name] = inode
        if inode.is_dir():
            inode.parent = self
        self.touch_modify()

    def remove_entry(self, name: str) -> Inode:
        """Take ``name`` out of this directory; the caller drops the inode's link."""
        inode = self._listed().pop(name)
        if stat.S_ISDIR(inode.mode):
            Inode.tree_changes += 1  # (paths through it lead elsewhere now)
        self.touch_modify()
        return inode

    # -- stat --------------------------------------------------------------------

    def stat(self) -> StatResult:
        """The inode's attributes as stat(2) reports them."""
        kind = self.mode & FILE_TYPE_BITS
        data = self._data
        if kind == S_IFREG and type(data) is bytearray and type(self) is Inode:
            # (size and held_bytes written out for a file's plain bytes: all of them held)
            size = max(len(data), self._sparse_size)
            allocated = -(-len(data) // BLKSIZE) * BLKSIZE
        elif kind == S_IFREG:
            size = self.size
            held = self.held_bytes() if self._data is not None else size  # holes hold none
            allocated = -(-held // BLKSIZE) * BLKSIZE
        else:
            size = self.size
            allocated = -(-size // BLKSIZE) * BLKSIZE if kind == S_IFDIR else 0
        # (by position, in the field order: st_dev, st_ino, st_mode, st_nlink, st_uid,
        # st_gid, st_rdev, st_size, st_blksize, st_blocks, then the three times)
        return StatResult(self.sb.dev, self.ino, self.mode, self.nlink, self.uid, self.gid,
                          self.rdev, size, BLKSIZE, allocated // SECTOR_SIZE,
                          self.atime_ns, self.mtime_ns, self.ctime_ns)
