"""/proc/PID/fd: one magic link per open descriptor of the task.

readlink gives what Linux's d_path gives: the file's absolute path in the
coffer, ``pipe:[N]`` or ``socket:[N]`` (N the inode number fstat reports) for
pipes and sockets, ``anon_inode:NAME`` for anything else without an inode.
Opening or walking through the link reaches the open file's own inode, not
whatever its path names now (a deleted file can still be reopened), as Linux's
nd_jump_link does.

A descriptor with no inode (the host streams behind fds 0-2, a pipe) is
reopened through :class:`ReopenedStream`, a regular-file stand-in whose reads
and writes go to the open file itself: so ``cat /dev/stdin`` and
``echo >/dev/stderr`` work. The proper model is the open file description
reopening itself; until the system call layer has that hook (dentry_open
asking the inode for its file operations), fstat on such a reopened
descriptor reports a regular file of size 0.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.fs.inode import Superblock
from cofferos.coffers.fs.namei import MAXSYMLINKS, SPECIAL_NAMES
from cofferos.coffers.procfs import taskinfo

if TYPE_CHECKING:
    from cofferos.coffers.files import OpenFile
    from cofferos.coffers.procfs.tree import ProcFs
    from cofferos.coffers.task import Task

FD_DIR_MODE = stat.S_IFDIR | 0o500
"""dr-x------: only the owner may list a task's descriptors."""
STREAM_MODE = stat.S_IFREG | 0o600
FD_POSITION_BASE = 2
"""Positions 0 and 1 are "." and ".."; descriptor N is at N + 2 (fs/proc/fd.c)."""


class ReopenedStream(Inode):
    """A reopened descriptor that has no inode; see the module docstring."""

    def __init__(self, sb: Superblock, file: OpenFile) -> None:
        super().__init__(sb, sb.alloc_ino(), STREAM_MODE)
        self._file = file

    @property
    def size(self) -> int:
        return 0

    def read(self, offset: int, n: int) -> bytes:
        return self._file.read(n)

    def write(self, offset: int, data: bytes) -> int:
        return self._file.write(data)

    def truncate(self, size: int) -> None:
        """O_TRUNC on a stream does nothing."""


def link_mode(file: OpenFile) -> int:
    """The link's permissions say how the file is open: r-x for reading, -wx for writing."""
    access = file.flags & os.O_ACCMODE
    mode = stat.S_IFLNK
    if access in (os.O_RDONLY, os.O_RDWR) and not file.flags & os.O_PATH:
        mode |= stat.S_IRUSR | stat.S_IXUSR
    if access in (os.O_WRONLY, os.O_RDWR):
        mode |= stat.S_IWUSR | stat.S_IXUSR
    return mode


def canonical(fs: FileSystem, path: str) -> str:
    """The absolute path of the file ``path`` names, with every symlink resolved
    (what d_path gives for the file); ``path`` itself if it names nothing."""
    for _ in range(MAXSYMLINKS):
        try:
            parent, name = fs.lookup_parent(path, fs.root)
            directory = fs.path_of(parent)
            inode = parent.child(name) if name not in SPECIAL_NAMES else None
        except FsError:
            return path
        if inode is None or not inode.is_symlink():
            return posixpath.join(directory, name) if name not in SPECIAL_NAMES else path
        target = inode.readlink()
        path = target if target.startswith("/") else posixpath.join(directory, target)
    return path


def _absolute(procfs: ProcFs, task: Task, path: str) -> str:
    """``path`` made absolute against the task's cwd (an approximation for files
    opened by a relative path: the cwd may have changed since), symlinks resolved."""
    if not path.startswith("/"):
        try:
            path = posixpath.join(procfs.coffer.fs.path_of(task.fs.cwd), path)
        except FsError:
            path = "/" + path
    return canonical(procfs.coffer.fs, "/" + posixpath.normpath(path).lstrip("/"))


def describe(procfs: ProcFs, task: Task, file: OpenFile) -> str:
    """The target text of a descriptor's link."""
    inode = file.inode
    if inode is None:
        try:
            st = file.stat()
        except FsError:
            return f"anon_inode:{file.path}"
        if stat.S_ISFIFO(st.st_mode):
            return f"pipe:[{st.st_ino}]"
        if stat.S_ISSOCK(st.st_mode):
            return f"socket:[{st.st_ino}]"
        return f"anon_inode:{file.path}"
    if inode.is_dir():
        try:
            return procfs.coffer.fs.path_of(inode)
        except FsError:
            return _absolute(procfs, task, file.path) + " (deleted)"
    path = _absolute(procfs, task, file.path)
    return path + " (deleted)" if inode.nlink == 0 else path


def _file_at(procfs: ProcFs, task: Task, fd: int) -> OpenFile:
    file = taskinfo.fds(procfs.live(task)).get(fd)
    if file is None:
        raise FsError(errno.ENOENT, f"descriptor {fd} is closed")
    return file


def fd_position(name: str) -> int:
    """getdents64's position of descriptor ``name``: fd + 2, after "." and ".."
    (proc_readfd_common), so a program that closes descriptors while it lists them
    (CPython's subprocess with close_fds) skips none."""
    return int(name) + FD_POSITION_BASE


def fd_dir(procfs: ProcFs, task: Task, owner: tuple[int, int]) -> Inode:
    """/proc/PID/fd for ``task``."""
    cache: dict[int, tuple[OpenFile, Inode]] = {}

    def link_for(fd: int, file: OpenFile) -> Inode:
        hit = cache.get(fd)
        if hit is not None and hit[0] is file:
            return hit[1]
        stand_in: list[tuple[OpenFile, Inode]] = []

        def target() -> str:
            return describe(procfs, task, _file_at(procfs, task, fd))

        def jump() -> Inode:
            current = _file_at(procfs, task, fd)
            if current.inode is not None:
                return current.inode
            if not stand_in or stand_in[0][0] is not current:
                stand_in[:] = [(current, ReopenedStream(procfs.sb, current))]
            return stand_in[0][1]

        inode = procfs.link(target, jump, link_mode(file), owner)
        cache[fd] = (file, inode)
        return inode

    def lister() -> list[tuple[str, Inode]]:
        files = taskinfo.fds(procfs.live(task))
        for fd in [fd for fd in cache if fd not in files]:
            del cache[fd]
        return [(str(fd), link_for(fd, file)) for fd, file in files.items()]

    def find(name: str) -> Inode | None:
        if not name.isdigit() or name != str(int(name)):
            return None
        file = taskinfo.fds(procfs.live(task)).get(int(name))
        return None if file is None else link_for(int(name), file)

    return procfs.directory(lister, find, owner, FD_DIR_MODE, position=fd_position)
