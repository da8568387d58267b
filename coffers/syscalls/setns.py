"""setns(2): join a namespace another process is in (kernel/nsproxy.c, each namespace's
``install``: netns_install, utsns_install, ipcns_install, mntns_install,
pidns_install, userns_install, timens_install, cgroupns_install).

The descriptor is either an open /proc/PID/ns/NAME (an nsfs inode,
:mod:`cofferos.coffers.nsfs`), with ``nstype`` 0 or that namespace's CLONE_NEW*
flag (EINVAL otherwise), or a pidfd, with ``nstype`` a non-empty set of CLONE_NEW*
flags: the caller joins each of those namespaces of that process, all or none
(ESRCH if it has exited). Anything else is EINVAL.

Each join checks what Linux checks, with the caller's credentials (after the user
namespace's join, for a pidfd): CAP_SYS_ADMIN in the user namespace that owns the
namespace joined and in the caller's own (EPERM); a mount namespace also needs
CAP_SYS_CHROOT in the caller's, a cwd not shared with another process (EINVAL),
and moves the caller to its root; a PID namespace must be the caller's own or one
nested in it (EINVAL) and takes effect for the next children; a user namespace
must be another than the caller's (EINVAL), the caller single-threaded and its
cwd its own (EINVAL), and CAP_SYS_ADMIN in it (EPERM): the caller then has every
capability there, with its ids unchanged. The model keeps namespaces per process,
so a caller with other threads gets EINVAL for any of them.

A time namespace is joined at once (the caller's clocks move, and its children
go there too; EUSERS with another thread), and its offsets are fixed from then on.
A cgroup namespace changes nothing else: the coffer has one cgroup.
"""

from __future__ import annotations

import dataclasses
import errno
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_FULL_SET, CAP_SYS_ADMIN, CAP_SYS_CHROOT
from cofferos.coffers.files import InodeFile
from cofferos.coffers.nsfs import KINDS, NsInode, NsKind
from cofferos.coffers.pid_ns import PidNamespace
from cofferos.coffers.pidfd import PidFd
from cofferos.coffers.syscalls.cred import commit_creds
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.nsproxy import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWTIME,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    CgroupNamespace,
)
from cofferos.coffers.syscalls.uaccess import signed
from cofferos.coffers.timens import TimeNamespace, enter
from cofferos.coffers.userns import UserNamespace, ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Credentials, Task

#: The flags a pidfd's setns takes (check_setns_flags).
PIDFD_FLAGS = (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID
               | CLONE_NEWCGROUP | CLONE_NEWTIME | CLONE_NEWUSER)
#: The kinds a pidfd's setns joins, user first (validate_nsset's order): the process's
#: own namespaces, not those for its children.
PIDFD_KINDS = [kind for name in ("user", "mnt", "uts", "ipc", "pid", "cgroup", "net", "time")
               for kind in KINDS if kind.name == name]


class _Refused(Exception):
    def __init__(self, error: int) -> None:
        super().__init__(error)
        self.errno = error


def _owner(kind: NsKind, ns: object) -> UserNamespace | None:
    """The user namespace that owns ``ns`` (a user namespace: itself)."""
    if kind.nstype == CLONE_NEWUSER:
        return ns if isinstance(ns, UserNamespace) else None
    return getattr(ns, "user_ns", None)


def _check(task: Task, creds: Credentials, kind: NsKind, ns: object) -> None:
    """The install function's checks, in its order."""
    owner = _owner(kind, ns)
    others = len([t for t in task.process.threads if t.alive]) > 1
    if kind.nstype == CLONE_NEWUSER:
        if ns is kind.of(task) or others or _cwd_shared(task):
            raise _Refused(errno.EINVAL)
        if not ns_capable(creds, owner, CAP_SYS_ADMIN):
            raise _Refused(errno.EPERM)
        return
    if not (ns_capable(creds, owner, CAP_SYS_ADMIN) and
            ns_capable(creds, creds.userns, CAP_SYS_ADMIN)):
        raise _Refused(errno.EPERM)
    if others:  # timens_install's EUSERS; the model keeps the others per process
        raise _Refused(errno.EUSERS if kind.nstype == CLONE_NEWTIME else errno.EINVAL)
    if kind.nstype == CLONE_NEWNS:
        if not ns_capable(creds, creds.userns, CAP_SYS_CHROOT):
            raise _Refused(errno.EPERM)
        if _cwd_shared(task):
            raise _Refused(errno.EINVAL)
    if kind.nstype == CLONE_NEWPID and not _within(ns, task.process.pid_ns):
        raise _Refused(errno.EINVAL)


