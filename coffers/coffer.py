"""A Coffer: the entire kernel state of one container, in one object.

This is the CofferOS idea made concrete. A :class:`Coffer` owns everything a
kernel keeps for a container: its tasks and PID numbering, its filesystem, its
clock, its randomness, its limits, its statistics and its system call
dispatcher. There is no module-level kernel state anywhere in the simulator, so
two coffers in one Python process share nothing mutable; the only host objects a
guest reaches are the stdin, stdout and stderr streams handed to the coffer.

Time here is the coffer's own: the cycles its tasks spent in user mode and in the
kernel, turned into nanoseconds at the configured frequency, plus time spent
asleep. On the timing machine (``cofferos.sim.machine``) the machine's simulated
time sets this clock at each slice (``clock_base``); a stand-alone run is exact and
deterministic either way. What configures a coffer and what a run reports live in
:mod:`cofferos.coffers.config`.

This module builds a coffer and runs it; its other parts, each a base class of
:class:`Coffer`, are :mod:`cofferos.coffers.timekeeping` (its clock and TSC),
:mod:`cofferos.coffers.pagefault` (first touches counted and charged) and
:mod:`cofferos.coffers.binfmt` (spawn, and a program loaded into an address space).
"""

from __future__ import annotations

import random
import signal
from dataclasses import replace
from typing import BinaryIO

from cofferos.coffers.binfmt import DEFAULT_PATH as DEFAULT_PATH  # (re-exported)
from cofferos.coffers.binfmt import Binfmt
from cofferos.coffers.config import NS_PER_SECOND, CofferConfig, RunResult
from cofferos.coffers.dnotify import Dnotify
from cofferos.coffers.domain import KernelDomain
from cofferos.coffers.engines import EngineKind, EnginePool
from cofferos.coffers.fs import FileSystem, Inode
from cofferos.coffers.fs.defaults import write_names
from cofferos.coffers.fs.image import image_filesystem
from cofferos.coffers.fs.imagetree import ImageError
from cofferos.coffers.hostbudget import HostTimeBudget
from cofferos.coffers.ipc_shm import ShmIds
from cofferos.coffers.lifecycle import Lifecycle
from cofferos.coffers.mm import ENGINE_BYTES, AddressSpace, MemoryAccount
from cofferos.coffers.net import NetNamespace
from cofferos.coffers.network import VirtualNetwork
from cofferos.coffers.pagefault import PAGE_FAULT_EVENT as PAGE_FAULT_EVENT  # (re-exported)
from cofferos.coffers.pagefault import PageFaults
from cofferos.coffers.procfs import mount_procfs
from cofferos.coffers.sched import Scheduler
from cofferos.coffers.sigdeliver import SignalDelivery
from cofferos.coffers.syscalls.dispatch import KernelStats, SyscallDispatcher
from cofferos.coffers.syscalls.table import SyscallTable, shared_default_table
from cofferos.coffers.syscalls.trace import Tracer
from cofferos.coffers.task import ExitStatus, Process, Task
from cofferos.coffers.timekeeping import NO_TICK, Timekeeping
from cofferos.coffers.tty import mount_devpts
from cofferos.errors import ConfigError
from cofferos.isa.costs import BlockCoster, shared_coster
from cofferos.isa.cpu import Cpu
from cofferos.sim import costreads

RANDOM_CHUNK = 1 << 20  #: random_bytes draws at most this many bytes per call
__all__ = ["Coffer", "CofferConfig", "RunResult"]  #: the last two from .config

INIT_PID = 1
PID_MAX = 32768  #: /proc/sys/kernel/pid_max's classic default


def _model_coster(config: CofferConfig) -> BlockCoster:
    """The shared coster of the configured cycle model. llvm-mca's module (numpy and
    capstone with it, about a fifth of a run's start-up) is imported only for ``mca``
    (issue #17)."""
    if config.cycle_model == "mca":
        from cofferos.isa.mca import model_coster

        return model_coster(config.cycle_model, config.instruction_costs, config.mca_cpu)
    return shared_coster(config.instruction_costs)


