"""/proc/PID/uid_map, gid_map and setgroups (kernel/user_namespace.c's proc files).

Each shows the user namespace of the process it describes
(:mod:`cofferos.coffers.userns`) as the reader's namespace sees it, and takes the
one write that sets its map (or "deny"), checked against the writer's
credentials: the task making the write call (Linux checks the opener's, which
is the same task for the tools that write them). Their owner is computed at each
access, as Linux's pid_revalidate does, where the other /proc/PID files keep the
one they were made with.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from cofferos.coffers.fs import Inode
from cofferos.coffers.fs.synthetic import Show, Store, SyntheticControl
from cofferos.coffers.procfs import taskinfo
from cofferos.coffers.userns import (
    GID_MAP,
    UID_MAP,
    map_write,
    setgroups_show,
    setgroups_write,
    show_map,
)

if TYPE_CHECKING:
    from cofferos.coffers.procfs.tree import ProcFs
    from cofferos.coffers.task import Task
    from cofferos.coffers.userns import UserNamespace

MAP_FILE_MODE = stat.S_IFREG | 0o644  #: rw-r--r--, as proc_uid_map_operations' entries
SUID_DUMP_USER = 1  #: a dumpable process (include/linux/sched/coredump.h)
ROOT_OWNER = (0, 0)


class LiveOwnerControl(SyntheticControl):
    """A control file owned as task_dump_owner says at each access: the task's
    effective ids while it is dumpable, root's after a change of ids (its owner is
    what decides who may write a map, and a process often changes ids first)."""

    def __init__(self, procfs: ProcFs, task: Task, show: Show, store: Store) -> None:
        self._procfs, self._task = procfs, task
        super().__init__(procfs.sb, show, store, MAP_FILE_MODE)

    def _owner(self) -> tuple[int, int]:
        task = self._task
        dumpable = getattr(taskinfo.process_of(task), "dumpable", SUID_DUMP_USER)
        if dumpable != SUID_DUMP_USER:
            return ROOT_OWNER
        creds = task.creds
        return creds.euid, creds.egid

    @property  # type: ignore[override]
    def uid(self) -> int:
        return self._owner()[0]

    @uid.setter
    def uid(self, value: int) -> None:  # Inode.__init__'s; the owner is computed
        pass

    @property  # type: ignore[override]
    def gid(self) -> int:
        return self._owner()[1]

    @gid.setter
    def gid(self, value: int) -> None:
        pass


def userns_files(procfs: ProcFs, task: Task) -> list[tuple[str, Inode]]:
    def ns() -> UserNamespace | None:
        return procfs.live(task).creds.userns

    def control(produce: Callable[[], str], store: Store) -> Inode:
        return LiveOwnerControl(procfs, task, lambda: os.fsencode(produce()), store)

    def id_map(which: str) -> Inode:
        return control(lambda: show_map(ns(), which, procfs.caller().creds.userns),
                       lambda offset, data: map_write(ns(), which, offset, data,
                                                      procfs.caller().creds))

    return [("uid_map", id_map(UID_MAP)), ("gid_map", id_map(GID_MAP)),
            ("setgroups", control(lambda: setgroups_show(ns()),
                                  lambda offset, data: setgroups_write(ns(), offset, data)))]