def _cwd_shared(task: Task) -> bool:
    return any(other.process is not task.process and other.alive and other.fs is task.fs
               for other in task.coffer.tasks.values())


def _within(ns: object, active: PidNamespace | None) -> bool:
    """pidns_install: ``ns`` is ``active`` or nested in it."""
    if not isinstance(ns, PidNamespace):
        return active is None  # the coffer's own: only from there
    level: PidNamespace | None = ns
    while level is not None and level is not active:
        level = level.parent
    return level is active


def _install(task: Task, kind: NsKind, ns: object) -> None:
    process, coffer = task.process, task.coffer
    if kind.nstype == CLONE_NEWUSER:  # (the coffer's initial one's key stands for None)
        commit_creds(task, dataclasses.replace(
            task.creds, userns=_owner(kind, ns), cap_effective=CAP_FULL_SET,
            cap_permitted=CAP_FULL_SET, cap_inheritable=0, cap_bset=CAP_FULL_SET,
            securebits=0))
    elif kind.nstype == CLONE_NEWNET:
        process.net_ns = ns  # type: ignore[assignment]
    elif kind.nstype == CLONE_NEWUTS:
        process.uts = ns  # type: ignore[assignment]
    elif kind.nstype == CLONE_NEWIPC:
        process.ipc_ns = ns  # type: ignore[assignment]
    elif kind.nstype == CLONE_NEWNS:
        process.mnt_ns = coffer.fs.ns = ns  # type: ignore[assignment]
        task.fs.cwd = coffer.fs.root  # set_fs_root and set_fs_pwd: the namespace's root
    elif kind.nstype == CLONE_NEWPID:
        process.pid_ns_for_children = ns if isinstance(ns, PidNamespace) else None
    elif kind.nstype == CLONE_NEWCGROUP:
        process.cgroup_ns = ns if isinstance(ns, CgroupNamespace) else None
    elif kind.nstype == CLONE_NEWTIME:
        enter(process, ns if isinstance(ns, TimeNamespace) else None)


def _join(task: Task, joins: list[tuple[NsKind, object]]) -> int:
    """Check every join, then make them (the user namespace's first, whose
    credentials the later checks use)."""
    creds = task.creds
    try:
        for kind, ns in joins:
            _check(task, creds, kind, ns)
            if kind.nstype == CLONE_NEWUSER:
                creds = dataclasses.replace(creds, userns=_owner(kind, ns),
                                            cap_effective=CAP_FULL_SET)
    except _Refused as refused:
        return -refused.errno
    for kind, ns in joins:
        _install(task, kind, ns)
    return 0


def sys_setns(task: Task, fd: int, nstype: int) -> int:
    nstype = signed(nstype, 32) & 0xFFFFFFFF
    file = fdget(task, signed(fd, 32))
    if isinstance(file, PidFd):
        if not nstype or nstype & ~PIDFD_FLAGS:
            return -errno.EINVAL
        process = file.process
        if process.zombie or not process.live_threads:
            return -errno.ESRCH
        other = process.live_threads[0]
        return _join(task, [(kind, kind.of(other)) for kind in PIDFD_KINDS
                            if nstype & kind.nstype])
    inode = file.inode if isinstance(file, InodeFile) else None
    if not isinstance(inode, NsInode) or nstype and nstype != inode.kind.nstype:
        return -errno.EINVAL
    return _join(task, [(inode.kind, inode.ns)])


def register(table: SyscallTable) -> None:
    table.add("setns", sys_setns, "fd", "hex")