class Coffer(Timekeeping, PageFaults, Binfmt):
    """One container's kernel: tasks, memory, files, clock, limits, statistics."""

    #: Take first-touch page faults from the C hook's log in batches (isa/touchlog.py);
    #: False: one callback per fault, as before (tests/test_page_fault_hook.py compares).
    log_touches = True

    def __init__(self, config: CofferConfig | None = None, *,
                 stdin: BinaryIO | int = 0, stdout: BinaryIO | int = 1,
                 stderr: BinaryIO | int = 2, tracer: Tracer | None = None,
                 table: SyscallTable | None = None,
                 network: VirtualNetwork | None = None,
                 domain: KernelDomain | None = None) -> None:
        self.config = config or CofferConfig()
        if costreads.active():  # coffersim sensitivity: note which constants this run reads
            self.config = replace(self.config,
                                  kernel_costs=costreads.costs_for(self.config.kernel_costs))
        self.network = network  #: None: a private network, loopback only
        self.net = NetNamespace(self, self.config.address, network)  #: socket names; attaches
        self.random = random.Random(self.config.seed)
        self.stats = KernelStats()
        self.coster = _model_coster(self.config)
        self.memory = MemoryAccount(self.config.memory_limit)
        #: What its descriptors hold of the host (fdtable.py:FD_BYTES each), bounded by the
        #: memory limit too but kept apart from it: the memory figures a guest reads
        #: (/proc/meminfo, sysinfo) stay what pages make them.
        self.descriptor_space = MemoryAccount(self.config.memory_limit)
        #: What its address spaces' guest blocks hold of the host (isa/blockmap.py:
        #: BLOCK_HOST_BYTES each, as a memory cgroup charges page tables), bounded by the
        #: memory limit and kept apart from it as descriptors are: a map of holes
        #: takes no pages but its blocks, and past this it is ENOMEM.
        self.block_space = MemoryAccount(self.config.memory_limit)
        #: The kernel instance whose global state this coffer sees (its own by default).
        self.domain = domain or KernelDomain(name=self.config.name)
        self.domain.join(self)
        self.dispatcher = SyscallDispatcher(table or shared_default_table(),
                                            self.config.kernel_costs, self.stats, tracer)
        self.dispatcher.personalities.on_change = self._personalities_changed
        costreads.watch_calls(self.stats, self.dispatcher.table, self.config.kernel_costs)
        if self.config.personalities or self.config.personality_changes:
            self._install_personalities()
        self.tasks: dict[int, Task] = {}  #: every thread, by pid, until reaped
        #: Threads created and not yet exited (kept by Task, so asking costs nothing
        #: however many zombies :attr:`tasks` holds).
        self.live_task_count = 0
        self.processes: dict[int, Process] = {}  #: every thread group, by tgid, until reaped
        self.init: Process | None = None
        self.scheduler = Scheduler(self, self.config.slice_instructions)
        self.signals = SignalDelivery(self)
        self.lifecycle = Lifecycle(self)
        self.futexes: dict[tuple[object, int], object] = {}
        self.shm_ids = ShmIds()  #: this coffer's System V shared memory segments
        #: RLIMIT_MSGQUEUE's bytes by (user namespace, real uid) (:mod:`.mqueue`)
        self.mq_user_bytes: dict[tuple[object, int], int] = {}
        self.pipe_count = 0
        #: Cycles of a first-touch page fault (a timing machine adds its architecture's).
        self.page_fault_cycles = self.config.kernel_costs.page_fault
        #: Cycles of an exit on each device request (cofferos.coffers.devio): a timing
        #: machine sets its architecture's ``io_exit``; 0 means devices cost no exit.
        self.device_exit_cycles = 0
        #: Wiped engines of ended processes, for reuse: the coffer's own, unless a run
        #: of many containers gives them one to share (coffers/engines.py).
        self.engines = EnginePool()
        #: Per program file: the block-cost table of its last run (keeps the inode alive).
        self.block_costs: dict[int, tuple[Inode, int, int, object]] = {}
        #: Block-cost tables of host programs by file identity (path, size, mtime), which
        #: a run of many containers with one cost model shares between its coffers, so
        #: that each does not cost the same program's blocks again (None: not shared).
        self.program_costs: dict[tuple[str, int, int], object] | None = None
        self._program_keys: dict[int, tuple[str, int, int]] = {}  #: exe inode -> its key
        self._next_pid = INIT_PID
        self.sleep_ns = 0
        self.user_instructions = 0
        self.user_cycles = 0
        self.slice_start: tuple[Cpu, int] | None = None
        limit = self.config.max_host_seconds
        #: Host CPU time used on this coffer's behalf, against --max-host-seconds (or None).
        self.host_budget = HostTimeBudget(limit) if limit is not None else None
        #: Set by a timing machine: (simulated ns, coffer cycles) at the current slice's start.
        self.clock_base: tuple[int, int] | None = None
        #: current_time_ns's tick, kept inside a slice: (slice_start, clock_base, the
        #: counter's cycle word, first and after-last kernel cycles + counter, the stamp).
        self._tick: tuple[object, ...] = (NO_TICK,)
        self._streams = (stdin, stdout, stderr)
        self.fs = self._root_filesystem()
        self.dnotify = Dnotify(self)
        self.disk = MemoryAccount(self.config.disk_limit)  #: its files' bytes (quota, pool)
        self.fs.sb.space = self.disk
        self.fs.populate_defaults()
        write_names(self.fs, self.config.hostname,
                    self.config.address if network is not None else None)
        from cofferos.coffers.nsfs import NsTable  # (it reads the system call layer's)

        self.nsfs = NsTable(self)  #: the namespaces' inodes (/proc/PID/ns, setns)
        self.procfs = mount_procfs(self)  #: pidfd_send_signal names processes by its dirs
        self.devpts = mount_devpts(self)  #: /dev/pts: the coffer's pseudo-terminals
        self._mounted: set[str] = set()
        self._apply_mounts()

    def _root_filesystem(self) -> FileSystem:
        """The coffer's root: its image, its rootfs, or an empty tree (ConfigError if bad)."""
        config = self.config
        if config.image is not None:
            try:
                return image_filesystem(config.image, size_limit=config.disk_limit,
                                        now_ns=self.current_time_ns)
            except ImageError as err:
                raise ConfigError(f"image {config.image}: {err}") from None
            except OSError as err:  # an image directory that vanished or is unreadable
                raise ConfigError(f"image {config.image}: {err.strerror or err}") from None
        try:
            return (FileSystem.from_host(config.rootfs, now_ns=self.current_time_ns)
                    if config.rootfs else FileSystem(now_ns=self.current_time_ns))
        except OSError as err:  # the host directory is missing, a file, unreadable
            raise ConfigError(f"rootfs {config.rootfs}: {err.strerror or err}") from None

    # -- personalities -----------------------------------------------------------------
    def _install_personalities(self) -> None:
        from cofferos.personalities.stack import available, parse_spec

        known = available()
        self.dispatcher.personalities.replace(
            [parse_spec(spec, known) for spec in self.config.personalities])
        for trigger, specs in self.config.personality_changes:
            kind, _, value = trigger.partition("=")
            stack = [parse_spec(spec, known) for spec in specs]
            if kind == "at_ns" and value.isdigit():
                self.dispatcher.change_personalities(stack, at_ns=int(value))
            elif kind == "after" and value.rpartition(":")[2].isdigit():
                call, _, count = value.rpartition(":")
                self.dispatcher.change_personalities(stack, after=(call, int(count)))
            else:
                raise ConfigError(f"personality change trigger {trigger!r}: expected "
                                  "at_ns=N or after=CALL:N")

    def _personalities_changed(self, stack: object) -> None:
        """A new stack: apply its memory policy (never above the coffer's own limit)
        and its mounts."""
        limit = stack.memory_limit()  # type: ignore[attr-defined]
        own = self.config.memory_limit
        self.memory.limit_bytes = own if limit is None else min(own, limit)
        if hasattr(self, "_mounted"):
            self._apply_mounts()

    def _apply_mounts(self) -> None:
        """Mount each host directory the configuration and the stack ask for,
        copy-on-write, once."""
        for where, host_dir in [*self.config.host_mounts,
                                *self.dispatcher.personalities.mounts()]:
            if where in self._mounted:
                continue
            try:
                view = FileSystem.from_host(host_dir, now_ns=self.current_time_ns)
            except OSError as err:
                raise ConfigError(f"mount {host_dir} at {where}: {err.strerror}") from None
            directory = self.fs.root
            parts = [part for part in where.split("/") if part]
            for part in parts[:-1]:  # make the parents, like mkdir -p
                child = directory.child(part)
                directory = child if child is not None else self.fs.mkdir(directory, part, 0o755)
            self.fs.mount(where, view.root)
            self._mounted.add(where)

    # -- randomness ----------------------------------------------------------------------
    def random_bytes(self, n: int) -> bytes:
        """``n`` bytes of the coffer's seeded stream, drawn a chunk at a time
        (``randbytes`` overflows at 2^28 bytes in one call)."""
        if n <= RANDOM_CHUNK:
            return self.random.randbytes(n)
        return b"".join(self.random.randbytes(min(RANDOM_CHUNK, n - start))
                        for start in range(0, n, RANDOM_CHUNK))

    @property
    def current(self) -> Task | None:
        """The task on the CPU (the caller, inside a system call)."""
        return self.scheduler.current

    # -- pids ---------------------------------------------------------------------------
    def alloc_pid(self) -> int:
        while self._next_pid in self.tasks or self._next_pid in self.processes:
            self._next_pid += 1
            if self._next_pid > PID_MAX:
                self._next_pid = INIT_PID + 1
        pid = self._next_pid
        self._next_pid += 1
        return pid

    # -- programs ---------------------------------------------------------------------------
    def new_cpu(self) -> tuple[Cpu, AddressSpace]:
        """A fresh address space: one engine, its trap bound to this kernel.

        Engines of ended processes are wiped and reused: starting a Unicorn engine
        costs milliseconds, wiping one costs microseconds.
        """
        cpu = self.engines.take(self.engine_kind)
        if cpu is None:
            cpu = Cpu(self.coster, on_syscall=self.dispatcher.trap,
                      counting=self.config.count_instructions,
                      track_pages=self.config.page_faults)
            self.engines.note_made()
        self._bind_engine(cpu)
        return cpu, AddressSpace(cpu, self.memory, ENGINE_BYTES)

    @property
    def engine_kind(self) -> EngineKind:
        """What this coffer's engines have wired in (an engine pool's key)."""
        return self.config.count_instructions, self.config.page_faults

    def _bind_engine(self, cpu: Cpu) -> None:
        """Point an engine, new or from a pool another coffer may share, at this kernel."""
        cpu.coster = self.coster
        cpu.on_syscall = self.dispatcher.trap
        cpu.on_tlb_fill = self._tlb_fill
        cpu.on_first_touch = self._first_touch
        cpu.log_first_touches(self._first_touches if self.log_touches else None)
        cpu.on_rdtsc = self._tsc
        cpu.memory_map.host_charge = self.memory.charge  # fork's frozen pages (isa/cowmem.py)
        cpu.memory_map.block_account = self.block_space

    def retire_cpu(self, process: Process, cpu: Cpu, mm: AddressSpace) -> None:
        """A process ended: keep its block costs for its program, wipe and pool its engine."""
        self.remember_block_costs(process, cpu)
        mm.release()
        # (an engine the pool will drop copies no code to keep: it never runs again)
        cpu.reset(keep_code=self.engines.has_room(self.engine_kind))
        cpu.task = None
        self.engines.give(cpu, self.engine_kind)

    def program_key(self, exe: Inode) -> tuple[str, int, int] | None:
        """The key of ``exe``'s host program in :attr:`program_costs` (None: not one)."""
        return self._program_keys.get(id(exe))

    def remember_block_costs(self, process: Process, cpu: Cpu) -> None:
        """The block costs of a program depend only on its file: keep them for its next run."""
        exe = process.exe_inode
        if exe is not None and not process.foreign_code:
            table = cpu.counter.table_copy()
            self.block_costs[id(exe)] = (exe, exe.mtime_ns, exe.size, table)
            key = self._program_keys.get(id(exe))
            if key is not None and self.program_costs is not None:
                self.program_costs[key] = table

    def futex_wake(self, task: Task, address: int, count: int) -> int:
        from cofferos.coffers.syscalls.futex import futex_wake

        return futex_wake(task, address, count)

    def exit_robust_list(self, task: Task) -> None:
        """A thread ends: the robust futexes it holds are marked owner-died."""
        from cofferos.coffers.syscalls.futex import exit_robust_list

        exit_robust_list(task)

    # -- ends -------------------------------------------------------------------------------
    def wake(self, task: Task, reason: str) -> None:
        self.scheduler.wake(task, reason)

    def task_exited(self, task: Task) -> None:
        self.lifecycle.task_exited(task)

    def kill_process(self, process: Process, status: ExitStatus) -> None:
        self.lifecycle.kill_process(process, status)

    def host_time_spent(self) -> None:
        """The host-time budget is spent: every process dies of SIGXCPU, once; the end
        reason ``host-time-limit`` says so (the CLI prints it as the run's end line)."""
        if self.stats.host_time_kills:
            return
        self.stats.host_time_kills += 1
        budget = self.host_budget
        assert budget is not None
        detail = (f"{self.config.name} used {budget.used:.2f} host CPU seconds, "
                  f"limit {budget.limit:g}")
        for process in list(self.processes.values()):
            self.kill_process(process, ExitStatus(signal=signal.SIGXCPU, core_dumped=True,
                                                  cause="host-time-limit", detail=detail))

    def kill_task(self, task: Task, sig: int, cause: str = "", detail: str = "") -> None:
        """Kill ``task``'s process with ``sig``; ``cause`` (a key of END_REASONS) and
        ``detail`` say why, when the kernel model decided it."""
        status = ExitStatus(signal=sig, core_dumped=sig in CORE_SIGNALS, cause=cause,
                            detail=detail)
        self.lifecycle.kill_process(task.process, status)

    # -- running ----------------------------------------------------------------------
    def run(self) -> RunResult:
        """Run until the coffer's init process has exited; report on it."""
        if self.init is None:
            raise RuntimeError("nothing to run: spawn a program first")
        self.scheduler.run()
        return self.result()

    def result(self) -> RunResult:
        assert self.init is not None
        counters, failed = self.dispatcher.personalities.counters()
        return RunResult(
            exit_status=self.init.exit_status or ExitStatus(),
            instructions=self.user_instructions,
            user_cycles=self.user_cycles,
            kernel_cycles=self.stats.kernel_cycles,
            simulated_ns=self.monotonic_ns(),
            syscalls=self.stats.by_name(),
            unimplemented_syscalls=self.stats.unimplemented_by_name(),
            oopses=[*self.stats.oopses, *(f"{COUNTERS_FAILED}: {err}" for err in failed)],
            deadlocked=self.scheduler.deadlocked,
            personality_host_seconds={key: ns / NS_PER_SECOND for key, ns
                                      in sorted(self.stats.personality_host_ns.items())},
            personality_counters=counters,
            coffer=self,
        )


#: How an oops report of a personality's failed ``counters`` begins (nothing was killed).
COUNTERS_FAILED = "personality counters left out"

#: Signals whose default action dumps core (signal(7)).
CORE_SIGNALS = frozenset({signal.SIGQUIT, signal.SIGILL, signal.SIGABRT, signal.SIGFPE,
                          signal.SIGSEGV, signal.SIGBUS, signal.SIGSYS, signal.SIGTRAP,
                          signal.SIGXCPU, signal.SIGXFSZ})
