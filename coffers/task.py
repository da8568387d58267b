"""Tasks and processes: Linux's ``task_struct`` and the state a thread group shares.

A :class:`Task` is one guest thread: its pid (the thread id), its saved
registers when it is not on the CPU, its signal mask and thread-directed
pending signals, and its sleep state. It points to state it may share with
other tasks:

* the :class:`~cofferos.isa.cpu.Cpu` (one Unicorn engine = one address space)
  and its :class:`~cofferos.coffers.mm.AddressSpace`, shared by CLONE_VM;
* the :class:`~cofferos.coffers.fdtable.FdTable` (CLONE_FILES) and the
  :class:`FsContext` (CLONE_FS);
* the :class:`Process` (CLONE_THREAD): thread group id, parent, children,
  process group and session, signal handlers and process-directed signals,
  resource limits, interval timer, exit status, the executable.

Every task belongs to exactly one :class:`~cofferos.coffers.coffer.Coffer` and
reaches kernel-wide state only through it.
"""

from __future__ import annotations

import enum
import resource
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_FULL_SET
from cofferos.coffers.fdtable import FdTable
from cofferos.coffers.files import NR_OPEN
from cofferos.coffers.fs import Inode
from cofferos.coffers.mm import AddressSpace
from cofferos.coffers.signals import SignalHandlers, SignalQueue
from cofferos.coffers.wait import WaitQueue
from cofferos.isa.cpu import Cpu

if TYPE_CHECKING:
    from unicorn.unicorn import UcContext

    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.fs.mnt_ns import MountNamespace
    from cofferos.coffers.ipc_shm import ShmIds
    from cofferos.coffers.itimers import CpuItimer
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.pid_ns import PidNamespace
    from cofferos.coffers.syscalls.nsproxy import CgroupNamespace, UtsNamespace
    from cofferos.coffers.timens import TimeNamespace
    from cofferos.coffers.userns import UserNamespace

DEFAULT_UMASK = 0o022
TASK_COMM_LEN = 16  #: Linux keeps 15 characters of the command name plus NUL
RLIM_INFINITY = (1 << 64) - 1
MQ_BYTES_MAX = 819200  #: RLIMIT_MSGQUEUE's boot value (include/uapi/linux/resource.h)
STACK_LIMIT = 8 << 20  # the 8 MiB RLIMIT_STACK most distributions set
DEFAULT_NPROC = 4096


#: RLIMIT_NOFILE (soft, hard) of the simulator when it started: what a process started
#: on this host gets (a shell's, a container runtime's), and so a coffer's first
#: process unless its ``nofile_limit`` is set. Read once: the simulator raises its own
#: soft limit later if its guest memory files need it (isa/cowmem.py).
HOST_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)


def nofile_limits(configured: int | None) -> tuple[int, int]:
    """RLIMIT_NOFILE (soft, hard) of a coffer's first process: ``configured`` for both,
    else the host's (:data:`HOST_NOFILE`), no higher than fs.nr_open allows."""
    if configured is not None:
        return configured, configured
    soft, hard = (NR_OPEN if value < 0 or value > NR_OPEN else value  # (-1: RLIM_INFINITY)
                  for value in HOST_NOFILE)
    return min(soft, hard), hard


def default_rlimits(nofile: int | None,
                    nproc: int = DEFAULT_NPROC) -> dict[int, tuple[int, int]]:
    """Resource limits of a new process: (soft, hard) by RLIMIT_* number."""
    return {
        resource.RLIMIT_STACK: (STACK_LIMIT, RLIM_INFINITY),
        resource.RLIMIT_NOFILE: nofile_limits(nofile),
        resource.RLIMIT_CORE: (0, RLIM_INFINITY),
        resource.RLIMIT_NPROC: (nproc, nproc),
        resource.RLIMIT_MSGQUEUE: (MQ_BYTES_MAX, MQ_BYTES_MAX),
    }


class TaskState(enum.Enum):
    """The letters /proc shows."""

    RUNNABLE = "R"
    SLEEPING = "S"
    STOPPED = "T"
    EXITED = "Z"


@dataclass
class FsContext:
    """The filesystem view of a process (``fs_struct``): cwd and umask."""

    cwd: Inode
    umask: int = DEFAULT_UMASK


@dataclass(frozen=True)
class Credentials:
    """A process's ids (``struct cred``): real, effective, saved and filesystem uid
    and gid, the supplementary groups (sorted, as Linux keeps them), the capability
    sets as bit masks and the securebits (see :mod:`cofferos.coffers.capability`).
    Immutable: a change makes new credentials (prepare_creds / commit_creds)."""

    uid: int = 0
    euid: int = 0
    gid: int = 0
    egid: int = 0
    suid: int = 0
    sgid: int = 0
    groups: tuple[int, ...] = ()
    fsuid: int = 0
    fsgid: int = 0
    cap_effective: int = CAP_FULL_SET
    cap_permitted: int = CAP_FULL_SET
    cap_inheritable: int = 0
    cap_bset: int = CAP_FULL_SET
    securebits: int = 0
    #: The user namespace the ids live in (:mod:`cofferos.coffers.userns`); None: the
    #: coffer's initial one. The ids themselves are always kernel ids.
    userns: UserNamespace | None = None


