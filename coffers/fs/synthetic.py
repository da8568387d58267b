"""Synthetic inodes: files, directories and symlinks computed from kernel state.

Linux's /proc holds no data of its own: every read is generated from the live
kernel objects. These three :class:`~cofferos.coffers.fs.inode.Inode`
subclasses give a coffer the same, with no other change to the filesystem than
two hooks every inode has (``open_instance`` and ``jump_link``):

* :class:`SyntheticFile` - a read-only regular file whose bytes a callable
  produces. Opening it takes a *snapshot* (:class:`Snapshot`) that the open
  file description then reads and seeks in, as Linux's seq_file does, so a
  reader that reads in small pieces sees one consistent text. Like a /proc
  file it reports ``st_size`` 0, writes fail with EIO and O_TRUNC does nothing.
* :class:`SyntheticDir` - a directory whose entries a callable lists every time
  it is looked into (readdir, lookup), optionally with a second callable that
  finds names the listing leaves out (/proc/TID of a thread). No entry can be
  added or removed (EPERM). The callables should hand back the same inode for
  the same thing each time, so that inode numbers and a cwd stay stable.
* :class:`SyntheticLink` - a symlink whose target a callable produces at
  readlink time (/proc/self), and which may be a *magic link*: given a ``jump``
  callable, following it leads straight to an inode, not to the path its target
  text spells (/proc/PID/fd/N, /proc/PID/cwd).

The callables may raise :class:`FsError` (ENOENT once the task they describe is
gone). Ownership of a synthetic filesystem's inodes is the mounting code's:
give them a :class:`~cofferos.coffers.fs.inode.Superblock` of their own and
attach the root with :meth:`FileSystem.mount <cofferos.coffers.fs.vfs.FileSystem.mount>`.

>>> from cofferos.coffers.fs import FileSystem
>>> fs = FileSystem()
>>> sb = Superblock(dev=2, now_ns=fs.sb.now_ns)
>>> answer = SyntheticFile(sb, lambda: b"42\\n")
>>> fs.mount("/answers", SyntheticDir(sb, lambda: [("life", answer)]))
>>> fs.lookup("/answers/life", fs.root).read(0, 10)
b'42\\n'
>>> fs.open("/answers/life", fs.root, 0, 0).read(0, 10)
b'42\\n'
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Callable, Iterable

from .errors import FsError
from .inode import EMPTY_DIR_NLINK, Inode, Superblock

READ_ONLY_FILE_MODE = stat.S_IFREG | 0o444
"""A /proc file anyone may read: r--r--r--."""
LISTABLE_DIR_MODE = stat.S_IFDIR | 0o555
"""A /proc directory: r-xr-xr-x."""
LINK_MODE = stat.S_IFLNK | 0o777
"""A symlink: rwxrwxrwx."""

Show = Callable[[], bytes]
"""Produces the whole contents of a synthetic file."""
Lister = Callable[[], Iterable[tuple[str, Inode]]]
"""Lists a synthetic directory's entries, in order."""
Finder = Callable[[str], Inode | None]
"""Finds one entry of a synthetic directory by name, or None."""


class _ReadOnlyRegular(Inode):
    """What a /proc regular file does on stat, write and truncate."""

    has_xattrs = False  #: procfs has no xattr handlers: EOPNOTSUPP
    page_cached = False  #: read fresh each time: a private mapping copies it at mmap

    @property
    def size(self) -> int:
        return 0  # as procfs reports: the length is only known by reading

    def write(self, offset: int, data: bytes) -> int:
        raise FsError(errno.EIO, "synthetic file")

    def truncate(self, size: int) -> None:
        """O_TRUNC on a synthetic file is accepted and does nothing."""


class SyntheticFile(_ReadOnlyRegular):
    """A regular file whose contents ``show`` produces; see the module docstring."""

    def __init__(self, sb: Superblock, show: Show, mode: int = READ_ONLY_FILE_MODE,
                 *, uid: int = 0, gid: int = 0) -> None:
        super().__init__(sb, sb.alloc_ino(), mode, uid=uid, gid=gid)
        self._show = show

    def read(self, offset: int, n: int) -> bytes:
        """Read from freshly produced contents (an open file reads its snapshot)."""
        if offset < 0 or n < 0:
            raise FsError(errno.EINVAL, "negative offset or count")
        return self._show()[offset : offset + n]

    def open_instance(self) -> Inode:
        return Snapshot(self, self._show())


