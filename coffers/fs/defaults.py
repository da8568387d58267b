"""The layout every coffer starts with: what a static Linux program expects to find.

:func:`populate` adds, where they are missing, /tmp and /dev/shm (sticky and
world-writable), the character devices of /dev, the symlinks /dev/fd,
/dev/stdin, /dev/stdout and /dev/stderr into /proc/self/fd (as udev makes
them; /proc itself is mounted by :mod:`cofferos.coffers.procfs`), the
simulator's own pseudo-devices under /dev/coffer (see :data:`COFFER_MAJOR`), a
minimal /etc naming root and the host name, and the home directories. It never
replaces anything an imported root filesystem provides (not even a symlink or a
file in place of a directory: then the entries below it are skipped) and never
follows symlinks, so calling it twice, or on any rootfs, is safe.

The device nodes carry Linux's numbers (Documentation/admin-guide/devices.txt);
what they do when opened is the device layer's business, above this package.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from .inode import Inode

if TYPE_CHECKING:
    from .vfs import FileSystem

MEM_MAJOR = 1
"""Major number of the memory devices: null, zero, full, random, urandom."""
TTYAUX_MAJOR = 5
"""Major number of /dev/tty, the controlling terminal."""
COFFER_MAJOR = 240
"""Major number of the simulator's pseudo-devices under /dev/coffer. 240-254 are
the range devices.txt reserves "for local/experimental use", so no real driver
claims it; 240 is the first. Minor 0 is /dev/coffer/ops (:mod:`cofferos.coffers.opsdev`)."""
COFFER_OPS_MINOR = 0
"""Minor number of /dev/coffer/ops: each write marks one completed workload operation."""
DEVICE_MODE = 0o666
PUBLIC_FILE_MODE = 0o644

DIRECTORIES: tuple[tuple[str, int], ...] = (
    ("tmp", 0o1777),
    ("dev", 0o755),
    ("dev/shm", 0o1777),
    ("dev/coffer", 0o755),
    ("etc", 0o755),
    ("root", 0o700),
    ("home", 0o755),
)
"""Directories in creation order (parents first), with their permissions."""

DEVICES: tuple[tuple[str, int, int], ...] = (
    ("dev/null", MEM_MAJOR, 3),
    ("dev/zero", MEM_MAJOR, 5),
    ("dev/full", MEM_MAJOR, 7),
    ("dev/random", MEM_MAJOR, 8),
    ("dev/urandom", MEM_MAJOR, 9),
    ("dev/tty", TTYAUX_MAJOR, 0),
    ("dev/coffer/ops", COFFER_MAJOR, COFFER_OPS_MINOR),
)
"""Character devices: path, major, minor."""

SYMLINKS: tuple[tuple[str, str], ...] = (
    ("dev/fd", "/proc/self/fd"),
    ("dev/stdin", "/proc/self/fd/0"),
    ("dev/stdout", "/proc/self/fd/1"),
    ("dev/stderr", "/proc/self/fd/2"),
)
"""Symlinks: path, target."""

FILES: tuple[tuple[str, bytes], ...] = (
    ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
    ("etc/group", b"root:x:0:\n"),
    ("etc/hostname", b"coffer\n"),
)
"""Regular files and their contents."""


def _free_slot(fs: FileSystem, path: str) -> tuple[Inode, str] | None:
    """The directory and name for ``path`` (relative to the root) if nothing is
    there yet and every directory above it is a real directory, else None."""
    *dirs, name = path.split("/")
    directory = fs.root
    for part in dirs:
        below = directory.child(part)
        if below is None or not below.is_dir():
            return None
        directory = below
    if directory.child(name) is not None:
        return None
    return directory, name


def populate(fs: FileSystem) -> None:
    """Add the default directories, devices and files that are missing."""
    for path, mode in DIRECTORIES:
        if slot := _free_slot(fs, path):
            fs.mkdir(*slot, mode)
    for path, major, minor in DEVICES:
        if slot := _free_slot(fs, path):
            fs.mknod(*slot, stat.S_IFCHR | DEVICE_MODE, os.makedev(major, minor))
    for path, target in SYMLINKS:
        if slot := _free_slot(fs, path):
            fs.symlink(*slot, target)
    for path, contents in FILES:
        if slot := _free_slot(fs, path):
            fs.mknod(*slot, stat.S_IFREG | PUBLIC_FILE_MODE).write(0, contents)