#: Why a process ended, in words a report prints: how the program ended itself
#: (``exit``, ``signal``), or which part of the kernel model ended it. The kernel
#: puts the reason in the ExitStatus where it decides the kill; reports carry it up.
END_REASONS: dict[str, str] = {
    "exit": "the program exited",
    "signal": "a signal killed the program",
    "deadlock": "every task was blocked with nothing left to wake it",
    "instruction-limit": "the instruction limit was reached",
    "host-time-limit": "it used its host CPU budget (--max-host-seconds)",
    "oom-kill": "the OOM killer of the kernel model killed it",
    "personality-kill": "a personality killed it",
    "personality-failure": "a personality failed (a hook raised, or returned a wrong value)",
    "oops": "a bug in the kernel model (an oops) killed it",
    "panic": "a kernel panic killed it",
    "time-limit": "the machine's time limit cut it off",
}


@dataclass
class ExitStatus:
    """How a process ended: a normal exit code, or the signal that killed it.

    ``cause`` says which part of the kernel model ended it (a key of
    :data:`END_REASONS`; empty: the program itself or a signal sent to it), and
    ``detail`` what it said (an oops' exception, a personality's reason). Neither
    takes part in comparisons: the status is the same status whatever its cause.
    """

    code: int = 0
    signal: int = 0
    core_dumped: bool = False
    cause: str = field(default="", compare=False)
    detail: str = field(default="", compare=False)

    @property
    def end_reason(self) -> str:
        """A key of :data:`END_REASONS`: the cause, else ``signal`` or ``exit``."""
        return self.cause or ("signal" if self.signal else "exit")

    @property
    def shell_status(self) -> int:
        """The status a shell reports: the code, or 128 + the signal."""
        return 128 + self.signal if self.signal else self.code

    @property
    def wait_status(self) -> int:
        """The status word wait4(2) stores (see <bits/waitstatus.h>)."""
        if self.signal:
            return self.signal | (0x80 if self.core_dumped else 0)
        return (self.code & 0xFF) << 8


@dataclass(eq=False)
class Process:
    """A thread group: what CLONE_THREAD shares (``signal_struct`` and friends)."""

    tgid: int
    parent: Process | None
    pgid: int
    sid: int
    handlers: SignalHandlers
    rlimits: dict[int, tuple[int, int]]
    creds: Credentials = field(default_factory=Credentials)
    threads: list[Task] = field(default_factory=list)
    children: list[Process] = field(default_factory=list)
    pending: SignalQueue = field(default_factory=SignalQueue)
    exit_status: ExitStatus | None = None
    exit_signal: int = 0  #: sent to the parent when this process ends (SIGCHLD)
    zombie: bool = False
    #: The signal that stopped the process, until a wait4 with WUNTRACED has reported
    #: it (the group's exit code with SIGNAL_STOP_STOPPED); a SIGCONT clears it.
    stop_report: int = 0
    reaped: bool = False  #: wait4 released it (release_task): its pid is free again
    child_exit: WaitQueue = field(default_factory=WaitQueue)
    #: Woken when the process exits (struct pid's wait_pidfd): its pidfds turn readable.
    pidfd_wait: WaitQueue = field(default_factory=WaitQueue)
    exe_inode: Inode | None = None
    exe_path: str = ""
    argv: list[bytes] = field(default_factory=list)
    envp: list[bytes] = field(default_factory=list)
    comm: str = ""
    alarm_deadline_ns: int | None = None
    alarm_interval_ns: int = 0
    #: ITIMER_VIRTUAL and ITIMER_PROF, by which (:mod:`cofferos.coffers.itimers`).
    cpu_itimers: dict[int, CpuItimer] = field(default_factory=dict)
    user_cycles: int = 0
    kernel_cycles: int = 0
    start_ns: int = 0
    #: Cycles of reaped children and their reaped descendants (signal_struct's cutime, cstime).
    children_user_cycles: int = 0
    children_kernel_cycles: int = 0
    nice: int = 0  #: -20 (most favoured) .. 19, getpriority/setpriority
    dumpable: int = 1  #: prctl PR_SET_DUMPABLE
    no_new_privs: bool = False  #: prctl PR_SET_NO_NEW_PRIVS: kept across fork and exec
    personality: int = 0  #: personality(2) flags (syscalls/exec_domain.py): PER_LINUX
    #: The UTS names (syscalls/nsproxy.py), shared with children; None: the coffer's own.
    uts: UtsNamespace | None = None
    #: The mount namespace (coffers/fs/mnt_ns.py), shared with children unless
    #: CLONE_NEWNS; None: the coffer's first one.
    mnt_ns: MountNamespace | None = None
    #: The System V IPC namespace (coffers/ipc_shm.py), shared with children unless
    #: CLONE_NEWIPC; None: the coffer's first one.
    ipc_ns: ShmIds | None = None
    #: The PID namespace the process's pid is in (coffers/pid_ns.py); None: the
    #: coffer's own. pid_ns_for_children: where its next children go (None: pid_ns).
    pid_ns: PidNamespace | None = None
    pid_ns_for_children: PidNamespace | None = None
    #: The network namespace new sockets go in (coffers/net/namespace.py), shared with
    #: children unless CLONE_NEWNET; None: the coffer's first one.
    net_ns: NetNamespace | None = None
    #: The time namespace (coffers/timens.py) and where the next children go (None:
    #: time_ns); None: the coffer's first one, without offsets.
    time_ns: TimeNamespace | None = None
    time_ns_for_children: TimeNamespace | None = None
    #: The cgroup namespace (syscalls/nsproxy.py), shared with children unless
    #: CLONE_NEWCGROUP; None: the coffer's first one.
    cgroup_ns: CgroupNamespace | None = None
    foreign_code: bool = False  #: executable memory other than the program file was mapped

    @property
    def system_cycles(self) -> int:
        """Kernel cycles spent for this process's threads so far."""
        return sum(thread.kernel_cycles for thread in self.threads)

    def account_reaped(self, child: Process) -> None:
        """A child was reaped: its times, and its reaped children's, become ours."""
        self.children_user_cycles += child.user_cycles + child.children_user_cycles
        self.children_kernel_cycles += child.system_cycles + child.children_kernel_cycles

    @property
    def live_threads(self) -> list[Task]:
        return [t for t in self.threads if t.alive]


