"""Import a host directory as a coffer's root filesystem: lazy, copy-on-write, read-only.

The host tree is the lower layer of an overlay whose upper layer is memory:

* a directory is listed on the host only when the guest first looks into it;
* a regular file's bytes are read from the host only on its first read, write or
  truncate (until then its size is the host's ``lstat`` size), then kept in memory;
* every write, create, unlink and rename changes only the in-memory inodes: this
  module opens host files read-only and has no code path that writes.

Nothing on the host can lead the import outside ``host_root``:

* host paths are rebuilt from names that ``os.listdir`` returned (never "..",
  never containing "/"), opened one component at a time relative to a directory
  fd with ``O_NOFOLLOW``, so a directory swapped for a symlink fails instead of
  being followed;
* host symlinks are imported as symlinks: their target *string* (``os.readlink``)
  is resolved later inside the coffer by :mod:`cofferos.coffers.fs.namei`, so a
  link to "/etc" or "../../.." lands on the coffer's root, never the host's;
* host FIFOs, sockets and device nodes are never opened: they become *opaque*
  inodes that stat fine and fail with EACCES when opened or read;
* a file is checked to be regular with ``lstat`` before it is opened (with
  ``O_NONBLOCK | O_NOCTTY`` in case it changed since) and with ``fstat`` after.

Owner, mode and times come from the host's ``lstat``; inode numbers do not: they
are allocated by the coffer's superblock, so host inode numbers never leak in.
Host hard links (same device and inode) become one coffer inode with several
names. Host errors reach the guest only as EACCES or EIO.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from cofferos.errors import ProgramError
from cofferos.isa.progfile import open_host_program

from .errors import FsError
from .inode import MAX_IMPORT_SIZE, Inode, Superblock

HostPath = tuple[str, ...]
"""A path below ``host_root``, one name per level, exactly as listed on the host."""

OPEN_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
"""Opening ``host_root`` itself, which the operator chose: it may be a symlink."""
OPEN_DIR_FLAGS = OPEN_ROOT_FLAGS | os.O_NOFOLLOW
"""Opening a directory below the root: never through a symlink."""
OPEN_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
"""Opening a regular file for its contents: read-only, no symlink, never blocks."""
READ_CHUNK = 1 << 20
"""Bytes per ``os.read`` when loading a file."""


def host_error(exc: OSError) -> FsError:
    """What the guest sees of a host failure: EACCES for permission, else EIO."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FsError(errno.EACCES, "host file not readable")
    return FsError(errno.EIO, "host file changed or unreadable")


@dataclass
class HostFile:
    """The lazy contents of one imported regular file (a ContentSource)."""

    tree: HostTree
    path: HostPath
    size: int

    def load(self) -> bytes:
        return self.tree.read_file(self.path)


class HostTree:
    """One imported host directory, seen through a coffer's superblock."""

    def __init__(self, host_root: str, sb: Superblock) -> None:
        self.root_path = os.path.abspath(host_root)
        self.sb = sb
        #: Largest host file read in whole (EFBIG beyond): the smaller of the two limits.
        self._max_size = min(sb.max_file_size, MAX_IMPORT_SIZE)
        self._hardlinks: dict[tuple[int, int], Inode] = {}

    def import_root(self) -> Inode:
        """The coffer's root inode for ``host_root``; FileNotFoundError or
        NotADirectoryError (plain Python) if the host directory is bad."""
        fd = os.open(self.root_path, OPEN_ROOT_FLAGS)
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        root = self._make_dir(st, ())
        root.parent = root
        return root

    # -- host access, always below root_path, never through a symlink ---------------

    @contextmanager
    def _open_dir(self, path: HostPath) -> Iterator[int]:
        fd = os.open(self.root_path, OPEN_ROOT_FLAGS)
        try:
            for name in path:
                below = os.open(name, OPEN_DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = below
            yield fd
        finally:
            os.close(fd)

    def list_dir(self, path: HostPath) -> list[tuple[str, Inode]]:
        """The entries of the host directory ``path`` as new coffer inodes, by name."""
        listing: list[tuple[str, Inode]] = []
        try:
            with self._open_dir(path) as fd:
                for name in sorted(os.listdir(fd)):
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                        listing.append((name, self._make_inode(st, fd, path + (name,))))
                    except FileNotFoundError:
                        continue  # removed on the host while we listed
        except OSError as exc:
            raise host_error(exc) from None
        return listing

    def read_file(self, path: HostPath) -> bytes:
        """The contents of the regular host file ``path``, read once."""
        *dirs, name = path
        try:
            with self._open_dir(tuple(dirs)) as dir_fd:
                if not stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                    raise FsError(errno.EIO, "host file is no longer a regular file")
                fd = os.open(name, OPEN_FILE_FLAGS, dir_fd=dir_fd)
                try:
                    st = os.fstat(fd)
                    if not stat.S_ISREG(st.st_mode):
                        raise FsError(errno.EIO, "host file is no longer a regular file")
                    if st.st_size > self._max_size:  # refused before a byte is read
                        raise FsError(errno.EFBIG, "host file larger than the coffer allows")
                    return self._read_all(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise host_error(exc) from None

    def _read_all(self, fd: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, READ_CHUNK):
            total += len(chunk)
            if total > self._max_size:
                raise FsError(errno.EFBIG, "host file larger than the coffer allows")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- host lstat -> coffer inode ---------------------------------------------

    def _make_inode(self, st: os.stat_result, dir_fd: int, path: HostPath) -> Inode:
        if stat.S_ISDIR(st.st_mode):
            return self._make_dir(st, path)
        if stat.S_ISREG(st.st_mode):
            return self._make_file(st, path)
        if stat.S_ISLNK(st.st_mode):
            inode = self._new(st)
            inode.set_target(os.readlink(path[-1], dir_fd=dir_fd))
            return inode
        inode = self._new(st)  # FIFO, socket or device: never opened
        inode.opaque = True
        return inode

    def _make_dir(self, st: os.stat_result, path: HostPath) -> Inode:
        inode = self._new(st)
        inode.attach_directory_source(partial(self.list_dir, path))
        return inode

    def _make_file(self, st: os.stat_result, path: HostPath) -> Inode:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self._hardlinks:
            return self._hardlinks[key]
        inode = self._new(st)
        inode.nlink = st.st_nlink
        inode.attach_content_source(HostFile(self, path, st.st_size))
        inode.host_key = key  # its pages in the kernel's page cache
        if st.st_nlink > 1:
            self._hardlinks[key] = inode
        return inode

    def _new(self, st: os.stat_result) -> Inode:
        inode = self.sb.new_inode(st.st_mode, uid=st.st_uid, gid=st.st_gid)
        if inode.is_dir():
            inode.nlink = st.st_nlink  # until listed; then counted from the children
        inode.atime_ns = st.st_atime_ns
        inode.mtime_ns = st.st_mtime_ns
        inode.ctime_ns = st.st_ctime_ns
        return inode


@dataclass
class HostProgramSource:
    """The bytes of a program started from the host (``coffersim run PATH``), read only if
    the guest reads its ``/proc/self/exe``: spawning never copies a whole program."""

    path: str
    size: int
    max_size: int

    def load(self) -> bytes:
        try:
            with open_host_program(self.path, self.max_size) as program:
                return program.read(0, min(program.size, self.size))
        except ProgramError:
            raise FsError(errno.EIO, "the host program is gone or no longer readable") from None
