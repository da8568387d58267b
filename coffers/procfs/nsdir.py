"""/proc/PID/ns: one magic link per namespace of the task (fs/proc/namespaces.c), and
/proc/PID/timens_offsets (fs/proc/base.c).

Each link reads ``NAME:[INODE]`` and leads to the namespace's nsfs inode
(:mod:`cofferos.coffers.nsfs`), in Linux's order. The directory is dr-x--x--x, the
links lrwxrwxrwx, both the task's. Linux lets only a process that may ptrace the
task (PTRACE_MODE_READ) read or follow them; in a coffer every process may, as
/proc/PID/fd's links (the model has no ptrace access check).

``timens_offsets`` shows the offsets of the time namespace the task's next children
go into and takes the writes that set them (:mod:`cofferos.coffers.timens`), checked
against the writer's credentials; rw-r--r--, owned as uid_map is.
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from cofferos.coffers.fs.synthetic import LINK_MODE
from cofferos.coffers.nsfs import KINDS
from cofferos.coffers.procfs.userns import LiveOwnerControl
from cofferos.coffers.timens import show_offsets, write_offsets

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


def timens_offsets(procfs: ProcFs, task: Task) -> Inode:
    """/proc/PID/timens_offsets of ``task``."""
    def show() -> bytes:
        return show_offsets(procfs.live(task).process).encode()

    def store(offset: int, data: bytes) -> int:
        return write_offsets(procfs.live(task).process, procfs.caller().creds,
                             procfs.coffer.monotonic_ns(), data)

    return LiveOwnerControl(procfs, task, show, store)
