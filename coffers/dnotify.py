"""Directory notification: fcntl(F_NOTIFY) (Linux's fs/notify/dnotify/dnotify.c).

A process asks, through a descriptor of a directory, to hear of changes to the
names in it and to the files they name: DN_ACCESS (a file read), DN_MODIFY (written
or truncated), DN_CREATE (a name made: creat, mkdir, mknod, symlink, link),
DN_DELETE (unlink, rmdir), DN_RENAME (a name moved in or out) and DN_ATTRIB
(chmod, chown, utimes). When one happens, the directory file's owner (set to the
caller's process by F_NOTIFY unless F_SETOWN named one) gets SIGIO, or F_SETSIG's
signal with ``si_code`` POLL_MSG and ``si_fd`` the descriptor (send_sigio). A
request without DN_MULTISHOT is used up by its first event; one with only
DN_MULTISHOT, or 0, cancels the descriptor's requests. Requests on one open file
from one descriptor table add up (attach_dn).

Simplifications: a request ends when its descriptor no longer names the open file
it was made through (Linux's dnotify_flush runs at close; here the check is made
when an event comes); readv/writev and mapped writes raise no event; a file's
events go to every watched directory that holds a name for it (Linux: the parent of
the name it was reached by).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.fown import F_OWNER_PID, POLL_MSG, FileOwner, send_sigio
from cofferos.coffers.fs.notify import DN_MULTISHOT

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.fdtable import FdTable
    from cofferos.coffers.files import OpenFile
    from cofferos.coffers.fs.inode import Inode
    from cofferos.coffers.task import Task



@dataclass
class DnRequest:
    """One dnotify_struct: who asked, through which descriptor, for what."""

    files: FdTable
    fd: int
    file: OpenFile
    mask: int


class Dnotify:
    """A coffer's directory watches, by directory inode (dnotify marks)."""

    def __init__(self, coffer: Coffer) -> None:
        self.coffer = coffer
        self.marks: dict[Inode, list[DnRequest]] = {}

    def fcntl(self, task: Task, file: OpenFile, fd: int, arg: int) -> int:
        """fcntl(fd, F_NOTIFY, arg) (fcntl_dirnotify)."""
        arg &= 0xFFFF_FFFF
        if not arg & ~DN_MULTISHOT:
            self._flush(file, task.files)
            return 0
        inode = file.inode
        if inode is None or not inode.is_dir():
            return -errno.ENOTDIR
        owner = file.owner or FileOwner()
        if not owner.pid:  # __f_setown(..., force=0): the caller's process, unless set
            file.owner = FileOwner(F_OWNER_PID, task.tgid, owner.signum)
        requests = self.marks.setdefault(inode, [])
        for request in requests:
            if request.files is task.files and request.file is file:
                request.fd = fd
                request.mask |= arg
                return 0
        requests.append(DnRequest(task.files, fd, file, arg))
        self.coffer.fs.dir_event = self.directory_event
        return 0

    def _flush(self, file: OpenFile, files: FdTable) -> None:
        for inode, requests in list(self.marks.items()):
            requests[:] = [r for r in requests if not (r.file is file and r.files is files)]
            if not requests:
                del self.marks[inode]

    def directory_event(self, directory: Inode, event: int) -> None:
        """``event`` (a DN_ bit) on a name in ``directory``: signal who asked."""
        requests = self.marks.get(directory)
        if not requests:
            return
        kept = []
        for request in requests:
            entry = request.files.fds.get(request.fd)
            if entry is None or entry.file is not request.file:
                continue  # the descriptor was closed (dnotify_flush)
            if not request.mask & event:
                kept.append(request)
                continue
            if request.file.owner is not None:
                send_sigio(self.coffer, request.file.owner, request.fd, POLL_MSG)
            if request.mask & DN_MULTISHOT:
                kept.append(request)
        if kept:
            self.marks[directory] = kept
        else:
            del self.marks[directory]

    def child_event(self, inode: Inode | None, event: int) -> None:
        """``event`` on a file: to each watched directory holding a name for it."""
        if inode is None or not self.marks:
            return
        for directory in list(self.marks):
            if any(child is inode for _, child in directory.entries()):
                self.directory_event(directory, event)


def fsnotify(task: Task, inode: Inode | None, event: int) -> None:
    """Tell the coffer's watched directories of ``event`` on ``inode`` (cheap if none)."""
    dnotify = task.coffer.dnotify
    if dnotify.marks:
        dnotify.child_event(inode, event)
