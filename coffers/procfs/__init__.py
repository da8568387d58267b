"""/proc for one coffer, generated on every read from that coffer's own state.

Like Linux's procfs it stores nothing: each file's text is produced when it is
opened (a snapshot, as seq_file takes), each directory is listed when it is
read, from the :class:`~cofferos.coffers.coffer.Coffer` it belongs to and from
nothing else, so a coffer's /proc shows its own tasks, memory, clock and
configuration, never another coffer's and never the host's.

    tree.py      ProcFs: the superblock, the root listing, self and thread-self
    pid.py       /proc/PID and /proc/PID/task/TID: cmdline, environ, maps, exe, cwd ...
    status.py    /proc/PID/status, stat and statm
    fdlinks.py   /proc/PID/fd: magic links to the task's open files
    system.py    meminfo, uptime, loadavg, stat, version, filesystems, coffer/personalities
    mounts.py    /proc/PID/mounts and mountinfo: the coffer's mount table
    sysctl.py    /proc/sys: each sysctl from the constant that enforces it
    kconfig.py   /proc/config.gz: what the simulated kernel implements
    cpuinfo.py   /proc/cpuinfo, decoded from the simulated CPUID
    taskinfo.py  the task and process state procfs reads, with Linux's defaults

The mechanism underneath is :mod:`cofferos.coffers.fs.synthetic`; the tree is
attached with :meth:`FileSystem.mount <cofferos.coffers.fs.vfs.FileSystem.mount>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofferos.coffers.procfs.tree import ProcFs

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer

PROC_MOUNT_POINT = "/proc"


def mount_procfs(coffer: Coffer) -> ProcFs:
    """Mount a new /proc for ``coffer`` on its filesystem (over any /proc a rootfs has)."""
    procfs = ProcFs(coffer)
    coffer.fs.mount(PROC_MOUNT_POINT, procfs.root)
    return procfs


__all__ = ["PROC_MOUNT_POINT", "ProcFs", "mount_procfs"]
