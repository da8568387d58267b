"""Namespaces a process may leave: unshare(2), and the UTS names (kernel/fork.c,
kernel/nsproxy.c, kernel/utsname.c, kernel/sys.c's sethostname and setdomainname).

A coffer is itself the container: its tasks already live in namespaces of their own
(PID numbers, mounts, host name, network), with the coffer's root as their root. What
a process inside may do further, as in a rootless container:

* ``CLONE_NEWUTS`` gives the process a copy of its UTS names (host and domain name):
  sethostname and setdomainname change only that copy, which fork and clone share
  with children, and uname(2) and /proc/sys/kernel/hostname read. Fully modelled.
* ``CLONE_NEWNS``: the process gets a copy of its mount namespace
  (:meth:`~cofferos.coffers.fs.mnt_ns.MountNamespace.copy`, copy_mnt_ns), which
  fork and clone share with children: its mounts and unmounts are its own, the
  other processes keep the namespace it left. The new one belongs to the caller's
  user namespace (the new one, with CLONE_NEWUSER), so a rootless process may mount
  there, its copied mounts locked. Kept per process, not per thread.
* ``CLONE_NEWIPC``: a new, empty System V IPC namespace for the process and its
  future children, its segments governed by the caller's user namespace; the old
  one stays for the processes still in it, or goes with its segments when none is
  (:func:`.shm.unshare_ipc`).
* ``CLONE_NEWUSER``: a new user namespace (:mod:`cofferos.coffers.userns`), for
  anyone, as rootless container tools start: the caller keeps its kernel ids, gets
  every capability in the new namespace, and sees its ids as 65534 until its
  uid_map and gid_map are written. Namespaces made in the same call (NEWUTS ...)
  belong to the new user namespace, so its capabilities govern them: sethostname
  needs CAP_SYS_ADMIN in the user namespace that owns the UTS names.
* ``CLONE_NEWPID``: the caller's next children go into a new PID namespace owned by
  its (new) user namespace, the first as its pid 1 (:mod:`cofferos.coffers.pid_ns`);
  the caller stays where it is; a second unshare before that is EINVAL.
* ``CLONE_NEWNET``: a new network namespace (:func:`~cofferos.coffers.net.namespace.new_net_ns`)
  for the process and its future children, owned by the caller's (new) user
  namespace: only ``lo``, down, its own ports and abstract AF_UNIX names. Sockets
  made before keep the namespace they were made in. Kept per process.
* ``CLONE_NEWTIME``: the caller's next children go into a new time namespace
  owned by its (new) user namespace (:mod:`cofferos.coffers.timens`), whose offsets
  /proc/PID/timens_offsets sets until then; the caller stays where it is.
* ``CLONE_NEWCGROUP``: a new cgroup namespace (:class:`CgroupNamespace`) rooted
  at the process's cgroup, for it and its future children. A coffer has one cgroup,
  its own root (the coffer is the resource container), so /proc/PID/cgroup reads
  ``0::/`` in every namespace; what changes is /proc/PID/ns/cgroup and who owns it.
  Kept per process.
* ``CLONE_FS`` and ``CLONE_FILES`` unshare the cwd and umask and the descriptor
  table if another task shares them; ``CLONE_SYSVSEM`` has nothing to unshare;
  ``CLONE_THREAD``, ``CLONE_SIGHAND`` and ``CLONE_VM`` are EINVAL unless there is
  nothing to unshare (a single-threaded caller), as in Linux.

clone(2) takes the same namespace flags for the child (:func:`copy_namespaces`,
:func:`clone_namespaces`): CLONE_NEWUSER a new user namespace, CLONE_NEWUTS a copy
of the names, CLONE_NEWNS a copy of the mount namespace, CLONE_NEWIPC an empty IPC
namespace, CLONE_NEWNET a new network namespace (not with CLONE_THREAD: the model
keeps them per process), CLONE_NEWPID a
new PID namespace with the child as its init (:mod:`.fork`), the others as for
unshare.

The checks are ksys_unshare's, in its order: unknown flags EINVAL, the implied flags
(NEWUSER implies THREAD and FS, VM implies SIGHAND, SIGHAND THREAD, NEWNS FS), the
thread-group checks (EINVAL), then the new user namespace (EUSERS, EPERM), then
CAP_SYS_ADMIN in the (new) user namespace for any other namespace (EPERM), then what
the model supports.
"""

