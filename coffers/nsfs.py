"""Namespace files (fs/nsfs.c, fs/proc/namespaces.c): what /proc/PID/ns/* lead to.

Every namespace a task is in has an inode in nsfs, a filesystem nobody mounts:
/proc/PID/ns/NAME is a magic link whose text is ``NAME:[INODE]`` and which leads
to that inode, so two tasks are in the same namespace exactly when stat(2) of
their links gives the same ``st_ino`` (and ``st_dev``, nsfs's). Opening the link
gives a descriptor that names the namespace, for setns(2)
(:mod:`cofferos.coffers.syscalls.setns`); the descriptor cannot be read (EINVAL)
or written.

The namespaces are the model's own objects: the network namespace
(:class:`~cofferos.coffers.net.namespace.NetNamespace`), the UTS names, the
System V IPC namespace, the mount namespace, the PID namespace (the one the
process's pid is in, and ``pid_for_children``, where its next children go), the
user namespace, the time namespace (and ``time_for_children``,
:mod:`cofferos.coffers.timens`), and the cgroup namespace. A coffer's first
namespaces, which the model keeps as None on the process, are the coffer's (a key
object of :class:`NsTable` stands for each). Their inode numbers are
handed out by :class:`NsTable`, one per coffer, from 0xF0000000 as ns_alloc_inum
does in the order the namespaces are first looked at: a coffer's namespaces are a
container's, none of them the host's initial ones (which have fixed numbers).
"""

from __future__ import annotations

import errno
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.inode import Superblock
from cofferos.coffers.syscalls.nsproxy import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWTIME,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    mnt_ns_of,
    net_ns_of,
    uts_of,
)
from cofferos.coffers.timens import for_children

if TYPE_CHECKING:
    from collections.abc import Callable

    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Task

NSFS_DEV = 4  #: st_dev of nsfs's inodes: 0:4, as this host's kernel shows it
PROC_DYNAMIC_FIRST = 0xF0000000  #: include/linux/proc_ns.h: ns_alloc_inum's first number
NS_FILE_MODE = stat.S_IFREG | 0o444  #: nsfs_evict... __ns_get_path: S_IFREG | S_IRUGO


@dataclass(frozen=True)
class NsKind:
    """One entry of /proc/PID/ns (``struct proc_ns_operations``): its file name, the
    name its link shows, its CLONE_NEW* type, and how to find a task's namespace."""

    name: str
    real_name: str
    nstype: int
    of: Callable[[Task], object]


def _ipc_of(task: Task) -> object:
    ns = task.process.ipc_ns
    return task.coffer.shm_ids if ns is None else ns


def _pid_of(task: Task) -> object:
    ns = task.process.pid_ns
    return task.coffer.nsfs.initial("pid") if ns is None else ns


def _pid_for_children_of(task: Task) -> object:
    ns = task.process.pid_ns_for_children
    return _pid_of(task) if ns is None else ns


def _time_of(task: Task) -> object:
    ns = task.process.time_ns
    return task.coffer.nsfs.initial("time") if ns is None else ns


def _time_for_children_of(task: Task) -> object:
    ns = for_children(task.process)
    return task.coffer.nsfs.initial("time") if ns is None else ns


def _cgroup_of(task: Task) -> object:
    ns = task.process.cgroup_ns
    return task.coffer.nsfs.initial("cgroup") if ns is None else ns


def _user_of(task: Task) -> object:
    ns = task.creds.userns
    return task.coffer.nsfs.initial("user") if ns is None else ns


#: fs/proc/namespaces.c's ns_entries, in its order (readdir's).
KINDS = (
    NsKind("net", "net", CLONE_NEWNET, net_ns_of),
    NsKind("uts", "uts", CLONE_NEWUTS, uts_of),
    NsKind("ipc", "ipc", CLONE_NEWIPC, _ipc_of),
    NsKind("pid", "pid", CLONE_NEWPID, _pid_of),
    NsKind("pid_for_children", "pid", CLONE_NEWPID, _pid_for_children_of),
    NsKind("user", "user", CLONE_NEWUSER, _user_of),
    NsKind("mnt", "mnt", CLONE_NEWNS, mnt_ns_of),
    NsKind("cgroup", "cgroup", CLONE_NEWCGROUP, _cgroup_of),
    NsKind("time", "time", CLONE_NEWTIME, _time_of),
    NsKind("time_for_children", "time", CLONE_NEWTIME, _time_for_children_of),
)
BY_NAME = {kind.name: kind for kind in KINDS}


class NsInode(Inode):
    """A namespace's nsfs inode: what an open /proc/PID/ns/NAME is."""

    has_xattrs = False
    page_cached = False

    def __init__(self, sb: Superblock, ino: int, kind: NsKind, ns: object) -> None:
        super().__init__(sb, ino, NS_FILE_MODE)
        self.kind = kind
        self.ns = ns

    @property
    def size(self) -> int:
        return 0

    def read(self, offset: int, n: int) -> bytes:
        raise FsError(errno.EINVAL, "a namespace file has no read")

    def write(self, offset: int, data: bytes) -> int:
        raise FsError(errno.EINVAL, "a namespace file has no write")

    def truncate(self, size: int) -> None:
        raise FsError(errno.EINVAL, "a namespace file cannot be truncated")


class _Initial:
    """The key object of a coffer's first namespace of a kind the process keeps as None."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


class NsTable:
    """One coffer's namespace inodes: a number and an inode per namespace object,
    kept while the coffer lives (so a number is never reused)."""

    def __init__(self, coffer: Coffer) -> None:
        self.sb = Superblock(dev=NSFS_DEV, now_ns=coffer.fs.sb.now_ns,
                             next_ino=PROC_DYNAMIC_FIRST)
        self._inodes: dict[int, tuple[object, NsInode]] = {}
        self._initial: dict[str, _Initial] = {}

    def initial(self, kind: str) -> object:
        if kind not in self._initial:
            self._initial[kind] = _Initial(kind)
        return self._initial[kind]

    def inode(self, kind: NsKind, ns: object) -> NsInode:
        """The nsfs inode of ``ns`` (made the first time it is asked for)."""
        found = self._inodes.get(id(ns))
        if found is None:
            found = (ns, NsInode(self.sb, self.sb.alloc_ino(), kind, ns))
            self._inodes[id(ns)] = found
        return found[1]

    def of(self, task: Task, name: str) -> NsInode:
        """The inode of the task's namespace that /proc/PID/ns/NAME names."""
        kind = BY_NAME[name]
        return self.inode(kind, kind.of(task))

    def link_text(self, task: Task, name: str) -> str:
        """readlink of /proc/PID/ns/NAME: ``net:[4026532000]``."""
        return f"{BY_NAME[name].real_name}:[{self.of(task, name).ino}]"
