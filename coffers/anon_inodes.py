"""Files with no name in any filesystem (fs/anon_inodes.c): eventfd, timerfd, epoll.

Linux backs these descriptors with one shared anonymous inode; /proc shows them
as ``anon_inode:[eventfd]`` and the like. They cannot be read at an offset
(pread is ESPIPE), lseek succeeds and changes nothing (``noop_llseek``), and
fstat reports a mode with no file type, read and write for the owner.

Neighbours: :mod:`cofferos.coffers.eventfd`, :mod:`cofferos.coffers.timerfd` and
:mod:`cofferos.coffers.eventpoll` subclass :class:`AnonInodeFile`;
:mod:`cofferos.coffers.poll` waits on them.
"""

from __future__ import annotations

import os

from cofferos.coffers.files import OpenFile
from cofferos.coffers.fs import StatResult

#: The anonymous inode's mode: no S_IFMT type bits, S_IRUSR | S_IWUSR.
ANON_INODE_MODE = 0o600
ANON_INODE_INO = 1  #: every anonymous file shares one inode
ANON_INODE_BLKSIZE = 4096  #: PAGE_SIZE
#: The caller's flags an anonymous file keeps beside O_RDWR (anon_inode_getfile).
ANON_FILE_FLAGS = os.O_NONBLOCK


class AnonInodeFile(OpenFile):
    """An open file on the shared anonymous inode, named ``anon_inode:[<name>]``."""

    seekable = False

    def __init__(self, name: str, flags: int) -> None:
        super().__init__(os.O_RDWR | (flags & ANON_FILE_FLAGS), f"anon_inode:[{name}]")

    @property
    def nonblocking(self) -> bool:
        return bool(self.flags & os.O_NONBLOCK)

    def seek(self, offset: int, whence: int) -> int:
        return self.pos  # noop_llseek

    def stat(self) -> StatResult:
        return StatResult(st_dev=0, st_ino=ANON_INODE_INO, st_mode=ANON_INODE_MODE, st_nlink=1,
                          st_uid=0, st_gid=0, st_rdev=0, st_size=0,
                          st_blksize=ANON_INODE_BLKSIZE, st_blocks=0, st_atime_ns=0,
                          st_mtime_ns=0, st_ctime_ns=0)