from __future__ import annotations

import dataclasses
import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_FULL_SET, CAP_SYS_ADMIN
from cofferos.coffers.net.namespace import NetNamespace, new_net_ns
from cofferos.coffers.pid_ns import MAX_PID_NS_LEVEL, new_pid_ns
from cofferos.coffers.syscalls.cred import commit_creds
from cofferos.coffers.syscalls.uaccess import copy_from_user, signed
from cofferos.coffers.task import FsContext
from cofferos.coffers.timens import unshare_time
from cofferos.coffers.userns import UserNamespace, create_user_ns, ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.fs.mnt_ns import MountNamespace
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Credentials, Task

# include/uapi/linux/sched.h
CLONE_NEWTIME = 0x00000080
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_THREAD = 0x00010000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
UNSHARE_FLAGS = (CLONE_THREAD | CLONE_FS | CLONE_NEWNS | CLONE_SIGHAND | CLONE_VM | CLONE_FILES
                 | CLONE_SYSVSEM | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUSER
                 | CLONE_NEWPID | CLONE_NEWCGROUP | CLONE_NEWTIME)
NAMESPACES = (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID
              | CLONE_NEWCGROUP | CLONE_NEWTIME)
#: Namespaces the kernel is built without (EINVAL from create_new_namespaces).
NOT_BUILT = 0
#: Namespaces the model keeps per process, not per thread (EINVAL with another thread).
PER_PROCESS = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP
MAX_USER_NAMESPACES = 15_000
"""user.max_user_namespaces: Linux's default is half the thread limit; this is what
a 2 GiB machine shows. The coffer's task limit binds first."""
NEW_UTS_LEN = 64  #: __NEW_UTS_LEN: the longest host or domain name


@dataclass
class UtsNamespace:
    """One UTS namespace's names (``struct uts_namespace``); shared by reference.
    ``user_ns`` owns it (None: the coffer's initial user namespace)."""

    hostname: str
    domainname: str
    user_ns: UserNamespace | None = None

    def copy(self, user_ns: UserNamespace | None) -> UtsNamespace:
        return UtsNamespace(self.hostname, self.domainname, user_ns)


@dataclass(eq=False)
class CgroupNamespace:
    """One cgroup namespace (``struct cgroup_namespace``): its root is the coffer's
    only cgroup; ``user_ns`` owns it (None: the coffer's initial user namespace)."""

    user_ns: UserNamespace | None = None


#: /proc/PID/cgroup: the cgroup v2 line, the coffer's root cgroup, which is every
#: cgroup namespace's root too (proc_cgroup_show with cgroup_path_ns).
PROC_CGROUP = "0::/\n"


def new_userns_creds(creds: Credentials) -> Credentials:
    """The creator's credentials in a new user namespace (set_cred_user_ns): every
    capability, no inheritable ones, securebits cleared."""
    return dataclasses.replace(creds, userns=create_user_ns(creds), cap_effective=CAP_FULL_SET,
                               cap_permitted=CAP_FULL_SET, cap_inheritable=0,
                               cap_bset=CAP_FULL_SET, securebits=0)


def uts_of(task: Task) -> UtsNamespace:
    """The task's UTS names: its process's namespace, made from the coffer's
    configuration the first time it is asked for."""
    process = task.process
    if process.uts is None:
        from cofferos.coffers.syscalls.process import UTS_DOMAINNAME

        process.uts = UtsNamespace(task.coffer.config.hostname, UTS_DOMAINNAME)
    return process.uts


