"""A Coffer: the entire kernel state of one container, in one object.

This is the CofferOS idea made concrete. A :class:`Coffer` owns everything a
kernel keeps for a container: its tasks and PID numbering, its filesystem, its
clock, its randomness, its limits, its statistics and its system call
dispatcher. There is no module-level kernel state anywhere in the simulator, so
two coffers in one Python process share nothing mutable; the only host objects a
guest reaches are the stdin, stdout and stderr streams handed to the coffer.

Time here is the coffer's own: the cycles its tasks spent in user mode and in the
kernel, turned into nanoseconds at the configured frequency, plus time spent
asleep. The SimPy machine (``cofferos.sim``) will later drive this clock from
outside; for a stand-alone run it is exact and deterministic.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from cofferos.coffers.files import FdTable, HostStream
from cofferos.coffers.fs import FileSystem
from cofferos.coffers.mm import AddressSpace
from cofferos.coffers.syscalls.dispatch import KernelStats, SyscallDispatcher
from cofferos.coffers.syscalls.table import SyscallTable, default_table
from cofferos.coffers.syscalls.trace import Tracer
from cofferos.coffers.task import Credentials, ExitStatus, FsContext, Task
from cofferos.isa.costs import DEFAULT_COSTS, InstructionCosts, shared_coster
from cofferos.isa.cpu import Cpu
from cofferos.isa.elf import read_elf
from cofferos.isa.loader import load_image
from cofferos.sim.costmodel import DEFAULT_KERNEL_COSTS, KernelCosts

GIB = 1 << 30
NS_PER_SECOND = 1_000_000_000
#: The coffer's wall clock at boot: 2026-01-01T00:00:00Z. Fixed, so runs repeat.
DEFAULT_EPOCH_NS = 1_767_225_600 * NS_PER_SECOND
INIT_PID = 1
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class CofferConfig:
    """Everything that defines a coffer. Each field: default, then meaning."""

    name: str = "coffer0"
    """A label for reports."""
    rootfs: str | None = None
    """Host directory imported copy-on-write as the root filesystem (None: empty)."""
    hostname: str = "coffer"
    """What uname(2) reports as the node name."""
    cwd: str = "/"
    """Working directory of the first task."""
    seed: int = 0
    """Seeds AT_RANDOM, getrandom(2) and /dev/urandom: same seed, same run."""
    memory_limit: int = 4 * GIB
    """Bytes of address space the coffer may map in all; past it mmap/brk fail."""
    nofile_limit: int = 1024
    """RLIMIT_NOFILE: descriptors per process."""
    instruction_limit: int | None = None
    """Kill a task with SIGXCPU after this many instructions (None: no limit)."""
    epoch_ns: int = DEFAULT_EPOCH_NS
    """CLOCK_REALTIME at boot, in nanoseconds since 1970."""
    kernel_costs: KernelCosts = DEFAULT_KERNEL_COSTS
    """Cycle costs of kernel work (see cofferos.sim.costmodel)."""
    instruction_costs: InstructionCosts = DEFAULT_COSTS
    """Cycle costs of guest instructions (see cofferos.isa.costs)."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables for the first task, after the defaults."""
    count_instructions: bool = True
    """Count and cost every instruction (off: a functional-only run, counters stay 0)."""


@dataclass
class RunResult:
    """What a run of a coffer did: the first task's status and the counters."""

    exit_status: ExitStatus
    instructions: int
    user_cycles: int
    kernel_cycles: int
    simulated_ns: int
    syscalls: dict[str, int]
    unimplemented_syscalls: dict[str, int]
    oopses: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.exit_status.shell_status


