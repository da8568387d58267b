"""The /proc tree of one coffer: its superblock, its root directory, its caches.

:class:`ProcFs` owns a :class:`~cofferos.coffers.fs.inode.Superblock` of its
own (so /proc has its own st_dev and inode numbers, and nothing is renamed or
linked into it) and the root directory, a
:class:`~cofferos.coffers.fs.synthetic.SyntheticDir` listing the system files
of :mod:`.system` followed by one directory per process of *this coffer*
(:mod:`.pid`). A thread's directory is not listed but can be looked up by its
tid, as in Linux. ``self`` and ``thread-self`` are symlinks whose target
depends on who asks: the coffer's current task (:func:`.taskinfo.current`).

Per-task directories are cached by pid and rebuilt when the pid names another
task, so a task keeps its inode numbers while it lives and a cwd inside
/proc/PID stays valid.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.inode import Superblock
from cofferos.coffers.fs.synthetic import (
    LINK_MODE,
    LISTABLE_DIR_MODE,
    READ_ONLY_FILE_MODE,
    Finder,
    Lister,
    Show,
    SyntheticDir,
    SyntheticFile,
    SyntheticLink,
)
from cofferos.coffers.procfs import taskinfo

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Task

PROC_DEV = os.makedev(0, 4)
"""st_dev of /proc: an anonymous device (major 0), like Linux's; the root is 0:1."""
SELF = "self"
THREAD_SELF = "thread-self"


#: Cached /proc/PID directories kept before the first sweep for reaped tasks.
MIN_PRUNE_AT = 64

class ProcFs:
    """/proc for ``coffer``; see the module docstring."""

    def __init__(self, coffer: Coffer) -> None:
        from cofferos.coffers.procfs import system  # the entries refer back to this object

        self.coffer = coffer
        self.sb = Superblock(dev=PROC_DEV, now_ns=coffer.fs.sb.now_ns)
        self.root = self.directory(self._list_root, self._find_root)
        self._task_dirs: dict[tuple[int, bool], tuple[Task, Inode]] = {}
        self._prune_at = MIN_PRUNE_AT  #: cache size at which reaped tasks' entries go
        self._static: dict[str, Inode] = dict(sorted(
            [*system.entries(self),
             (SELF, self.link(self._self_target)),
             (THREAD_SELF, self.link(self._thread_self_target))]))

    # -- making inodes -------------------------------------------------------------
    def file(self, show: Show, mode: int = READ_ONLY_FILE_MODE,
             owner: tuple[int, int] = (0, 0)) -> Inode:
        """A read-only file whose text ``show`` produces at each open."""
        return SyntheticFile(self.sb, show, mode, uid=owner[0], gid=owner[1])

    def caller(self) -> Task:
        """The task making the system call that reached /proc."""
        return self._caller()

    def text(self, produce: Callable[[], str], owner: tuple[int, int] = (0, 0)) -> Inode:
        """A read-only file of text (encoded as the guest's bytes)."""
        return self.file(lambda: os.fsencode(produce()), owner=owner)

    def directory(self, lister: Lister, find: Finder | None = None,
                  owner: tuple[int, int] = (0, 0), mode: int = LISTABLE_DIR_MODE,
                  position: Callable[[str], int] | None = None) -> Inode:
        """A directory whose entries ``lister`` produces (``find``, ``position``: see
        SyntheticDir)."""
        return SyntheticDir(self.sb, lister, find, mode, uid=owner[0], gid=owner[1],
                            position=position)

    def fixed_directory(self, entries: Iterable[tuple[str, Inode]]) -> Inode:
        """A directory whose entries never change (/proc/sys/kernel)."""
        listing = list(entries)
        return self.directory(lambda: listing)

    def link(self, target: Callable[[], str], jump: Callable[[], Inode | None] | None = None,
             mode: int = LINK_MODE, owner: tuple[int, int] = (0, 0)) -> Inode:
        return SyntheticLink(self.sb, target, jump, mode, uid=owner[0], gid=owner[1])

    # -- the root directory ------------------------------------------------------------
    def _list_root(self) -> list[tuple[str, Inode]]:
        self._forget_gone()
        processes = [(str(t.pid), self.task_dir(t)) for t in taskinfo.leaders(self.coffer)]
        return [*self._static.items(), *processes]

    def _find_root(self, name: str) -> Inode | None:
        if name in self._static:
            return self._static[name]
        if not name.isdigit() or name != str(int(name)):
            return None
        task = taskinfo.find_task(self.coffer, int(name))
        return None if task is None else self.task_dir(task)

    def _caller(self) -> Task:
        task = taskinfo.current(self.coffer)
        if task is None:
            raise FsError(errno.ENOENT, "no task in this coffer")
        return task

    def _self_target(self) -> str:
        return str(taskinfo.tgid(self._caller()))

    def _thread_self_target(self) -> str:
        task = self._caller()
        return f"{taskinfo.tgid(task)}/task/{task.pid}"

    # -- per-task directories -------------------------------------------------------------
    def task_dir(self, task: Task, as_thread: bool = False) -> Inode:
        """/proc/PID for ``task`` (``as_thread``: /proc/PID/task/TID, without task/)."""
        from cofferos.coffers.procfs.pid import build_task_dir

        key = (task.pid, as_thread)
        cached = self._task_dirs.get(key)
        if cached is not None and cached[0] is task:
            return cached[1]
        if len(self._task_dirs) >= self._prune_at:
            self._forget_gone()
        inode = build_task_dir(self, task, as_thread)
        self._task_dirs[key] = (task, inode)
        return inode

    def tgid_of_dir(self, inode: Inode) -> Task | None:
        """The thread-group leader whose /proc/PID directory ``inode`` is (not a
        /proc/PID/task/TID one), or None: Linux's tgid_pidfd_to_pid."""
        for (_, as_thread), (task, cached) in self._task_dirs.items():
            if cached is inode and not as_thread:
                return task
        return None

    def _forget_gone(self) -> None:
        """Drop cached directories of tasks that were reaped. Their inodes' closures hold
        the task, and with it its address space: a program that forks and looks up
        /proc/PID of each child would otherwise keep every ended child in host memory.
        Called on each listing of /proc and, amortized, when the cache has doubled."""
        for key, (task, _) in list(self._task_dirs.items()):
            if taskinfo.find_task(self.coffer, task.pid) is not task:
                del self._task_dirs[key]
        self._prune_at = max(MIN_PRUNE_AT, 2 * len(self._task_dirs))

    def live(self, task: Task) -> Task:
        """``task`` if it is still in the coffer; ESRCH once it was reaped, as a file
        of /proc/PID gives when opened through a directory that outlived it."""
        if taskinfo.find_task(self.coffer, task.pid) is not task:
            raise FsError(errno.ESRCH, f"task {task.pid} is gone")
        return task
