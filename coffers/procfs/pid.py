"""/proc/PID and /proc/PID/task/TID: one directory per task of the coffer.

The entries, in the order of Linux's tgid_base_stuff (fs/proc/base.c):
``task/`` (the thread group's tasks; not in a TID directory), ``fd/``
(:mod:`.fdlinks`), ``ns/`` (:mod:`.nsdir`), ``net/`` (:mod:`.netdir`), ``environ``,
``status``, ``limits``, ``comm``, ``cmdline``, ``stat``, ``statm`` (:mod:`.status`),
``maps``, ``cwd``, ``root``, ``exe``, ``mounts`` and ``mountinfo`` (:mod:`.mounts`), ``cgroup`` (one
cgroup: :mod:`cofferos.coffers.syscalls.nsproxy`), ``uid_map``,
``gid_map`` and ``setgroups`` (:mod:`.userns`), ``timens_offsets`` (:mod:`.nsdir`).
Files belong to the task's effective uid and gid, or to root while
the process is not dumpable (task_dump_owner: after a change of ids, until the
next execve), except the directories, and ``fd/``, which Linux lets a process
read as its own (proc_fd_permission); ``environ`` is readable by its owner only.
``cwd``, ``root`` and ``exe`` are magic links: they lead to the inode itself, and
so are ``ns/``'s, to the namespaces' (:mod:`cofferos.coffers.nsfs`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.mm import merge_vmas
from cofferos.coffers.pid_ns import nr_in
from cofferos.coffers.procfs import status, taskinfo
from cofferos.coffers.procfs.fdlinks import canonical, fd_dir
from cofferos.coffers.procfs.mounts import mountinfo, mounts
from cofferos.coffers.procfs.netdir import net_dir
from cofferos.coffers.procfs.nsdir import ns_dir, timens_offsets
from cofferos.coffers.procfs.userns import userns_files
from cofferos.coffers.syscalls.nsproxy import PROC_CGROUP

if TYPE_CHECKING:
    from cofferos.coffers.procfs.tree import ProcFs
    from cofferos.coffers.task import Task

SUID_DUMP_USER = 1
"""A dumpable process (include/linux/sched/coredump.h): its files are its own."""
ROOT_OWNER = (0, 0)
PRIVATE_FILE_MODE = stat.S_IFREG | 0o400
"""environ: r-------- (it may hold secrets)."""
LINK_PERMS = 0o777
MAPS_NAME_COLUMN = 72
"""maps pads each line to 25 + 6 * sizeof(void *) - 1 characters before a name."""
PROT_READ, PROT_WRITE, PROT_EXEC = 0x1, 0x2, 0x4
RLIMIT_NAMES: tuple[tuple[str, str], ...] = (
    ("Max cpu time", "seconds"),
    ("Max file size", "bytes"),
    ("Max data size", "bytes"),
    ("Max stack size", "bytes"),
    ("Max core file size", "bytes"),
    ("Max resident set", "bytes"),
    ("Max processes", "processes"),
    ("Max open files", "files"),
    ("Max locked memory", "bytes"),
    ("Max address space", "bytes"),
    ("Max file locks", "locks"),
    ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""),
    ("Max realtime priority", ""),
    ("Max realtime timeout", "us"),
)
"""The rows of /proc/PID/limits, indexed by RLIMIT_* number (fs/proc/base.c lnames)."""


def _nul_separated(strings: list[bytes]) -> bytes:
    return b"".join(s + b"\0" for s in strings)


def cmdline(task: Task) -> bytes:
    return _nul_separated(taskinfo.argv(task))


def environ(task: Task) -> bytes:
    return b"" if taskinfo.state(task) == taskinfo.ZOMBIE else _nul_separated(taskinfo.envp(task))


def limits(task: Task) -> str:
    def value(limit: int) -> str:
        return "unlimited" if limit == taskinfo.RLIM_INFINITY else str(limit)

    lines = [f"{'Limit':<25} {'Soft Limit':<20} {'Hard Limit':<20} {'Units':<10}\n"]
    for which, (name, unit) in enumerate(RLIMIT_NAMES):
        soft, hard = taskinfo.rlimit(task, which)
        row = f"{name:<25} {value(soft):<20} {value(hard):<20} "
        lines.append(row + (f"{unit:<10}\n" if unit else "\n"))
    return "".join(lines)


def _backing(procfs: ProcFs, task: Task, name: str) -> tuple[int, int]:
    """(st_dev, st_ino) of the file a named mapping maps, or (0, 0)."""
    if not name.startswith("/"):
        return 0, 0
    exe = getattr(taskinfo.process_of(task), "exe_inode", None)
    if exe is not None and name == taskinfo.exe_path(task):
        return exe.sb.dev, exe.ino
    fs = procfs.coffer.fs
    try:
        inode = fs.lookup(name, fs.root)
    except FsError:
        return 0, 0
    return inode.sb.dev, inode.ino


def maps(procfs: ProcFs, task: Task) -> str:
    """/proc/PID/maps: one line per VMA, as show_map_vma prints it."""
    mm = getattr(procfs.live(task), "mm", None)
    if mm is None or taskinfo.state(task) == taskinfo.ZOMBIE:
        return ""
    lines = []
    for vma in merge_vmas(list(mm.vmas)):
        perms = "".join(flag if vma.prot & bit else "-" for flag, bit in (
            ("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC)))
        perms += "s" if getattr(vma, "shared", False) else "p"
        dev, ino = _backing(procfs, task, vma.name)
        line = (f"{vma.start:08x}-{vma.end:08x} {perms} {getattr(vma, 'offset', 0):08x} "
                f"{os.major(dev):02x}:{os.minor(dev):02x} {ino} ")
        if vma.name:
            line = line.ljust(MAPS_NAME_COLUMN) + " " + vma.name
        lines.append(line + "\n")
    return "".join(lines)


def _exe_inode(task: Task) -> Inode | None:
    return getattr(taskinfo.process_of(task), "exe_inode", None)


def build_task_dir(procfs: ProcFs, task: Task, as_thread: bool) -> Inode:
    """The directory of ``task``: /proc/PID, or /proc/PID/task/TID if ``as_thread``."""
    ids = taskinfo.ids(task)
    owner = (ids.uid[1], ids.gid[1])
    dumpable = getattr(taskinfo.process_of(task), "dumpable", SUID_DUMP_USER)
    file_owner = owner if dumpable == SUID_DUMP_USER else ROOT_OWNER
    fs = procfs.coffer.fs

    def text(produce: Callable[[Task], str]) -> Inode:
        return procfs.text(lambda: produce(procfs.live(task)), file_owner)

    def raw(produce: Callable[[Task], bytes], mode: int = stat.S_IFREG | 0o444) -> Inode:
        return procfs.file(lambda: produce(procfs.live(task)), mode, file_owner)

    def link(target: Callable[[], str], jump: Callable[[], Inode | None]) -> Inode:
        def read() -> str:
            procfs.live(task)
            return target()

        def follow() -> Inode | None:
            procfs.live(task)
            return jump()

        return procfs.link(read, follow, stat.S_IFLNK | LINK_PERMS, file_owner)

    entries: list[tuple[str, Inode]] = []
    if not as_thread:
        entries.append(("task", _threads_dir(procfs, task, owner)))
    entries += [
        ("fd", fd_dir(procfs, task, owner)),
        ("ns", ns_dir(procfs, task, file_owner)),
        ("net", net_dir(procfs, task)),
        ("environ", raw(environ, PRIVATE_FILE_MODE)),
        ("status", text(lambda t: status.status(procfs, t))),
        ("limits", text(limits)),
        ("comm", text(lambda t: taskinfo.comm(t) + "\n")),
        ("cmdline", raw(cmdline)),
        ("stat", text(lambda t: status.stat(procfs, t))),
        ("statm", text(lambda t: status.statm(procfs, t))),
        ("maps", text(lambda t: maps(procfs, t))),
        ("cwd", link(lambda: fs.path_of(task.fs.cwd), lambda: task.fs.cwd)),
        ("root", link(lambda: "/", lambda: fs.root)),
        ("exe", link(lambda: canonical(fs, taskinfo.exe_path(task)), lambda: _exe_inode(task))),
        ("mounts", procfs.text(lambda: mounts(procfs, task), file_owner)),
        ("mountinfo", procfs.text(lambda: mountinfo(procfs, task), file_owner)),
        ("cgroup", text(lambda t: PROC_CGROUP)),
        *userns_files(procfs, task),
        ("timens_offsets", timens_offsets(procfs, task)),
    ]
    return procfs.directory(lambda: entries, owner=owner)


def _threads_dir(procfs: ProcFs, task: Task, owner: tuple[int, int]) -> Inode:
    """/proc/PID/task: a directory per thread of the group."""
    def lister() -> list[tuple[str, Inode]]:
        group = taskinfo.threads(procfs.coffer, procfs.live(task))
        ns = getattr(procfs, "ns", None)  # a nested PID namespace's own proc's numbers
        return [(str(nr_in(ns, t.pid)), procfs.task_dir(t, as_thread=True)) for t in group]

    def find(name: str) -> Inode | None:
        return dict(lister()).get(name)

    return procfs.directory(lister, find, owner)
