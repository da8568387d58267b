"""The layout every coffer starts with: what a static Linux program expects to find.

:func:`populate` adds, where they are missing, /tmp and /dev/shm (sticky and
world-writable), the character devices of /dev, the symlinks /dev/fd,
/dev/stdin, /dev/stdout and /dev/stderr into /proc/self/fd (as udev makes
them; /proc itself is mounted by :mod:`cofferos.coffers.procfs`), the
simulator's own pseudo-devices under /dev/coffer (see :data:`COFFER_MAJOR`), a
/etc that names the usual system users and groups, the host and its name
service (as a Debian base image has them), and the home directories. It never
replaces anything an imported root filesystem provides (not even a symlink or a
file in place of a directory: then the entries below it are skipped) and never
follows symlinks, so calling it twice, or on any rootfs, is safe. An imported
character device where a default device belongs (the host's own /dev/null under
``--rootfs /``) becomes the coffer's device of that name and number.

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
"""Major number of /dev/tty (the controlling terminal, minor 0) and /dev/ptmx
(the pseudo-terminal multiplexer, minor 2: :mod:`cofferos.coffers.tty`)."""
COFFER_MAJOR = 240
"""Major number of the simulator's pseudo-devices under /dev/coffer. 240-254 are
the range devices.txt reserves "for local/experimental use", so no real driver
claims it; 240 is the first. Minor 0 is /dev/coffer/ops (:mod:`cofferos.coffers.opsdev`)."""
COFFER_OPS_MINOR = 0
"""Minor number of /dev/coffer/ops: each write marks one completed workload operation."""
MISC_MAJOR = 10
"""Major number of the misc devices; /dev/vsock is one (:mod:`cofferos.coffers.net.vsock`)."""
VSOCK_MINOR = 258
"""/dev/vsock's minor: a dynamic misc minor, the one this machine's kernel gave it."""
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
    ("dev/ptmx", TTYAUX_MAJOR, 2),
    ("dev/coffer/ops", COFFER_MAJOR, COFFER_OPS_MINOR),
    ("dev/vsock", MISC_MAJOR, VSOCK_MINOR),  # 0666 as systemd's udev rules make it
)
"""Character devices: path, major, minor."""

SYMLINKS: tuple[tuple[str, str], ...] = (
    ("dev/fd", "/proc/self/fd"),
    ("dev/stdin", "/proc/self/fd/0"),
    ("dev/stdout", "/proc/self/fd/1"),
    ("dev/stderr", "/proc/self/fd/2"),
)
"""Symlinks: path, target."""

#: The system users of Debian's base-passwd (its /usr/share/base-passwd/passwd.master),
#: which test suites look up by name (LTP's ``getpwnam("nobody")``, Python's test_pwd).
PASSWD = b"""\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
games:x:5:60:games:/usr/games:/usr/sbin/nologin
man:x:6:12:man:/var/cache/man:/usr/sbin/nologin
lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin
mail:x:8:8:mail:/var/mail:/usr/sbin/nologin
news:x:9:9:news:/var/spool/news:/usr/sbin/nologin
uucp:x:10:10:uucp:/var/spool/uucp:/usr/sbin/nologin
proxy:x:13:13:proxy:/bin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
backup:x:34:34:backup:/var/backups:/usr/sbin/nologin
list:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin
irc:x:39:39:ircd:/run/ircd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
#: The matching groups (base-passwd's group.master), with ``users`` and ``nogroup``.
GROUP = b"""\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
news:x:9:
uucp:x:10:
man:x:12:
proxy:x:13:
kmem:x:15:
dialout:x:20:
cdrom:x:24:
sudo:x:27:
audio:x:29:
www-data:x:33:
backup:x:34:
operator:x:37:
list:x:38:
irc:x:39:
src:x:40:
shadow:x:42:
utmp:x:43:
video:x:44:
plugdev:x:46:
staff:x:50:
games:x:60:
users:x:100:
nogroup:x:65534:
"""
#: The loopback names of /etc/hosts, as Docker writes them into a container.
LOOPBACK_HOSTS = b"""\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
"""
DEFAULT_HOSTNAME = "coffer"  #: CofferConfig.hostname's default
NO_NETWORK_ADDRESS = "127.0.1.1"
"""The address /etc/hosts gives the host name of a coffer without a network
(Debian's convention for a machine without a permanent address); with one, it is
the coffer's own address, as Docker gives the container's."""


