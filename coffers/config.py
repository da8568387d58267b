"""What defines a coffer, and what a run of one reports: :class:`CofferConfig`, :class:`RunResult`.

Kept apart from :mod:`cofferos.coffers.coffer` (the kernel object itself) so that the
configuration a user writes, with every field's default and meaning, reads in one
sitting; ``cofferos.coffers.coffer`` re-exports both names.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cofferos.coffers.task import ExitStatus
from cofferos.errors import ConfigError
from cofferos.isa.costs import DEFAULT_COSTS, InstructionCosts
from cofferos.sim.costmodel import DEFAULT_KERNEL_COSTS, KernelCosts

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer

CYCLE_MODELS = ("simple", "mca")  #: CofferConfig.cycle_model: cofferos.isa.costs, .mca
GIB = 1 << 30
KIB = 1024
NS_PER_SECOND = 1_000_000_000
#: The coffer's wall clock at boot: 2026-01-01T00:00:00Z. Fixed, so runs repeat.
DEFAULT_EPOCH_NS = 1_767_225_600 * NS_PER_SECOND
MEMINFO = "/proc/meminfo"  #: the host's memory figures (MemAvailable, in KiB)


@functools.cache
def host_disk_limit() -> int:
    """What the host can hold of a coffer's files: its available memory (MemAvailable
    of /proc/meminfo, else the free physical pages), at least one GiB. Measured once
    per process, so every configuration made in a run has the same default."""
    available = 0
    try:
        with open(MEMINFO, encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * KIB
                    break
    except (OSError, ValueError, IndexError):
        pass
    if not available:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            available = 0
    return max(available, GIB)


@dataclass(frozen=True)
class CofferConfig:
    """Everything that defines a coffer. Each field: default, then meaning."""

    name: str = "coffer0"
    """A label for reports."""
    rootfs: str | None = None
    """Host directory imported copy-on-write as the root filesystem (None: empty)."""
    image: str | None = None
    """Container image as the read-only lower layer of the root filesystem, the coffer's
    writes kept in memory above it: a ``docker export`` or ``docker save`` tarball, an
    OCI image layout (a tar or a directory), or an unpacked tree (None: ``rootfs``, else
    empty).
    Programs are then looked up inside the image (see ``cofferos.coffers.fs.image``)."""
    hostname: str = "coffer"
    """What uname(2) reports as the node name."""
    cwd: str = "/"
    """Working directory of the first task."""
    seed: int = 0
    """Seeds AT_RANDOM, getrandom(2) and /dev/urandom: same seed, same run."""
    memory_limit: int = 4 * GIB
    """Bytes of address space the coffer may map in all; past it mmap/brk fail."""
    nofile_limit: int | None = None
    """RLIMIT_NOFILE, soft and hard: descriptors per process (None: the simulator's own
    limits when it started, as a process started on this host gets them)."""
    instruction_limit: int | None = None
    """Kill a task with SIGXCPU after this many instructions (None: no limit)."""
    epoch_ns: int = DEFAULT_EPOCH_NS
    """CLOCK_REALTIME at boot, in nanoseconds since 1970."""
    kernel_costs: KernelCosts = DEFAULT_KERNEL_COSTS
    """Cycle costs of kernel work (see cofferos.sim.costmodel)."""
    instruction_costs: InstructionCosts = DEFAULT_COSTS
    """Cycle costs of guest instructions (see cofferos.isa.costs)."""
    cycle_model: str = "simple"
    """User-mode cycles per block: ``simple`` (each instruction its table cost, about one
    instruction a cycle) or ``mca`` (llvm-mca's throughput for the block on ``mca_cpu``,
    cached, plus a gshare predictor's mispredicted conditional branches; see
    cofferos.isa.mca). The instruction count is exact under both."""
    mca_cpu: str = "native"
    """The core llvm-mca models under ``cycle_model="mca"`` (an -mcpu name, e.g. skylake;
    ``native``: this host's)."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables for the first task, after the defaults."""
    count_instructions: bool = True
    """Count and cost every instruction (off: a functional-only run, counters stay 0)."""
    personalities: tuple[str, ...] = ()
    """The coffer's personality stack, in order, as NAME[:key=value,...] specs."""
    personality_changes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Live changes: (trigger, specs) with trigger ``at_ns=N`` (simulated time) or
    ``after=CALL:N`` (once CALL has completed N times); specs replace the stack."""
    page_faults: bool = False
    """Charge first-touch page faults (a virtual-TLB hook; about 2 us of host time per
    system call, so on for timed runs, off for functional ones)."""
    slice_instructions: int = 1_000_000
    """Instructions a task runs before the scheduler moves to the next runnable task."""
    nproc_limit: int = 4096
    """RLIMIT_NPROC: processes the coffer may hold at once; fork past it is EAGAIN."""
    disk_limit: int = field(default_factory=lambda: host_disk_limit())
    """Bytes the coffer's regular files may hold in all (its disk quota); past it ENOSPC.
    Files live in host memory, so the default is the host memory available when the
    configuration is made (:func:`host_disk_limit`); ``--disk-limit`` changes it."""
    address: str = "10.0.0.1"
    """The coffer's IPv4 address on its VirtualNetwork (with none, it routes to itself)."""
    host_mounts: tuple[tuple[str, str], ...] = ()
    """(coffer path, host directory) pairs mounted at start, each imported copy-on-write
    as ``--rootfs`` is (as a personality's ``mounts`` are): an experiment's own files
    laid over a container image (:func:`cofferos.sim.experiment.with_image`)."""
    max_host_seconds: float | None = None
    """Host CPU seconds the coffer may use (its guest code and the kernel work it causes);
    past them its processes die of SIGXCPU and one line on stderr says so (None: no limit)."""

    def __post_init__(self) -> None:
        if self.cycle_model not in CYCLE_MODELS:
            raise ConfigError(f"unknown cycle model {self.cycle_model!r}: choose one of "
                              f"{', '.join(CYCLE_MODELS)}")
        if self.image is not None and self.rootfs is not None:
            raise ConfigError("an image and a rootfs both give the root filesystem: "
                              "choose one")


@dataclass
class RunResult:
    """What a run of a coffer did: its init process's status and the counters."""

    exit_status: ExitStatus
    instructions: int
    user_cycles: int
    kernel_cycles: int
    simulated_ns: int
    syscalls: dict[str, int]
    unimplemented_syscalls: dict[str, int]
    oopses: list[str] = field(default_factory=list)
    deadlocked: bool = False
    #: Host seconds spent in each personality hook (``NAME.HOOK``): what a slow
    #: plugin costs the simulator (``KernelStats.personality_host_ns``).
    personality_host_seconds: dict[str, float] = field(default_factory=dict)
    #: What each personality published (``Personality.counters``) at the end of the
    #: run, keyed by its name in stack order (``NAME#2`` for a second of one name).
    personality_counters: dict[str, dict[str, int | float]] = field(default_factory=dict)
    #: The coffer that ran (its files, processes, personalities: ``coffer.fs``,
    #: ``coffer.dispatcher.personalities``), to look inside after the run. It holds
    #: engines and host memory, so it is not pickled (None after unpickling).
    coffer: Coffer | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "coffer": None}

    @property
    def exit_code(self) -> int:
        return self.exit_status.shell_status

    @property
    def end_reason(self) -> str:
        """How the run ended: a key of :data:`~cofferos.coffers.task.END_REASONS`."""
        return self.exit_status.end_reason
