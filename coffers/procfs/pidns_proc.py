"""A proc of a nested PID namespace's own: ``mount -t proc`` inside it (fs/proc/root.c).

``unshare -r -p -f --mount-proc`` and rootless containers mount a proc for their PID
namespace (:mod:`cofferos.coffers.pid_ns`). Its root lists only the processes of that
namespace and those nested in it, named by their numbers there; a lookup by number
finds them, ``self`` and ``thread-self`` are the reader's numbers there (a reader
outside the namespace has none: ENOENT, as Linux). The system files and the
per-process directories are the coffer's /proc's (:class:`ProcFs`); stat, status and
task/ number their pids by :attr:`PidNsProcFs.ns` (:mod:`.status`, :mod:`.pid`), the
other files that hold pids (fdinfo's) show coffer pids.

Mounting it needs CAP_SYS_ADMIN in the user namespace that owns the caller's PID
namespace (proc's mount_capable: ``fc->user_ns`` is the PID namespace's owner).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.inode import Superblock
from cofferos.coffers.pid_ns import pid_nr_of
from cofferos.coffers.procfs import taskinfo
from cofferos.coffers.procfs.tree import ProcFs

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.pid_ns import PidNamespace
    from cofferos.coffers.task import Task

PROC = "proc"  #: the filesystem type
PROC_MOUNT_OPTIONS = ""  #: proc_show_options with the defaults (hidepid=0, gid=0)


class PidNsProcFs(ProcFs):
    """/proc as ``ns`` sees it (a new superblock of device ``dev``)."""

    def __init__(self, coffer: Coffer, ns: PidNamespace, dev: int) -> None:
        super().__init__(coffer)
        self.ns = ns
        self.sb = Superblock(dev=dev, now_ns=coffer.fs.sb.now_ns)
        self.root = self.directory(self._list_root, self._find_root)

    def _list_root(self) -> list[tuple[str, Inode]]:
        self._forget_gone()
        nr_of = self.ns.nr_of
        processes = sorted((nr_of[t.pid], t) for t in taskinfo.leaders(self.coffer)
                           if t.pid in nr_of)
        return [*self._static.items(),
                *((str(nr), self.task_dir(task)) for nr, task in processes)]

    def _find_root(self, name: str) -> Inode | None:
        if name in self._static:
            return self._static[name]
        if not name.isdigit() or name != str(int(name)):
            return None
        pid = self.ns.pid_of.get(int(name))
        task = None if pid is None else taskinfo.find_task(self.coffer, pid)
        return None if task is None else self.task_dir(task)

    def _number(self, task: Task, pid: int) -> int:
        ns = task.process.pid_ns
        if ns is self.ns:
            return pid_nr_of(task.process, pid)
        nr = self.ns.nr_of.get(pid, 0)
        if nr == 0:
            raise FsError(errno.ENOENT, "the reader is not in this proc's PID namespace")
        return nr

    def _self_target(self) -> str:
        task = self._caller()
        return str(self._number(task, task.tgid))

    def _thread_self_target(self) -> str:
        task = self._caller()
        return f"{self._number(task, task.tgid)}/task/{self._number(task, task.pid)}"


def new_proc_root(task: Task, dev: int) -> Inode:
    """The root of a new proc for the caller's PID namespace; EPERM in the coffer's
    own namespace (its /proc is mounted already and is the initial user
    namespace's) or without CAP_SYS_ADMIN over the namespace."""
    from cofferos.coffers.capability import CAP_SYS_ADMIN
    from cofferos.coffers.userns import ns_capable

    ns = task.process.pid_ns
    if ns is None or not ns_capable(task.creds, ns.user_ns, CAP_SYS_ADMIN):
        raise FsError(errno.EPERM, "proc: its PID namespace is not the caller's to mount")
    return PidNsProcFs(task.coffer, ns, dev).root