class Task:
    """One guest thread and the process state it shares."""

    def __init__(self, coffer: Coffer, pid: int, process: Process, cpu: Cpu, mm: AddressSpace,
                 files: FdTable, fs: FsContext) -> None:
        self.coffer = coffer
        self.pid = pid
        self.process = process
        self.cpu = cpu
        self.mm = mm
        self.files = files
        self.fs = fs
        self.context: UcContext | None = None  #: registers while off the CPU
        self.state = TaskState.RUNNABLE
        coffer.live_task_count += 1
        self.exit_status: ExitStatus | None = None
        self.clear_child_tid = 0
        self.robust_list = 0
        self.rseq_area = 0
        self.kernel_cycles = 0
        self.user_cycles = 0
        self.instructions = 0
        # Signals: this thread's mask and its own pending queue.
        self.blocked = 0
        self.saved_blocked: int | None = None  #: sigsuspend's mask to restore after delivery
        self.pending = SignalQueue()
        self.altstack = (0, 0, 0)  #: (ss_sp, ss_flags, ss_size)
        self.sigwait_set = 0  #: signals rt_sigtimedwait is waiting for
        # Sleeping in the kernel (see cofferos.coffers.wait).
        self.wait_queues: tuple[WaitQueue, ...] = ()
        self.deadline_ns: int | None = None
        self.interruptible = True
        self.wakeup: str | None = None
        self.interrupted = False
        self.vfork_done: WaitQueue | None = None  #: a vfork parent waits here
        self.vfork_child: int | None = None  #: a vfork parent: the child it waits for
        self.futex_bitset = 0  #: FUTEX_WAIT_BITSET's mask while waiting
        self.futex_woken: object = None  #: the key of the futex a FUTEX_WAKE woke it on
        self.sleep_deadline = 0  #: nanosleep's wake-up time, kept across its retries
        self.pdeath_signal = 0  #: prctl PR_SET_PDEATHSIG (stored only; a child starts at 0)
        self.policy = 0  #: sched_setscheduler's policy (SCHED_OTHER)
        self.rt_priority = 0  #: and its static priority (0 for SCHED_OTHER)

    # -- the process this thread belongs to ----------------------------------------
    @property
    def tgid(self) -> int:
        return self.process.tgid

    @property
    def ppid(self) -> int:
        parent = self.process.parent
        return parent.tgid if parent is not None else 0

    @property
    def creds(self) -> Credentials:
        return self.process.creds

    @property
    def rlimits(self) -> dict[int, tuple[int, int]]:
        return self.process.rlimits

    @property
    def comm(self) -> str:
        return self.process.comm

    @property
    def exe_path(self) -> str:
        return self.process.exe_path

    @property
    def argv(self) -> list[bytes]:
        return self.process.argv

    @property
    def envp(self) -> list[bytes]:
        return self.process.envp

    @property
    def alive(self) -> bool:
        return self.state is not TaskState.EXITED

    @property
    def runnable(self) -> bool:
        return self.state is TaskState.RUNNABLE

    def exit(self, status: ExitStatus) -> None:
        """End this thread now; the coffer finishes the bookkeeping (see Coffer.task_exited)."""
        if not self.alive:
            return
        self.exit_status = status
        self.state = TaskState.EXITED
        self.coffer.live_task_count -= 1
        if self.cpu.task is self:
            self.cpu.stop()
        self.coffer.task_exited(self)

    def charge(self, cycles: int) -> None:
        """Add kernel work done on this task's behalf (beyond the call's base cost)."""
        self.kernel_cycles += cycles
        self.coffer.stats.kernel_cycles += cycles

    def __repr__(self) -> str:
        return f"<Task pid={self.pid} tgid={self.tgid} {self.comm!r} {self.state.value}>"
