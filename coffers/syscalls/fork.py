"""Creating tasks: clone, fork, vfork (kernel/fork.c).

The flags decide what the child shares with its parent (see
:class:`cofferos.coffers.lifecycle.Lifecycle`). ``clone3`` answers ENOSYS, so
glibc and musl fall back to ``clone``, as they do on older kernels. A vfork
parent sleeps until its child has exec'd or exited. Each coffer limits how many
processes it holds (its ``nproc_limit``, as a container's pids cgroup does, root
included): a fork bomb ends in EAGAIN inside its own coffer and nowhere else. A
process's own RLIMIT_NPROC binds it too, unless it is root or has
CAP_SYS_RESOURCE or CAP_SYS_ADMIN (copy_process). Each new address space is
charged to the coffer's memory (:data:`~cofferos.coffers.mm.ENGINE_BYTES`, what it
holds of the host), so a fork past the memory limit fails with ENOMEM. A kernel
shared by several containers (the modelled Linux) also has a kernel-wide task
limit (threads-max, see :mod:`cofferos.coffers.domain`) that every container's
forks draw on. A fork costs ``fork_work`` for a small process and more for each mapping
and resident page of a larger one (:func:`address_space_work`).
"""

from __future__ import annotations

import errno
import resource
import signal
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_ADMIN, CAP_SYS_RESOURCE
from cofferos.coffers.lifecycle import (
    CLONE_FILES,
    CLONE_PARENT,
    CLONE_SIGHAND,
    CLONE_THREAD,
    CLONE_VFORK,
    CLONE_VM,
    CloneArgs,
)
from cofferos.coffers.mm import ENGINE_BYTES, AddressSpace, MmError
from cofferos.coffers.pid_ns import (
    MAX_PID_NS_LEVEL,
    PidNamespace,
    children_ns,
    is_ns_init,
    new_pid_ns,
    pid_vnr,
)
from cofferos.coffers.syscalls.nsproxy import CLONE_NEWPID, clone_namespaces, copy_namespaces
from cofferos.coffers.userns import ns_capable
from cofferos.coffers.wait import WOKEN, Block
from cofferos.sim.costmodel import SMALL_PROCESS_MAPPINGS, SMALL_PROCESS_PAGES, KernelCosts

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Credentials, Task

ROOT_UID = 0  #: INIT_USER: the real uid RLIMIT_NPROC never binds



def _nproc_exempt(creds: Credentials) -> bool:
    """copy_process lets the root user (kernel uid 0) and CAP_SYS_RESOURCE or
    CAP_SYS_ADMIN of the initial user namespace (capable()) fork past RLIMIT_NPROC."""
    return creds.uid == ROOT_UID or any(ns_capable(creds, None, cap)
                                         for cap in (CAP_SYS_RESOURCE, CAP_SYS_ADMIN))


class _NoPid(Exception):
    """The child's PID namespace cannot take it: the errno."""

    def __init__(self, errno_value: int) -> None:
        super().__init__(errno_value)
        self.errno = errno_value


def _child_pid_ns(task: Task, flags: int) -> PidNamespace | None:
    """The nested PID namespace the child goes into (None: the coffer's own):
    copy_process's checks, copy_pid_ns for CLONE_NEWPID, alloc_pid's PIDNS_ADDING."""
    process = task.process
    if not process.pid_ns and not process.pid_ns_for_children and not flags & CLONE_NEWPID:
        return None  # the fast path: the coffer's own namespace throughout
    active, target = process.pid_ns, children_ns(process)
    if flags & CLONE_THREAD and (flags & CLONE_NEWPID or target is not active):
        raise _NoPid(errno.EINVAL)  # a thread group stays in one namespace
    if flags & CLONE_THREAD:
        return active
    if flags & CLONE_NEWPID:
        if target is not active:
            raise _NoPid(errno.EINVAL)  # copy_pid_ns: after unshare(CLONE_NEWPID)
        if (0 if target is None else target.level) + 1 > MAX_PID_NS_LEVEL:
            raise _NoPid(errno.ENOSPC)
        return new_pid_ns(target, task.creds.userns)  # (a CLONE_NEWUSER child's: below)
    if target is not None and not target.adding:
        raise _NoPid(errno.ENOMEM)  # its init has exited
    return target