class Snapshot(_ReadOnlyRegular):
    """The contents of a :class:`SyntheticFile` as they were when it was opened.

    It has the file's inode number, mode, owner and times, so fstat on the open
    file says the same as stat on its path."""

    def __init__(self, origin: SyntheticFile, contents: bytes) -> None:
        super().__init__(origin.sb, origin.ino, origin.mode, uid=origin.uid, gid=origin.gid)
        self.atime_ns, self.mtime_ns, self.ctime_ns = (
            origin.atime_ns, origin.mtime_ns, origin.ctime_ns)
        self._data = bytearray(contents)


Store = Callable[[int, bytes], int]
"""Takes one write to a control file (offset, bytes) and returns its count."""


class SyntheticControl(SyntheticFile):
    """A /proc file that is also written to (/proc/PID/uid_map, setgroups): every
    write goes to ``store``, which checks it and answers for it."""

    def __init__(self, sb: Superblock, show: Show, store: Store, mode: int, *,
                 uid: int = 0, gid: int = 0) -> None:
        super().__init__(sb, show, mode, uid=uid, gid=gid)
        self.store = store

    def write(self, offset: int, data: bytes) -> int:
        return self.store(offset, data)

    def open_instance(self) -> Inode:
        return ControlSnapshot(self, self._show())


class ControlSnapshot(Snapshot):
    """An open :class:`SyntheticControl`: reads its snapshot, writes go to the store."""

    def __init__(self, origin: SyntheticControl, contents: bytes) -> None:
        super().__init__(origin, contents)
        self._origin = origin

    def write(self, offset: int, data: bytes) -> int:
        written = self._origin.store(offset, data)
        # a read after it shows the new state, as seq_file generates it afresh
        self._data = bytearray(self._origin._show())
        return written


class SyntheticDir(Inode):
    """A directory whose entries ``lister`` produces; see the module docstring."""

    has_xattrs = False

    def __init__(self, sb: Superblock, lister: Lister, find: Finder | None = None,
                 mode: int = LISTABLE_DIR_MODE, *, uid: int = 0, gid: int = 0,
                 position: Callable[[str], int] | None = None) -> None:
        super().__init__(sb, sb.alloc_ino(), mode, uid=uid, gid=gid)
        self._generate = lister
        self._find = find
        #: The getdents64 position of a listed name, where the directory numbers its
        #: entries itself (Linux's /proc/PID/fd: fd + 2); None: by index.
        self.position = position

    def _adopt(self, child: Inode) -> Inode:
        if child.is_dir():
            child.parent = self
        return child

    def _listed(self) -> dict[str, Inode]:
        return {name: self._adopt(child) for name, child in self._generate()}

    def child(self, name: str) -> Inode | None:
        if self._find is None:
            return super().child(name)
        found = self._find(name)
        return None if found is None else self._adopt(found)

    @property
    def nlink(self) -> int:
        subdirs = sum(1 for _, child in self._generate() if child.is_dir())
        return EMPTY_DIR_NLINK + subdirs

    @nlink.setter
    def nlink(self, value: int) -> None:
        """Computed from the listing: a synthetic directory's link count is never set."""

    def add_entry(self, name: str, inode: Inode) -> None:
        raise FsError(errno.EPERM, "synthetic directory")

    def remove_entry(self, name: str) -> Inode:
        raise FsError(errno.EPERM, "synthetic directory")


class SyntheticLink(Inode):
    """A symlink whose target ``target`` produces; with ``jump``, a magic link."""

    has_xattrs = False

    def __init__(self, sb: Superblock, target: Callable[[], str],
                 jump: Callable[[], Inode | None] | None = None, mode: int = LINK_MODE,
                 *, uid: int = 0, gid: int = 0) -> None:
        super().__init__(sb, sb.alloc_ino(), mode, uid=uid, gid=gid)
        self._target_of = target
        self._jump = jump

    @property
    def size(self) -> int:
        return 0  # as procfs reports for its links

    def readlink(self) -> str:
        return self._target_of()

    def jump_link(self) -> Inode | None:
        return None if self._jump is None else self._jump()
