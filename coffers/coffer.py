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
"""

from __future__ import annotations

import os
import random
import resource
import signal
import stat
from collections.abc import Sequence
from dataclasses import replace
from typing import BinaryIO

from cofferos.coffers import locktrace
from cofferos.coffers.config import NS_PER_SECOND, CofferConfig, RunResult
from cofferos.coffers.dnotify import Dnotify
from cofferos.coffers.domain import KernelDomain
from cofferos.coffers.engines import EngineKind, EnginePool
from cofferos.coffers.fdtable import FdTable
from cofferos.coffers.files import HostStream
from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.fs.defaults import write_names
from cofferos.coffers.fs.hostimport import HostProgramSource
from cofferos.coffers.fs.image import image_filesystem
from cofferos.coffers.fs.imagetree import ImageError
from cofferos.coffers.fs.inode import MAX_IMPORT_SIZE
from cofferos.coffers.hostbudget import HostTimeBudget
from cofferos.coffers.ipc_shm import ShmIds
from cofferos.coffers.itimers import TICK_NSEC
from cofferos.coffers.lifecycle import Lifecycle
from cofferos.coffers.mm import ENGINE_BYTES, AddressSpace, MemoryAccount, MmError
from cofferos.coffers.net import NetNamespace
from cofferos.coffers.network import VirtualNetwork
from cofferos.coffers.procfs import mount_procfs
from cofferos.coffers.program import (
    expose_host_program,
    find_interpreter,
    find_program,
    host_program_path,
    real_path,
    through_scripts,
)
from cofferos.coffers.sched import Scheduler
from cofferos.coffers.sigdeliver import SignalDelivery
from cofferos.coffers.signals import SignalHandlers
from cofferos.coffers.syscalls.dispatch import KernelStats, SyscallDispatcher
from cofferos.coffers.syscalls.table import SyscallTable, default_table
from cofferos.coffers.syscalls.trace import Tracer
from cofferos.coffers.task import ExitStatus, FsContext, Process, Task, default_rlimits
from cofferos.coffers.tty import mount_devpts
from cofferos.errors import ConfigError, ProgramError
from cofferos.isa.costs import BlockCoster, shared_coster
from cofferos.isa.cpu import Cpu
from cofferos.isa.elf import ElfImage, parse_program
from cofferos.isa.loader import check_fits, load_image
from cofferos.isa.progfile import open_host_program
from cofferos.sim import costreads

RANDOM_CHUNK = 1 << 20  #: random_bytes draws at most this many bytes per call
__all__ = ["Coffer", "CofferConfig", "RunResult"]  #: the last two from .config

INIT_PID = 1
PAGE_FAULT_EVENT = 1 << 20  #: the recorder's "call number" for a page fault (no real call)
PID_MAX = 32768  #: /proc/sys/kernel/pid_max's classic default
RANDOM_BYTES = 16  #: AT_RANDOM
COMM_LEN = 15
NO_TICK = object()  #: current_time_ns keeps no tick (no slice has read the clock yet)
EXECUTABLE_MODE = 0o755
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _model_coster(config: CofferConfig) -> BlockCoster:
    """The shared coster of the configured cycle model. llvm-mca's module (numpy and
    capstone with it, about a fifth of a run's start-up) is imported only for ``mca``
    (issue #17)."""
    if config.cycle_model == "mca":
        from cofferos.isa.mca import model_coster

        return model_coster(config.cycle_model, config.instruction_costs, config.mca_cpu)
    return shared_coster(config.instruction_costs)


class Coffer:
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
        self.dispatcher = SyscallDispatcher(table or default_table(), self.config.kernel_costs,
                                            self.stats, tracer)
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

    # -- time and randomness -----------------------------------------------------------
    @property
    def cycles(self) -> int:
        """Cycles this coffer's tasks have run, in user mode and in the kernel, so far."""
        running = 0
        if self.slice_start is not None:
            cpu, start = self.slice_start
            running = cpu.counter.cycles - start
        return self.user_cycles + running + self.stats.kernel_cycles

    def monotonic_ns(self) -> int:
        # The cycles property written out, and the counter's (its word, in whole cycles):
        # clock_gettime reads this clock, and a call costs about 0.1 us (issue #17).
        cycles = self.user_cycles + self.stats.kernel_cycles
        if self.slice_start is not None:
            cpu, start = self.slice_start
            cycles += cpu.counter.cycle_word.whole - start
        frequency = self.config.kernel_costs.frequency_hz
        if self.clock_base is not None:  # driven by a timing machine (cofferos.sim)
            base_ns, base_cycles = self.clock_base
            return base_ns + (cycles - base_cycles) * NS_PER_SECOND // frequency
        return cycles * NS_PER_SECOND // frequency + self.sleep_ns

    def realtime_ns(self) -> int:
        return self.config.epoch_ns + self.monotonic_ns()

    def current_time_ns(self) -> int:
        """The time a file's timestamps take (Linux's current_time): CLOCK_REALTIME_COARSE,
        the real time as of the last timer tick (every :data:`TICK_NSEC`), with tmpfs's
        one-nanosecond granularity. So the writes of one tick give a file one mtime, as
        file_update_time finds the stamp unchanged (Linux 6.1; multigrain stamps came in
        6.13). It is the clock of every inode of the coffer (``Superblock.now_ns``).

        Every write of a file reads it (issue #17), so inside a slice the tick is kept,
        as Linux's coarse clock is a variable the timer tick sets (:meth:`_read_tick`):
        the stamp and the range of the slice's kernel cycles plus its CPU's counter that
        stays in it. The running slice (its ``slice_start`` tuple) and the timing
        machine's ``clock_base`` are the tick's key: the rest of the clock (sleeps, the
        user cycles) changes only between slices, when no slice runs."""
        tick = self._tick
        if (tick[0] is self.slice_start and tick[1] is self.clock_base
                and tick[3] <= self.stats.kernel_cycles + tick[2].whole < tick[4]):  # type: ignore[attr-defined]
            return tick[5]  # type: ignore[return-value]
        return self._read_tick()

    def _read_tick(self) -> int:
        """current_time_ns from the cycles (monotonic_ns's arithmetic), kept for the rest
        of the tick while a slice runs: the tick's range in the slice's kernel cycles plus
        counter, where cycles = user cycles + that sum - the slice's start."""
        slice_start, clock_base = self.slice_start, self.clock_base
        kernel_and_counter = self.stats.kernel_cycles
        if slice_start is not None:
            cpu, start = slice_start
            kernel_and_counter += cpu.counter.cycle_word.whole
            offset = self.user_cycles - start  # cycles = kernel_and_counter + offset
        else:
            offset = self.user_cycles
        cycles = kernel_and_counter + offset
        frequency = self.config.kernel_costs.frequency_hz
        # monotonic = base_ns + (cycles - base_cycles) * NS_PER_SECOND // frequency
        base_ns, base_cycles = (self.sleep_ns, 0) if clock_base is None else clock_base
        monotonic = base_ns + (cycles - base_cycles) * NS_PER_SECOND // frequency
        tick_ns = monotonic - monotonic % TICK_NSEC
        stamp = self.config.epoch_ns + tick_ns
        if slice_start is not None:
            # The first cycle count at which monotonic reaches a time, by the same floor:
            # base_cycles + ceil((time - base_ns) * frequency / NS_PER_SECOND).
            first, after = (base_cycles - offset - (base_ns - ns) * frequency // NS_PER_SECOND
                            for ns in (tick_ns, tick_ns + TICK_NSEC))
            self._tick = (slice_start, clock_base, cpu.counter.cycle_word, first, after, stamp)
        return stamp

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

    def default_env(self) -> list[str]:
        env = {"PATH": DEFAULT_PATH, "HOME": "/root", "HOSTNAME": self.config.hostname}
        env.update(dict(self.config.env))
        return [f"{key}={value}" for key, value in env.items()]

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

    def _tsc(self, _cpu: Cpu) -> int:
        """The time-stamp counter: this coffer's monotonic clock in cycles at the modelled
        frequency, so a guest that times itself with rdtsc sees simulated time."""
        return self.monotonic_ns() * self.config.kernel_costs.frequency_hz // NS_PER_SECOND

    def _tlb_fill(self, cpu: Cpu, address: int) -> int | None:
        """A TLB miss: the page's protection; its first use is a page fault, charged."""
        task = cpu.task
        if task is None:
            return None
        mm = task.mm  # type: ignore[attr-defined]
        prot = mm.protection_at(address)
        if prot is not None and mm.first_touch(address):
            self._page_fault(cpu, task)
        return prot

    def _first_touch(self, cpu: Cpu, _address: int) -> None:
        """The first use of a mapped page, as the compiled TLB hook tells it: a page fault."""
        task = cpu.task
        if task is not None:
            self._page_fault(cpu, task)

    def _first_touches(self, cpu: Cpu, at_cycles: list[int]) -> None:
        """First touches the C hook logged (isa/touchlog.py), each at the counter's
        cycles then: charged and recorded as :meth:`_page_fault` does one by one."""
        task = cpu.task
        if task is None:
            return
        cycles = self.page_fault_cycles
        if not isinstance(cycles, int):  # (a float cost: summed in the same order)
            for at in at_cycles:
                self._page_fault(cpu, task, at)
            return
        faults = len(at_cycles)
        self.stats.page_faults += faults
        task.charge(cycles * faults)  # type: ignore[attr-defined]
        recorder = self.dispatcher.recorder
        if recorder is not None:
            locks = locktrace.fault_records(self) if locktrace.trace is not None else ()
            recorder.extend([(task, PAGE_FAULT_EVENT, at, cycles, locks) for at in at_cycles])

    def _page_fault(self, cpu: Cpu, task: object, at: int | None = None) -> None:
        """Count and charge one first-touch page fault of ``task`` (and record it for
        a timing machine's replay)."""
        self.stats.page_faults += 1
        cycles = self.page_fault_cycles
        task.charge(cycles)  # type: ignore[attr-defined]
        recorder = self.dispatcher.recorder
        if recorder is not None:  # (its locks only while a machine records them)
            locks = locktrace.fault_records(self) if locktrace.trace is not None else ()
            recorder.append((task, PAGE_FAULT_EVENT, cpu.counter.cycles if at is None else at,
                             cycles, locks))

    def retire_cpu(self, process: Process, cpu: Cpu, mm: AddressSpace) -> None:
        """A process ended: keep its block costs for its program, wipe and pool its engine."""
        self.remember_block_costs(process, cpu)
        mm.release()
        cpu.reset()
        cpu.task = None
        self.engines.give(cpu, self.engine_kind)

    def remember_block_costs(self, process: Process, cpu: Cpu) -> None:
        """The block costs of a program depend only on its file: keep them for its next run."""
        exe = process.exe_inode
        if exe is not None and not process.foreign_code:
            table = cpu.counter.table_copy()
            self.block_costs[id(exe)] = (exe, exe.mtime_ns, exe.size, table)
            key = self._program_keys.get(id(exe))
            if key is not None and self.program_costs is not None:
                self.program_costs[key] = table

    def load_program(self, task: Task, image: ElfImage, argv: Sequence[str | bytes],
                     envp: Sequence[str | bytes], exe_inode: Inode, exe_path: str,
                     fresh_cpu: bool = True, interp: ElfImage | None = None) -> None:
        """Give ``task`` a new address space holding ``image`` and its program
        interpreter, if it has one (spawn and execve)."""
        if fresh_cpu:
            cpu, mm = self.new_cpu()
        else:
            cpu, mm = task.cpu, task.mm
        proc = load_image(image, mm, argv, envp, execfn=exe_path,
                          random_bytes=self.random_bytes(RANDOM_BYTES), interp=interp)
        for vma in mm.vmas:  # the image was read under a host path: show the coffer's
            if vma.name == image.path:
                vma.name = exe_path
        mm.brk_start = mm.brk = proc.brk_start
        cpu.pc, cpu.sp = proc.entry, proc.stack_pointer
        known = self.block_costs.get(id(exe_inode))
        shared = (self.program_costs.get(self._program_keys.get(id(exe_inode)))  # type: ignore[arg-type]
                  if self.program_costs is not None else None)
        if known is not None and known[1:3] == (exe_inode.mtime_ns, exe_inode.size):
            cpu.counter.load_table(known[3])
        elif shared is not None:  # the same host file, run by another coffer of the run
            cpu.counter.load_table(shared)
        cpu.task = task
        task.cpu, task.mm, task.context = cpu, mm, None
        process = task.process
        process.exe_inode, process.exe_path = exe_inode, exe_path
        process.argv = [a.encode() if isinstance(a, str) else a for a in argv]
        process.envp = [e.encode() if isinstance(e, str) else e for e in envp]
        name = exe_path.rsplit("/", 1)[-1]
        process.comm = name[:COMM_LEN]

    def spawn(self, path: str, argv: Sequence[str | bytes] | None = None,
              envp: Sequence[str | bytes] | None = None) -> Task:
        """Start the host executable ``path`` as this coffer's init (or a new orphan).

        The program file must be a regular file no larger than the coffer's largest
        file; its headers are read and checked first, then only its segments. Its
        inode, which reads the host file again only if the guest reads it, is linked
        (immutable) at the path it was started by when that path is free in the
        coffer's tree, so the program can re-execute itself; a dynamically linked
        program's interpreter comes from the coffer's tree. The running guest sees
        only the coffer's own filesystem.
        """
        max_size = min(self.fs.sb.max_file_size, MAX_IMPORT_SIZE)  # read whole
        self._working_directory()  # exists before anything is linked next to it
        with open_host_program(path, max_size) as program:
            image = parse_program(program, path)
            interp = find_interpreter(self.fs, image, self.fs.root, None)
            self._check_memory(path, image, interp)
            exe = self.fs.sb.new_inode(stat.S_IFREG | EXECUTABLE_MODE)
            exe.attach_content_source(HostProgramSource(path, program.size, max_size))
            if self.program_costs is not None:
                self._program_keys[id(exe)] = (os.path.realpath(path), program.size,
                                               os.fstat(program.fd).st_mtime_ns)
            try:
                exe.hold_space()
            except FsError as err:
                raise ProgramError(
                    f"{path}: {os.strerror(err.errno)} on the coffer's disk") from None
            argv = list(argv) if argv is not None else [path]
            exe_path = host_program_path(self.fs, self.config.cwd, path,
                                         os.fsdecode(argv[0]) if argv else "")
            expose_host_program(self.fs, exe, exe_path)
            try:
                return self._spawn_image(image, exe, exe_path, argv, envp, interp)
            except MmError as err:
                raise ProgramError(f"{path}: cannot load: {os.strerror(err.errno)}") from None

    def spawn_inside(self, name: str, argv: Sequence[str | bytes] | None = None,
                      envp: Sequence[str | bytes] | None = None) -> Task:
        """Start the program ``name`` of the coffer's own filesystem (a path, or a bare
        name looked up through the guest's PATH), as ``docker run IMAGE NAME`` does; a
        ``#!`` script through its interpreter, as execve runs it."""
        envp = list(envp) if envp is not None else self.default_env()
        where = (f"the image {self.config.image}" if self.config.image is not None
                 else f"the coffer's filesystem (--rootfs {self.config.rootfs})"
                 if self.config.rootfs else "the coffer's filesystem")
        cwd = self._working_directory()
        env = [os.fsdecode(e) for e in envp]
        inode, path = find_program(self.fs, name, cwd, env, where)
        argv = list(argv) if argv is not None else [name]
        inode, path, argv = through_scripts(self.fs, inode, path, argv, cwd, env, where)
        try:
            exe_path = real_path(self.fs, cwd, path)
        except FsError as err:
            raise ProgramError(f"{path}: {os.strerror(err.errno)} in {where}") from None
        try:
            image = parse_program(inode, exe_path)
        except FsError as err:  # the file's bytes could not be read (an image changed)
            raise ProgramError(f"{path}: {os.strerror(err.errno)} reading it") from None
        interp = find_interpreter(self.fs, image, cwd, None)
        self._check_memory(path, image, interp)
        try:
            return self._spawn_image(image, inode, exe_path, argv, envp, interp)
        except MmError as err:
            raise ProgramError(f"{path}: cannot load: {os.strerror(err.errno)}") from None

    def _check_memory(self, path: str, image: ElfImage, interp: ElfImage | None) -> None:
        needed = check_fits(image, interp=interp)
        if not self.memory.fits(needed):
            raise ProgramError(f"{path}: needs {needed} bytes of memory, more than the "
                               f"coffer's limit of {self.memory.limit_bytes}")

    def _spawn_image(self, image: ElfImage, exe: Inode, exe_path: str,
                     argv: Sequence[str | bytes], envp: Sequence[str | bytes] | None,
                     interp: ElfImage | None) -> Task:
        envp = list(envp) if envp is not None else self.default_env()
        pid = self.alloc_pid()
        process = Process(tgid=pid, parent=None, pgid=pid, sid=pid, handlers=SignalHandlers(),
                          rlimits=default_rlimits(self.config.nofile_limit,
                                                  self.config.nproc_limit),
                          start_ns=self.monotonic_ns())
        files = FdTable(limit=process.rlimits[resource.RLIMIT_NOFILE][0],
                        account=self.descriptor_space)
        for fd, (sink, flags, name) in enumerate(zip(
                self._streams, (os.O_RDONLY, os.O_WRONLY, os.O_WRONLY),
                ("<stdin>", "<stdout>", "<stderr>"), strict=True)):
            files.install_at(fd, HostStream(sink, flags, name))
        cwd = self._working_directory()
        cpu, mm = self.new_cpu()
        task = Task(self, pid, process, cpu, mm, files, FsContext(cwd))
        process.threads.append(task)
        try:
            self.load_program(task, image, argv, envp, exe, exe_path, fresh_cpu=False,
                              interp=interp)
        except MmError as err:  # the coffer's (or its kernel's) memory cannot hold it
            pool = self.memory.pool
            shared = f" of the machine's {pool.limit_bytes:,}" if pool is not None else ""
            raise ConfigError(f"{self.config.name}: its program does not fit in the simulated "
                              f"memory it may use ({self.memory.limit_bytes:,} bytes{shared}; "
                              f"{err}): give it more memory or run fewer containers") from None
        self.tasks[pid] = task
        self.processes[pid] = process
        if self.init is None:
            self.init = process
        self.scheduler.enqueue(task)
        return task

    def futex_wake(self, task: Task, address: int, count: int) -> int:
        from cofferos.coffers.syscalls.futex import futex_wake

        return futex_wake(task, address, count)

    def exit_robust_list(self, task: Task) -> None:
        """A thread ends: the robust futexes it holds are marked owner-died."""
        from cofferos.coffers.syscalls.futex import exit_robust_list

        exit_robust_list(task)

    def _working_directory(self) -> Inode:
        """The first task's cwd: a directory in the coffer, else a ConfigError."""
        path = self.config.cwd
        try:  # a trailing slash: the last component must be a directory (ENOTDIR)
            return self.fs.lookup(path.rstrip("/") + "/", self.fs.root)
        except FsError as err:
            raise ConfigError(f"working directory {path} (cwd) in the coffer: "
                              f"{os.strerror(err.errno)}") from None

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
