"""/proc/PID/ns: one magic link per namespace of the task (fs/proc/namespaces.c).

Each link reads ``NAME:[INODE]`` and leads to the namespace's nsfs inode
(:mod:`cofferos.coffers.nsfs`), in Linux's order. The directory is dr-x--x--x, the
links lrwxrwxrwx, both the task's. Linux lets only a process that may ptrace the
task (PTRACE_MODE_READ) read or follow them; in a coffer every process may, as
/proc/PID/fd's links (the model has no ptrace access check).
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from cofferos.coffers.fs.synthetic import LINK_MODE
from cofferos.coffers.nsfs import KINDS

if TYPE_CHECKING:
    from cofferos.coffers.fs import Inode
    from cofferos.coffers.procfs.tree import ProcFs
    from cofferos.coffers.task import Task

NS_DIR_MODE = stat.S_IFDIR | 0o511  #: dr-x--x--x


def ns_dir(procfs: ProcFs, task: Task, owner: tuple[int, int]) -> Inode:
    """/proc/PID/ns of ``task``."""
    table = procfs.coffer.nsfs

    def link(name: str) -> Inode:
        return procfs.link(lambda: table.link_text(procfs.live(task), name),
                           lambda: table.of(procfs.live(task), name), LINK_MODE, owner)

    entries = [(kind.name, link(kind.name)) for kind in KINDS]
    return procfs.directory(lambda: entries, owner=owner, mode=NS_DIR_MODE)
