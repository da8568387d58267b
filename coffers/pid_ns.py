"""PID namespaces inside a coffer (kernel/pid_namespace.c, kernel/pid.c).

A coffer's tasks all have a pid of the coffer's own numbering (``Task.pid``, the
"global" number here: the coffer is itself a container's PID namespace). A process
may make nested PID namespaces, as rootless ``unshare -r -p -f`` and podman do:
``unshare(CLONE_NEWPID)`` puts the caller's *future children* in a new namespace
(:attr:`Process.pid_ns_for_children`), ``clone(CLONE_NEWPID)`` the child itself. The
first process in a new namespace gets its pid 1 and is its init (``child_reaper``).

A task in a nested namespace has one number per level, as Linux's ``struct pid``
has one ``upid`` per level: its coffer pid, and one in each nested namespace from the
outermost down to its own. :class:`PidNamespace` keeps both directions of its own
level's numbers. Every pid a guest sees goes through :func:`pid_vnr` (the number in
the observer's namespace, 0 if it has none there: ``task_tgid_vnr``), and every pid a
guest names through :func:`find_vpid` (None: not visible, ESRCH). A process in the
coffer's own namespace (``pid_ns`` None) takes neither detour: the fast path.

When a namespace's init exits, every other process in the namespace is killed and
reaped (``zap_pid_ns_processes``) and a later fork into it is ENOMEM (PIDNS_ADDING
cleared). Orphans in a namespace go to its init (find_child_reaper). The init
ignores signals for which it has no handler when they come from inside its namespace
(SIGNAL_UNKILLABLE); SIGKILL and SIGSTOP from an ancestor namespace reach it. A proc of
the namespace's own is :mod:`cofferos.coffers.procfs.pidns_proc`'s. Not modelled:
the pids inside proc's files, F_SETOWN's and netlink's pids, setns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from signal import SIGKILL, SIGSTOP
from typing import TYPE_CHECKING

from cofferos.coffers.signals import SIG_DFL

if TYPE_CHECKING:
    from cofferos.coffers.task import Process, Task
    from cofferos.coffers.userns import UserNamespace

MAX_PID_NS_LEVEL = 32  #: include/linux/pid_namespace.h: deeper nesting is ENOSPC
INIT_NR = 1  #: the number a namespace's first process gets
PID_MAX = 4_194_304  #: pid_max (PID_MAX_LIMIT on 64-bit): where a namespace's numbers wrap
RESERVED_PIDS = 300  #: numbers below this are not reused after a wrap (alloc_pid)


@dataclass(eq=False)
class PidNamespace:
    """One nested PID namespace (``struct pid_namespace``): its parent (None: the
    coffer's own), its level (1 for the first nested), the user namespace that owns it,
    its numbers both ways, its init, and whether it still takes new processes."""

    parent: PidNamespace | None
    user_ns: UserNamespace | None
    level: int = 1
    nr_of: dict[int, int] = field(default_factory=dict)  #: coffer pid -> number here
    pid_of: dict[int, int] = field(default_factory=dict)  #: number here -> coffer pid
    next_nr: int = INIT_NR
    reaper: Process | None = None  #: the init (child_reaper), once it exists
    adding: bool = True  #: PIDNS_ADDING: cleared when the init exits

    def chain(self) -> list[PidNamespace]:
        """This namespace and its nested ancestors, innermost first."""
        chain, ns = [], self
        while ns is not None:
            chain.append(ns)
            ns = ns.parent
        return chain

    def alloc(self, pid: int) -> int:
        """The next free number here for the coffer pid ``pid`` (alloc_pid's idr)."""
        nr = self.next_nr
        while nr in self.pid_of:
            nr += 1
            if nr >= PID_MAX:
                nr = RESERVED_PIDS
        self.next_nr = nr + 1
        self.nr_of[pid] = nr
        self.pid_of[nr] = pid
        return nr

    def free(self, pid: int) -> None:
        nr = self.nr_of.pop(pid, None)
        if nr is not None:
            self.pid_of.pop(nr, None)

    def contains(self, process: Process) -> bool:
        """Whether ``process`` is in this namespace or one nested in it."""
        return process.tgid in self.nr_of


def new_pid_ns(parent: PidNamespace | None, user_ns: UserNamespace | None) -> PidNamespace:
    """create_pid_namespace (the caller checked the level against MAX_PID_NS_LEVEL)."""
    level = 1 if parent is None else parent.level + 1
    return PidNamespace(parent, user_ns, level)


def children_ns(process: Process) -> PidNamespace | None:
    """The namespace ``process``'s next children go into (pid_ns_for_children)."""
    ns = process.pid_ns_for_children
    return process.pid_ns if ns is None else ns


def pid_vnr(task: Task, pid: int) -> int:
    """The coffer pid ``pid`` as ``task``'s namespace numbers it (0: not visible)."""
    return pid_nr_of(task.process, pid)


def pid_nr_of(observer: Process, pid: int) -> int:
    """The coffer pid ``pid`` as ``observer``'s namespace numbers it (0: not visible)."""
    ns = observer.pid_ns
    if ns is None:
        return pid
    return ns.nr_of.get(pid, 0)


def find_vpid(task: Task, nr: int) -> int | None:
    """The coffer pid of the number ``nr`` in ``task``'s namespace (None: no such)."""
    ns = task.process.pid_ns
    if ns is None:
        return nr
    return ns.pid_of.get(nr)


def ppid_vnr(task: Task) -> int:
    """getppid: the parent's number, 0 for a parent outside the namespace."""
    parent = task.process.parent
    if parent is None:
        return 0
    return pid_vnr(task, parent.tgid)


def attach(ns: PidNamespace, task: Task, process: Process) -> None:
    """Number a new task in ``ns`` and its nested ancestors; a namespace's first
    process becomes its init."""
    for level in ns.chain():
        level.alloc(task.pid)
    if ns.reaper is None and task.pid == process.tgid:
        ns.reaper = process


def detach(ns: PidNamespace | None, pid: int) -> None:
    """Free the coffer pid ``pid``'s numbers (free_pid)."""
    while ns is not None:
        ns.free(pid)
        ns = ns.parent


def pid_ns_owner(task: Task) -> UserNamespace | None:
    """The user namespace that owns ``task``'s PID namespace (None: the coffer's)."""
    ns = task.process.pid_ns
    return None if ns is None else ns.user_ns


def ns_numbers(ns: PidNamespace | None, pid: int) -> list[int]:
    """/proc/PID/status's NS* fields: the coffer pid, then its number in each nested
    namespace down to ``ns`` (0 where it has none)."""
    return [pid, *(level.nr_of.get(pid, 0) for level in reversed(ns.chain()))] \
        if ns is not None else [pid]


def nr_in(ns: PidNamespace | None, pid: int) -> int:
    """The coffer pid ``pid`` as ``ns`` numbers it (None: the coffer's own; 0: none)."""
    return pid if ns is None else ns.nr_of.get(pid, 0)


def is_ns_init(process: Process) -> bool:
    ns = process.pid_ns
    return ns is not None and ns.reaper is process


def init_ignores(task: Task, target: Process, sig: int, handler: object) -> bool:
    """sig_task_ignored for a namespace's init: a signal it has no handler for is
    dropped unless it is SIGKILL or SIGSTOP from outside the namespace."""
    if not is_ns_init(target) or handler != SIG_DFL:
        return False
    ns = target.pid_ns
    assert ns is not None
    from_outside = not ns.contains(task.process)
    return not (from_outside and sig in (SIGKILL, SIGSTOP))