def _clone(task: Task, args: CloneArgs) -> int:
    flags = args.flags
    if task.wakeup == WOKEN and task.vfork_child is not None:  # a vfork parent, woken
        child, task.vfork_child = task.vfork_child, None
        return child
    if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
        return -errno.EINVAL
    if flags & CLONE_SIGHAND and not flags & CLONE_VM:
        return -errno.EINVAL
    if flags & CLONE_PARENT and (task.process is task.coffer.init or is_ns_init(task.process)):
        return -errno.EINVAL  # init may not make siblings: they would have no parent
    error = copy_namespaces(task, flags)
    if error:
        return error
    try:
        pid_ns = _child_pid_ns(task, flags)
    except _NoPid as failure:
        return -failure.errno
    if not flags & CLONE_THREAD:
        live = sum(1 for p in task.coffer.processes.values() if not p.zombie)
        if live >= task.coffer.config.nproc_limit:
            return -errno.EAGAIN  # the coffer's own limit: no privilege passes it
        soft, _ = task.rlimits.get(resource.RLIMIT_NPROC, (1 << 62, 0))
        if live >= soft and not _nproc_exempt(task.creds):
            return -errno.EAGAIN
    if task.coffer.domain.tasks_full():  # the whole kernel is out of task slots
        return -errno.EAGAIN
    if not flags & CLONE_VM and not task.coffer.memory.fits(ENGINE_BYTES):
        return -errno.ENOMEM  # copy_process: the memory cgroup refuses the new mm's charge
    files = task.files
    if not flags & CLONE_FILES and files.account is not None \
            and not files.account.fits(files.charge_bytes):
        return -errno.ENOMEM  # dup_fd: the descriptor table's copy is refused
    try:
        child = task.coffer.lifecycle.clone(task, args, pid_ns)
    except MmError:
        return -errno.ENOMEM  # dup_mmap could not copy the address space
    clone_namespaces(task, child, flags)
    costs = task.coffer.config.kernel_costs
    task.charge(costs.thread_create_work if flags & CLONE_THREAD else costs.fork_work)
    if not flags & CLONE_VM:
        task.charge(address_space_work(costs, task.mm))
    if flags & CLONE_VFORK and child.vfork_done is not None:
        task.vfork_child = pid_vnr(task, child.pid)  # (as numbered now: it may be reaped)
        raise Block([child.vfork_done], interruptible=False)
    return pid_vnr(task, child.pid)


def address_space_work(costs: KernelCosts, mm: AddressSpace) -> int:
    """What copying ``mm`` costs a fork beyond a small process's (``fork_work``): each
    mapping (dup_mmap) and each resident page (copy_page_range) above the shape that
    cost was measured on (:data:`~cofferos.sim.costmodel.SMALL_PROCESS_MAPPINGS`, ...)."""
    return (costs.fork_mapping_work * max(0, len(mm.vmas) - SMALL_PROCESS_MAPPINGS)
            + costs.fork_page_work * max(0, mm.resident_pages - SMALL_PROCESS_PAGES))


def sys_clone(task: Task, flags: int, stack: int, parent_tid: int, child_tid: int,
              tls: int) -> int:
    return _clone(task, CloneArgs(flags & 0xFFFFFFFF, stack, parent_tid, child_tid, tls))


def sys_fork(task: Task) -> int:
    return _clone(task, CloneArgs(signal.SIGCHLD))


def sys_vfork(task: Task) -> int:
    return _clone(task, CloneArgs(CLONE_VM | CLONE_VFORK | signal.SIGCHLD))


def sys_clone3(task: Task, uargs: int, size: int) -> int:
    return -errno.ENOSYS  # libc falls back to clone(2)


def register(table: SyscallTable) -> None:
    table.add("clone", sys_clone, "hex", "ptr", "ptr", "ptr", "ptr")
    table.add("fork", sys_fork)
    table.add("vfork", sys_vfork)
    table.add("clone3", sys_clone3, "ptr", "size")