class Coffer:
    """One container's kernel: tasks, memory, files, clock, limits, statistics."""

    def __init__(self, config: CofferConfig | None = None, *,
                 stdin: BinaryIO | int = 0, stdout: BinaryIO | int = 1,
                 stderr: BinaryIO | int = 2, tracer: Tracer | None = None,
                 table: SyscallTable | None = None) -> None:
        self.config = config or CofferConfig()
        self.random = random.Random(self.config.seed)
        self.stats = KernelStats()
        self.coster = shared_coster(self.config.instruction_costs)
        self.dispatcher = SyscallDispatcher(table or default_table(), self.config.kernel_costs,
                                            self.stats, tracer)
        self.tasks: dict[int, Task] = {}
        self._next_pid = INIT_PID
        self.sleep_ns = 0
        self._streams = (stdin, stdout, stderr)
        self.fs = (FileSystem.from_host(self.config.rootfs, now_ns=self.realtime_ns)
                   if self.config.rootfs else FileSystem(now_ns=self.realtime_ns))
        self.fs.populate_defaults()

    # -- time and randomness -----------------------------------------------------------
    @property
    def cycles(self) -> int:
        """Cycles this coffer's tasks have run, in user mode and in the kernel."""
        user = sum(task.cpu.counter.cycles for task in self.tasks.values())
        return user + self.stats.kernel_cycles

    def monotonic_ns(self) -> int:
        return self.cycles * NS_PER_SECOND // self.config.kernel_costs.frequency_hz + self.sleep_ns

    def realtime_ns(self) -> int:
        return self.config.epoch_ns + self.monotonic_ns()

    def random_bytes(self, n: int) -> bytes:
        return self.random.randbytes(n)

    # -- tasks ------------------------------------------------------------------------
    def _alloc_pid(self) -> int:
        pid = self._next_pid
        self._next_pid += 1
        return pid

    def default_env(self) -> list[str]:
        env = {"PATH": DEFAULT_PATH, "HOME": "/root", "HOSTNAME": self.config.hostname}
        env.update(dict(self.config.env))
        return [f"{key}={value}" for key, value in env.items()]

    def spawn(self, path: str, argv: Sequence[str | bytes] | None = None,
              envp: Sequence[str | bytes] | None = None) -> Task:
        """Load the host executable ``path`` as a new process of this coffer.

        The program's bytes are read from the host once, here; the running guest
        sees only the coffer's own filesystem.
        """
        image = read_elf(path)
        argv = list(argv) if argv is not None else [path]
        envp = list(envp) if envp is not None else self.default_env()
        pid = self._alloc_pid()
        cpu = Cpu(self.coster, on_syscall=_unbound_trap, counting=self.config.count_instructions)
        mm = AddressSpace(cpu, self.config.memory_limit)
        cwd = self.fs.lookup(self.config.cwd, self.fs.root)
        files = FdTable(limit=self.config.nofile_limit)
        for fd, (sink, flags, name) in enumerate(zip(
                self._streams, (os.O_RDONLY, os.O_WRONLY, os.O_WRONLY),
                ("<stdin>", "<stdout>", "<stderr>"), strict=True)):
            files.install_at(fd, HostStream(sink, flags, name))
        comm = os.path.basename(os.fsdecode(argv[0]) if argv else path)
        task = Task(self, pid, 0, cpu, mm, files, FsContext(cwd), Credentials(), comm)
        proc = load_image(image, mm, argv, envp, execfn=os.fsdecode(argv[0]) if argv else path,
                          random_bytes=self.random_bytes(16))
        mm.brk_start = mm.brk = proc.brk_start
        cpu.pc, cpu.sp = proc.entry, proc.stack_pointer
        cpu.on_syscall = self.dispatcher.make_trap(task)
        task.exe_path = path
        task.argv = [a.encode() if isinstance(a, str) else a for a in argv]
        task.envp = [e.encode() if isinstance(e, str) else e for e in envp]
        self.tasks[pid] = task
        return task

    def kill_task(self, task: Task, sig: int) -> None:
        task.exit(ExitStatus(signal=sig, core_dumped=sig in CORE_SIGNALS))

    # -- running ----------------------------------------------------------------------
    def run(self) -> RunResult:
        """Run every task to completion and report on the first one."""
        if not self.tasks:
            raise RuntimeError("nothing to run: spawn a program first")
        limit = self.config.instruction_limit
        for task in list(self.tasks.values()):
            while task.alive:
                task.cpu.run(budget=limit)
                if task.cpu.fault is not None:
                    self.kill_task(task, task.cpu.fault.signal)
                elif limit is not None and task.cpu.counter.stopped_for_budget:
                    self.kill_task(task, signal.SIGXCPU)
        return self.result()

    def result(self) -> RunResult:
        first = self.tasks[min(self.tasks)]
        return RunResult(
            exit_status=first.exit_status or ExitStatus(),
            instructions=sum(t.cpu.counter.instructions for t in self.tasks.values()),
            user_cycles=sum(t.cpu.counter.cycles for t in self.tasks.values()),
            kernel_cycles=self.stats.kernel_cycles,
            simulated_ns=self.monotonic_ns(),
            syscalls=self.stats.by_name(),
            unimplemented_syscalls=self.stats.unimplemented_by_name(),
            oopses=list(self.stats.oopses),
        )


#: Signals whose default action dumps core (signal(7)).
CORE_SIGNALS = frozenset({signal.SIGQUIT, signal.SIGILL, signal.SIGABRT, signal.SIGFPE,
                          signal.SIGSEGV, signal.SIGBUS, signal.SIGSYS, signal.SIGTRAP,
                          signal.SIGXCPU, signal.SIGXFSZ})


def _unbound_trap(cpu: Cpu) -> None:
    raise RuntimeError("SYSCALL before the task was bound to a kernel")