def mnt_ns_of(task: Task) -> MountNamespace:
    """The task's mount namespace (its process's; the coffer's first one unless it
    or an ancestor made its own)."""
    ns = task.process.mnt_ns
    return task.coffer.fs.init_ns if ns is None else ns


def net_ns_of(task: Task) -> NetNamespace:
    """The network namespace the task's new sockets go in (its process's; the
    coffer's first one unless it or an ancestor made its own)."""
    ns = task.process.net_ns
    return task.coffer.net if ns is None else ns


def _shared_with_another(task: Task, attribute: str) -> bool:
    mine = getattr(task, attribute)
    return any(other is not task and other.alive and getattr(other, attribute) is mine
               for other in task.coffer.tasks.values())


def sys_unshare(task: Task, flags: int) -> int:
    flags = signed(flags, 32) & 0xFFFFFFFF
    if flags & CLONE_NEWUSER:
        flags |= CLONE_THREAD | CLONE_FS
    if flags & CLONE_VM:
        flags |= CLONE_SIGHAND
    if flags & CLONE_SIGHAND:
        flags |= CLONE_THREAD
    if flags & CLONE_NEWNS:
        flags |= CLONE_FS
    if flags & ~UNSHARE_FLAGS:
        return -errno.EINVAL
    threads = [t for t in task.process.threads if t.alive]
    if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM) and len(threads) > 1:
        return -errno.EINVAL
    if flags & (CLONE_SIGHAND | CLONE_VM) and any(
            p is not task.process and p.handlers is task.process.handlers and not p.zombie
            for p in task.coffer.processes.values()):
        return -errno.EINVAL  # signal handlers shared with another process (CLONE_SIGHAND)
    if flags & CLONE_VM and _shared_with_another(task, "mm"):
        return -errno.EINVAL  # not single-threaded: another task uses the address space
    creds = new_userns_creds(task.creds) if flags & CLONE_NEWUSER else task.creds
    if flags & NAMESPACES:
        if not ns_capable(creds, creds.userns, CAP_SYS_ADMIN):
            return -errno.EPERM
        if flags & NOT_BUILT:
            return -errno.EINVAL
        if flags & PER_PROCESS and len(threads) > 1:
            return -errno.EINVAL  # the model keeps them per process, not per thread
    if flags & CLONE_NEWPID:
        error = _unshare_pid(task, creds)
        if error:
            return error
    if flags & CLONE_FS and _shared_with_another(task, "fs"):
        task.fs = FsContext(task.fs.cwd, task.fs.umask)
    if flags & CLONE_FILES and _shared_with_another(task, "files"):
        old = task.files
        task.files = old.copy()
    if flags & CLONE_NEWUSER:
        commit_creds(task, creds)
    if flags & CLONE_NEWUTS:
        task.process.uts = uts_of(task).copy(creds.userns)
    if flags & CLONE_NEWNS:  # owned by the caller's (new) user namespace
        fs = task.coffer.fs
        task.process.mnt_ns = fs.ns = mnt_ns_of(task).copy(creds.userns)
    if flags & CLONE_NEWIPC:  # empty; its capabilities govern the segments (ipcperms)
        from cofferos.coffers.syscalls.shm import unshare_ipc

        unshare_ipc(task, creds.userns)
    if flags & CLONE_NEWNET:
        task.process.net_ns = new_net_ns(task.coffer, creds.userns)
    if flags & CLONE_NEWTIME:
        unshare_time(task.process, creds.userns)
    if flags & CLONE_NEWCGROUP:
        task.process.cgroup_ns = CgroupNamespace(creds.userns)
    return 0


