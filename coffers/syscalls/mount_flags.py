"""mount(2)'s flags and how /proc shows a mount (fs/namespace.c, fs/proc_namespace.c).

The MS_* values of include/uapi/linux/mount.h, the groups path_mount sorts them
into (the mount's own flags, the filesystem's, propagation), and the option strings
/proc/PID/mounts (show_vfsmnt) and /proc/PID/mountinfo (show_mountinfo) print for a
mount: rw or ro first, then the filesystem's flags, the mount's, and tmpfs's own
options. mount(2) itself is :mod:`cofferos.coffers.syscalls.namespace`'s; the
tables that print these strings are :mod:`cofferos.coffers.procfs.mounts`'.
"""

from __future__ import annotations

import errno
import posixpath

from cofferos.coffers.fs import FileSystem, FsError
from cofferos.coffers.fs import tmpfs as tmpfs_options
from cofferos.coffers.fs.mnt_ns import MountNamespace
from cofferos.coffers.fs.vfs import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, Mount

# include/uapi/linux/mount.h
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MS_MGC_VAL = 0xC0ED0000  #: the old magic in the top 16 bits, stripped (path_mount)
MS_MGC_MSK = 0xFFFF0000
PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE
ATIME_FLAGS = MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME
#: The mount's own flags (MNT_*: path_mount separates them from the filesystem's).
MNT_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | ATIME_FLAGS
#: The filesystem's flags that a tmpfs keeps and shows (SB_*).
SB_FLAGS = MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME
#: Flags mount(2) accepts, new mount or remount (see the module docstring).
ACCEPTED = MNT_FLAGS | SB_FLAGS | MS_SILENT | MS_REMOUNT | MS_BIND | MS_REC


def mount_options(mnt: Mount) -> str:
    """/proc/mounts' options, in show_vfsmnt's order: rw or ro (the mount's or the
    filesystem's), the filesystem's flags, the mount's flags (relatime unless noatime
    or strictatime), then tmpfs's own options."""
    ro = mnt.root.sb.read_only or (mnt.flags | mnt.sb_flags) & MS_RDONLY
    return ",".join(["ro" if ro else "rw", *_sb_shown(mnt.sb_flags),
                     *_mnt_shown(mnt.flags)[1:]]) + _fs_shown(mnt)


def _sb_shown(flags: int) -> list[str]:
    """show_sb_opts: the filesystem flags (after rw or ro)."""
    return [name for name, flag in (("sync", MS_SYNCHRONOUS), ("dirsync", MS_DIRSYNC),
                                    ("lazytime", MS_LAZYTIME)) if flags & flag]


def _mnt_shown(flags: int) -> list[str]:
    """show_mnt_opts with the mount's own rw or ro first (mountinfo's per-mount field)."""
    relatime = not flags & (MS_NOATIME | MS_STRICTATIME)
    shown = (("nosuid", flags & MS_NOSUID), ("nodev", flags & MS_NODEV),
             ("noexec", flags & MS_NOEXEC), ("noatime", flags & MS_NOATIME),
             ("nodiratime", flags & MS_NODIRATIME), ("relatime", relatime))
    return ["ro" if flags & MS_RDONLY else "rw", *(name for name, on in shown if on)]


def _fs_shown(mnt: Mount) -> str:
    return tmpfs_options.show(mnt.tmpfs) if mnt.tmpfs is not None else mnt.fs_options


def mountinfo_options(mnt: Mount) -> tuple[str, str]:
    """/proc/self/mountinfo's two option fields: the mount's, and the filesystem's
    (rw or ro of the superblock, its flags, tmpfs's options)."""
    sb_ro = mnt.sb_flags & MS_RDONLY
    return (",".join(_mnt_shown(mnt.flags)),
            ",".join(["ro" if sb_ro else "rw", *_sb_shown(mnt.sb_flags)]) + _fs_shown(mnt))


def mount_point(fs: FileSystem, mnt: Mount, ns: MountNamespace) -> str:
    """Where ``mnt`` is mounted, as ``ns`` names it; ENOENT once unreachable."""
    if mnt.covered.nlink == 0:
        raise FsError(errno.ENOENT, "removed")
    return posixpath.join(fs.path_of(mnt.parent, ns), mnt.name)


def mounted(fs: FileSystem, ns: MountNamespace) -> list[tuple[Mount, str]]:
    """The mount table of ``ns`` for /proc/mounts, oldest first, with each mount point;
    a mount whose mount point is no longer reachable is left out."""
    table = []
    for mnt in ns.mounts:
        try:
            table.append((mnt, mount_point(fs, mnt, ns)))
        except FsError:
            continue
    return table
