"""/proc/PID/mounts and /proc/PID/mountinfo: the process's mount namespace's table
(fs/proc_namespace.c).

Four kinds of mount make a table: the coffer's root filesystem (``rootfs``, the
first mount of every Linux namespace), its /proc, its devpts on /dev/pts
(:mod:`cofferos.coffers.tty.devpts`), all three in every namespace, and the
namespace's tmpfs and bind mounts of mount(2)
(:mod:`cofferos.coffers.syscalls.namespace`), oldest first, their options as
:mod:`cofferos.coffers.syscalls.mount_flags` shows them. ``mounts`` prints
``device mount-point type options 0 0`` (show_vfsmnt); ``mountinfo`` the mount and
parent ids, the device number, the root within the filesystem, the mount point,
the mount's own options, no optional fields (every mount is private: there is no
peer to propagate to), ``-``, the type, the device and the filesystem's options
(show_mountinfo). Names with space, tab, newline or backslash are escaped in octal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cofferos.coffers.syscalls.mount_flags import mounted, mountinfo_options
from cofferos.coffers.syscalls.namespace import DEVPTS_MOUNT_ID, PROC_MOUNT_ID, ROOT_MOUNT_ID
from cofferos.coffers.syscalls.nsproxy import mnt_ns_of
from cofferos.coffers.tty.devpts import DEVPTS_DEV, DEVPTS_MOUNT_POINT

if TYPE_CHECKING:
    from cofferos.coffers.procfs.tree import ProcFs
    from cofferos.coffers.task import Task

ROOT_FS_TYPE = "rootfs"
"""The coffer's root: an in-memory filesystem, Linux's name for the initial one."""
PROC_FS_TYPE = "proc"
ROOT_OPTIONS = "rw"
PROC_OPTIONS = "rw,nosuid,nodev,noexec,relatime"
PROC_POINT = "/proc"
DEVPTS_FS_TYPE = "devpts"
DEVPTS_OPTIONS = "rw,nosuid,noexec,relatime"
#: devpts's own options: its defaults (mode of a new slave, of /dev/pts/ptmx).
DEVPTS_SUPER_OPTIONS = "mode=600,ptmxmode=000"
MANGLED = {ord(c): f"\\{ord(c):03o}" for c in " \t\n\\"}
"""Space, tab, newline and backslash: /proc/mounts writes them as octal escapes
(show_vfsmnt's mangle)."""


def _device(dev: int) -> str:
    return f"{os.major(dev)}:{os.minor(dev)}"


def mounts(procfs: ProcFs, task: Task | None = None) -> str:
    """``task``'s mount namespace's table (None: the coffer's first namespace)."""
    fs = procfs.coffer.fs
    ns = fs.init_ns if task is None else mnt_ns_of(task)
    table = [(ROOT_FS_TYPE, "/", ROOT_FS_TYPE, ROOT_OPTIONS),
             (PROC_FS_TYPE, PROC_POINT, PROC_FS_TYPE, PROC_OPTIONS),
             (DEVPTS_FS_TYPE, DEVPTS_MOUNT_POINT, DEVPTS_FS_TYPE,
              f"{DEVPTS_OPTIONS},{DEVPTS_SUPER_OPTIONS}")]
    table += [(mnt.source.translate(MANGLED), point.translate(MANGLED), mnt.fstype,
               mnt.options) for mnt, point in mounted(fs, ns)]
    return "".join(f"{dev} {point} {kind} {options} 0 0\n" for dev, point, kind, options in table)


def mountinfo(procfs: ProcFs, task: Task) -> str:
    fs = procfs.coffer.fs
    ns = mnt_ns_of(task)
    lines = [f"{ROOT_MOUNT_ID} {ROOT_MOUNT_ID} {_device(fs.sb.dev)} / / {ROOT_OPTIONS} - "
             f"{ROOT_FS_TYPE} {ROOT_FS_TYPE} {ROOT_OPTIONS}",
             f"{PROC_MOUNT_ID} {ROOT_MOUNT_ID} {_device(procfs.sb.dev)} / {PROC_POINT} "
             f"{PROC_OPTIONS} - {PROC_FS_TYPE} {PROC_FS_TYPE} rw",
             f"{DEVPTS_MOUNT_ID} {ROOT_MOUNT_ID} {_device(DEVPTS_DEV)} / {DEVPTS_MOUNT_POINT} "
             f"{DEVPTS_OPTIONS} - {DEVPTS_FS_TYPE} {DEVPTS_FS_TYPE} rw,{DEVPTS_SUPER_OPTIONS}"]
    for mnt, point in mounted(fs, ns):
        under = ns.roots.get(id(mnt.covered)) or fs.mount_of(mnt.covered)
        parent = ROOT_MOUNT_ID if under is None else under.mnt_id
        own, super_options = mountinfo_options(mnt)
        lines.append(f"{mnt.mnt_id} {parent} {_device(mnt.root.sb.dev)} "
                     f"{mnt.fs_root.translate(MANGLED)} {point.translate(MANGLED)} {own} - "
                     f"{mnt.fstype} {mnt.source.translate(MANGLED)} {super_options}")
    return "".join(line + "\n" for line in lines)