def _unshare_pid(task: Task, creds: Credentials) -> int:
    """copy_pid_ns for unshare: the caller stays where it is, its next children go
    into a new PID namespace owned by its (new) user namespace
    (:mod:`cofferos.coffers.pid_ns`). EINVAL if it has done so already, ENOSPC past
    MAX_PID_NS_LEVEL."""
    process = task.process
    if process.pid_ns_for_children is not None:
        return -errno.EINVAL  # task_active_pid_ns(current) != old_ns
    active = process.pid_ns
    if (0 if active is None else active.level) + 1 > MAX_PID_NS_LEVEL:
        return -errno.ENOSPC
    process.pid_ns_for_children = new_pid_ns(active, creds.userns)
    return 0


def copy_namespaces(task: Task, flags: int) -> int:
    """clone's namespace flags (copy_process, copy_namespaces): 0, or the error. The
    child of a clone with CLONE_NEWUTS gets a copy of the UTS names
    (:func:`clone_namespaces`), and so do CLONE_NEWNS (a copy of the mounts) and
    CLONE_NEWIPC (an empty IPC namespace)."""
    if flags & CLONE_NEWNS and flags & CLONE_FS or flags & CLONE_NEWUSER and flags & CLONE_FS:
        return -errno.EINVAL
    if flags & CLONE_THREAD and flags & (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWUTS
                                         | PER_PROCESS):
        return -errno.EINVAL  # NEWUTS and PER_PROCESS: the model keeps them per process
    creds = new_userns_creds(task.creds) if flags & CLONE_NEWUSER else task.creds
    if flags & NAMESPACES:
        if not ns_capable(creds, creds.userns, CAP_SYS_ADMIN):
            return -errno.EPERM
        if flags & (NOT_BUILT | CLONE_NEWTIME):
            return -errno.EINVAL  # NEWTIME: only clone3 can pass it; not modelled there
    return 0


def clone_namespaces(parent: Task, child: Task, flags: int) -> None:
    """A CLONE_NEWUSER child's new user namespace (:func:`copy_namespaces` checked
    that it can be made), and a CLONE_NEWUTS child's own copy of the UTS names."""
    if flags & CLONE_NEWUSER:
        child.process.creds = new_userns_creds(parent.creds)
    if flags & CLONE_NEWUTS:
        child.process.uts = uts_of(parent).copy(child.creds.userns)
    if flags & CLONE_NEWNS:
        child.process.mnt_ns = mnt_ns_of(parent).copy(child.creds.userns)
    if flags & CLONE_NEWPID and child.process.pid_ns is not None:
        child.process.pid_ns.user_ns = child.creds.userns  # (a CLONE_NEWUSER child's)
    if flags & CLONE_NEWIPC:
        from cofferos.coffers.ipc_shm import ShmIds

        child.process.ipc_ns = ShmIds(user_ns=child.creds.userns)
    if flags & CLONE_NEWNET:
        child.process.net_ns = new_net_ns(child.coffer, child.creds.userns)
    if flags & CLONE_NEWCGROUP:
        child.process.cgroup_ns = CgroupNamespace(child.creds.userns)


def _set_name(task: Task, name: int, length: int, field: str) -> int:
    """sethostname and setdomainname: CAP_SYS_ADMIN in the user namespace that owns
    the names, at most NEW_UTS_LEN bytes."""
    if not ns_capable(task.creds, uts_of(task).user_ns, CAP_SYS_ADMIN):
        return -errno.EPERM
    length = signed(length, 32)
    if length < 0 or length > NEW_UTS_LEN:
        return -errno.EINVAL
    raw = copy_from_user(task, name, length) if length else b""
    setattr(uts_of(task), field, raw.decode("utf-8", "surrogateescape"))
    return 0


def sys_sethostname(task: Task, name: int, length: int) -> int:
    return _set_name(task, name, length, "hostname")


def sys_setdomainname(task: Task, name: int, length: int) -> int:
    return _set_name(task, name, length, "domainname")


def register(table: SyscallTable) -> None:
    table.add("unshare", sys_unshare, "hex")
    table.add("sethostname", sys_sethostname, "ptr", "int")
    table.add("setdomainname", sys_setdomainname, "ptr", "int")
