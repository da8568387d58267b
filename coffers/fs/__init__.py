"""The in-memory filesystem of a coffer: one tree of inodes per simulated container.

    vfs.py         FileSystem: lookup, open, mkdir, rename... with Linux's errno
    namei.py       path walking, pinned to the coffer's root; symlinks, ELOOP
    inode.py       Inode, StatResult, Superblock: files, directories, symlinks
    hostimport.py  lazy copy-on-write import of a host rootfs (never written)
    image.py       container images (docker export/save, OCI) read from their archive
    imagetree.py   an image's layers merged (whiteouts), seen as a coffer's inodes
    synthetic.py   files, directories and links computed by callables (for /proc)
    defaults.py    /tmp, /dev, /etc every coffer starts with
    errors.py      FsError: a Linux errno for the system call layer

Nothing inside a coffer reaches the host's files except by reading the imported
rootfs, no write reaches the host, and no path resolves outside the coffer root.

>>> fs = FileSystem()
>>> fs.populate_defaults()
>>> fs.lookup("/tmp/../etc/hostname", fs.root).read(0, 100)
b'coffer\\n'
"""

from .errors import FsError
from .inode import Inode, StatResult
from .vfs import FileSystem

__all__ = ["FileSystem", "FsError", "Inode", "StatResult"]