def hosts_file(hostname: str, address: str | None) -> bytes:
    """/etc/hosts: the loopback names and the coffer's own host name."""
    return LOOPBACK_HOSTS + f"{address or NO_NETWORK_ADDRESS}\t{hostname}\n".encode()


HOSTS = hosts_file(DEFAULT_HOSTNAME, None)
#: Files first for every database: no daemon to ask (glibc's default order).
NSSWITCH = b"""\
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
ethers:         files
rpc:            files
"""

FILES: tuple[tuple[str, bytes], ...] = (
    ("etc/passwd", PASSWD),
    ("etc/group", GROUP),
    ("etc/hostname", f"{DEFAULT_HOSTNAME}\n".encode()),
    ("etc/hosts", HOSTS),
    ("etc/nsswitch.conf", NSSWITCH),
)
"""Regular files and their contents."""


def _slot(fs: FileSystem, path: str) -> tuple[Inode, str] | None:
    """The directory and name for ``path`` (relative to the root) if every directory
    above it is a real directory, else None."""
    *dirs, name = path.split("/")
    directory = fs.root
    for part in dirs:
        below = directory.child(part)
        if below is None or not below.is_dir():
            return None
        directory = below
    return directory, name


def _free_slot(fs: FileSystem, path: str) -> tuple[Inode, str] | None:
    """:func:`_slot` if nothing is at ``path`` yet, else None."""
    slot = _slot(fs, path)
    if slot is None or slot[0].child(slot[1]) is not None:
        return None
    return slot


def _adopt_device(fs: FileSystem, path: str, rdev: int) -> None:
    """An imported character device where a default device belongs (the host's
    /dev/null under ``--rootfs /``, an image's) becomes the coffer's own device of
    that name and number, as a container runtime gives its programs their own
    /dev/null. Imported nodes are otherwise opaque (never opened, their host
    numbers not shown), so no host device is ever reached."""
    slot = _slot(fs, path)
    node = slot[0].child(slot[1]) if slot is not None else None
    if node is not None and node.opaque and node.is_chr():
        node.opaque = False
        node.rdev = rdev


def populate(fs: FileSystem) -> None:
    """Add the default directories, devices and files that are missing."""
    for path, mode in DIRECTORIES:
        if slot := _free_slot(fs, path):
            fs.mkdir(*slot, mode)
    for path, major, minor in DEVICES:
        if slot := _free_slot(fs, path):
            fs.mknod(*slot, stat.S_IFCHR | DEVICE_MODE, os.makedev(major, minor))
        else:
            _adopt_device(fs, path, os.makedev(major, minor))
    for path, target in SYMLINKS:
        if slot := _free_slot(fs, path):
            fs.symlink(*slot, target)
    for path, contents in FILES:
        if slot := _free_slot(fs, path):
            fs.mknod(*slot, stat.S_IFREG | PUBLIC_FILE_MODE).write(0, contents)


def write_names(fs: FileSystem, hostname: str, address: str | None) -> None:
    """/etc/hostname and /etc/hosts for the coffer's host name, written over the ones
    its root brought (a ``--rootfs`` tree's or an image's), as Docker writes them over
    an image's: without this, ``--rootfs /`` showed the host's name in /etc/hostname
    while uname(2) said the coffer's, and gethostbyname(gethostname()) failed. The
    writes go to the coffer's own copy; an /etc that is no directory is left alone,
    and so is a name that is a directory."""
    for path, contents in (("etc/hostname", f"{hostname}\n".encode()),
                           ("etc/hosts", hosts_file(hostname, address))):
        slot = _slot(fs, path)
        if slot is None:
            continue
        directory, name = slot
        existing = directory.child(name)
        if existing is not None:
            if existing.is_dir():
                continue
            fs.unlink(directory, name)
        fs.mknod(directory, name, stat.S_IFREG | PUBLIC_FILE_MODE).write(0, contents)
