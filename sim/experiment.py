"""Running containers on a simulated machine, and what to report.

:func:`run_mix` builds one coffer per :class:`ContainerSpec` (each its own
program, filesystem, seed and address on one virtual network), places them in
kernel domains as the architecture says (one shared kernel, or one per
container: :mod:`cofferos.coffers.domain`), runs them on a
:class:`~cofferos.sim.machine.Machine` and returns one :class:`ContainerReport`
per container plus the machine's breakdown. :func:`run_containers` is the
common case: M containers of the same program.

Operations are what the workload marks on ``/dev/coffer/ops``; a program that
marks none counts its chosen system call (``op_syscall``) or, by
default, one operation per completed run.

:func:`cost_overrides` gives every run inside it ``--cost`` overrides on top of the
costs its caller chose (``coffersim experiment NAME --cost ...``: an experiment
builds its own configurations, and each of its runs takes the overrides here);
:func:`experiment_image` gives every container of every run inside it a container
image as its read-only root (``coffersim experiment NAME --image ...``).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.domain import KernelDomain
from cofferos.coffers.engines import DEFAULT_POOL_SIZE, EnginePool
from cofferos.coffers.mm import MemoryAccount
from cofferos.coffers.network import VirtualNetwork
from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS
from cofferos.errors import ConfigError
from cofferos.results.ops import throughput_and_latency
from cofferos.sim import costreads
from cofferos.sim.kernels import architecture
from cofferos.sim.machine import Machine, MachineConfig, MachineResult

NS_PER_SECOND = 1e9
ADDRESS_PREFIX = "10.0"
#: Bytes of each container's stdout and of its stderr that a run keeps in memory;
#: the rest is counted and dropped (``ContainerReport.output_dropped``), so that a
#: guest printing without end cannot fill the host's memory.
OUTPUT_LIMIT = 16 << 20


#: The ``--cost`` overrides (``NAME=VALUE`` or ``profile=NAME``) every run of
#: :func:`run_mix` applies to its containers' costs; set by :func:`cost_overrides`.
_COST_OVERRIDES: ContextVar[tuple[str, ...]] = ContextVar("cost_overrides", default=())


@contextmanager
def cost_overrides(costs: Sequence[str]) -> Iterator[None]:
    """Every :func:`run_mix` inside takes ``costs`` on top of its configurations' own
    (an experiment that builds its own configurations runs with ``--cost`` this way).
    Bad overrides are a ConfigError now, before anything runs."""
    from cofferos.timing import kernel_costs

    kernel_costs(costs)
    token = _COST_OVERRIDES.set(tuple(costs))
    try:
        yield
    finally:
        _COST_OVERRIDES.reset(token)


def active_cost_overrides() -> tuple[str, ...]:
    """The overrides :func:`cost_overrides` set (empty outside it)."""
    return _COST_OVERRIDES.get()


#: The container image (``--image``) every container of :func:`run_mix` takes as its
#: root; set by :func:`experiment_image`.
_IMAGE: ContextVar[str | None] = ContextVar("experiment_image", default=None)


@contextmanager
def experiment_image(image: str | None) -> Iterator[None]:
    """Every container of every :func:`run_mix` inside has ``image`` as its read-only
    root, its writes on top, as ``compare --image`` gives it (None: their own roots)."""
    token = _IMAGE.set(image)
    try:
        yield
    finally:
        _IMAGE.reset(token)


def active_image() -> str | None:
    """The image :func:`experiment_image` set (None outside it)."""
    return _IMAGE.get()


def with_image(config: CofferConfig) -> CofferConfig:
    """``config`` with the active image as its root (unchanged outside
    :func:`experiment_image`). A ``--rootfs`` directory the experiment wrote for its
    containers (the files they read) is laid over the image: each of its top-level
    directories mounted at its own path, as a bind mount of a volume would be. A
    rootfs with anything else at its top, or an image of the configuration's own, is
    a ConfigError (experiments whose roots are whole trees refuse ``--image`` before
    they run, see :func:`cofferos.sim.isolation.check_image_taken`)."""
    image = _IMAGE.get()
    if image is None or config.image == image:
        return config
    if config.image is not None:
        raise ConfigError(f"--image: container {config.name} has an image of its own")
    if config.rootfs is None:
        return replace(config, image=image)
    return replace(config, image=image, rootfs=None,
                   host_mounts=(*config.host_mounts, *_volumes(config.name, config.rootfs)))


def _volumes(name: str, rootfs: str) -> list[tuple[str, str]]:
    """(/NAME, ROOTFS/NAME) for each top-level entry of ``rootfs``: directories only."""
    volumes = []
    for entry in sorted(os.listdir(rootfs)):
        path = os.path.join(rootfs, entry)
        if not os.path.isdir(path) or os.path.islink(path):
            raise ConfigError(f"--image: container {name}'s own root {rootfs} has "
                              f"{entry!r} at its top, not a directory to lay over the image")
        volumes.append((f"/{entry}", path))
    return volumes


def _with_overrides(config: CofferConfig, overrides: Sequence[str]) -> CofferConfig:
    from cofferos.timing import kernel_costs

    return replace(config, kernel_costs=kernel_costs(overrides, base=config.kernel_costs))


class CappedOutput(io.BytesIO):
    """A container's stdout or stderr: keeps the first ``limit`` bytes, counts the rest.

    The guest's writes all succeed (as on a host pipe nobody reads past a point),
    so the program runs the same whatever it prints.
    """

    def __init__(self, limit: int | None = None) -> None:
        super().__init__()
        self.limit = OUTPUT_LIMIT if limit is None else limit
        self.dropped = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        room = max(self.limit - self.tell(), 0)
        if len(data) > room:
            self.dropped += len(data) - room
            super().write(bytes(data[:room]))
        else:
            super().write(data)
        return len(data)


@dataclass
class ContainerReport:
    name: str
    exit_code: int
    ops: int
    seconds: float
    throughput: float
    p50_us: float | None
    p99_us: float | None
    stdout: bytes = b""
    stderr: bytes = b""
    latency_quantiles: dict[str, float] = field(default_factory=dict)
    """Latency (us) at the CDF points of :data:`cofferos.results.ops.CDF_QUANTILES`."""
    killed_by: int | None = None
    """The signal that ended the container's init, if one did."""
    cut_off: bool = False
    """Still running when the machine's time limit (``until_ns``) stopped it: its
    processes were then killed (``exit_code`` 137), which is no failure of its own."""
    personality_host_seconds: dict[str, float] = field(default_factory=dict)
    """Host seconds spent in each personality hook (``NAME.HOOK``), see RunResult."""
    personality_counters: dict[str, dict[str, int | float]] = field(default_factory=dict)
    """What each personality published at the end (``Personality.counters``), see RunResult."""
    end_reason: str = "exit"
    """How its init ended: a key of :data:`cofferos.coffers.task.END_REASONS`."""
    end_detail: str = ""
    """What the part of the kernel model that ended it said (an oops' exception)."""
    instructions: int = 0
    """Guest instructions its tasks ran."""
    cycles: int = 0
    """Cycles of guest and kernel work done for it."""
    calls: int = 0
    """System calls its kernel served."""
    output_dropped: int = 0
    """Bytes of stdout and stderr past :data:`OUTPUT_LIMIT` that were not kept."""

    @property
    def failed(self) -> bool:
        """Ended with a non-zero status before the time limit."""
        return self.exit_code != 0 and not self.cut_off


@dataclass
class RunReport:
    """One machine run: its configuration, its containers and its breakdown."""

    kernel: str
    cores: int
    containers: list[ContainerReport]
    machine: MachineResult
    host_seconds: float
    simulated_seconds: float
    breakdown: dict[str, float] = field(default_factory=dict)
    remote: MachineResult | None = None
    """A second machine joined to this one by a link (sim/agents/remote.py), if any."""
    link: dict[str, Any] | None = None
    """That link's parameters and what crossed it (messages, summed delay ns)."""

    @property
    def total_throughput(self) -> float:
        return sum(c.throughput for c in self.containers)

    @property
    def per_container_throughput(self) -> float:
        return self.total_throughput / len(self.containers) if self.containers else 0.0

    def row(self) -> dict[str, Any]:
        p50 = [c.p50_us for c in self.containers if c.p50_us is not None]
        p99 = [c.p99_us for c in self.containers if c.p99_us is not None]
        return {
            "kernel": self.kernel, "containers": len(self.containers), "cores": self.cores,
            "throughput_per_container": self.per_container_throughput,
            "throughput_total": self.total_throughput,
            "p50_us": sum(p50) / len(p50) if p50 else None,
            "p99_us": max(p99) if p99 else None,
            **{f"cpu_{k}": v for k, v in self.breakdown.items()},
            "simulated_seconds": self.simulated_seconds, "host_seconds": self.host_seconds,
            "failed_containers": sum(1 for c in self.containers if c.failed),
            "cut_off_containers": sum(1 for c in self.containers if c.cut_off),
        }


def _ops(coffer: Coffer, op_syscall: str | None) -> tuple[int, list[tuple[int, str]]]:
    marks = list(coffer.stats.ops)
    if marks:
        return len(marks), marks
    if op_syscall:
        return coffer.stats.calls[SYSCALL_NUMBERS[op_syscall]], []
    return (1 if coffer.init is not None and coffer.init.exit_status is not None else 0), []


@dataclass(frozen=True)
class ContainerSpec:
    """One container of a mix: its program, arguments and coffer configuration."""

    program: str
    args: tuple[str, ...] = ()
    config: CofferConfig | None = None
    """None: the mix's base configuration (named c<i>, seed base.seed + i)."""
    inside: bool = False
    """``program`` is a program of the coffer's own tree (--rootfs or --image), looked
    up there, not a host path."""


def place(coffer_configs: Sequence[CofferConfig], kernel: str,
          machine: MachineConfig) -> tuple[list[KernelDomain], MemoryAccount | None]:
    """The kernel domain of each container under ``kernel``, and the host RAM they draw on.

    A shared kernel is one domain with the machine's task limit and RAM. Otherwise
    each container is its own domain; when the architecture takes memory from the
    host on demand (``memory_from_host``), every container's account also draws on
    the machine's RAM (returned), else its limit is its own reservation (None).
    """
    arch = architecture(kernel)
    ram = MemoryAccount(machine.memory_bytes)
    if arch.shared_kernel:
        host = KernelDomain(name="host", threads_max=machine.threads_max, memory=ram)
        return [host] * len(coffer_configs), None
    domains = [KernelDomain(name=config.name) for config in coffer_configs]
    return domains, (ram if arch.memory_from_host else None)


def addressed(specs: Sequence[ContainerSpec], base: CofferConfig,
              overrides: Sequence[str] = ()) -> list[CofferConfig]:
    """Each spec's coffer configuration with its address on the virtual network (the
    i-th container's is the i-th of :data:`ADDRESS_PREFIX`'s); a spec's own
    configuration takes the cost ``overrides`` too (``base`` has them already); each
    takes the active image (:func:`experiment_image`)."""
    configs = []
    for index, spec in enumerate(specs):
        own = spec.config or replace(base, name=f"c{index}", seed=base.seed + index)
        if overrides and spec.config is not None:
            own = _with_overrides(own, overrides)
        configs.append(replace(with_image(own), page_faults=True,
                               address=f"{ADDRESS_PREFIX}.{index // 250}.{index % 250 + 1}"))
    return configs


def build_coffers(specs: Sequence[ContainerSpec], configs: Sequence[CofferConfig], kernel: str,
                  machine_config: MachineConfig, network: VirtualNetwork,
                  defer_starts: bool = False,
                  ) -> tuple[list[Coffer], list[tuple[CappedOutput, CappedOutput]],
                             list[tuple[Coffer, Callable[[], object]]]]:
    """The coffers of one machine under ``kernel`` on ``network``, each one's (stdout,
    stderr), and the starts left for the machine to make.

    The coffers share one engine pool. Each program is spawned here, except, with
    ``defer_starts``, a container whose program and arguments an earlier one already
    started: it is returned with its start, for :meth:`Machine.defer_start` to spawn
    it when it first gets a core. The same run, but a container waiting for its turn
    holds no engine and no loaded program, and one that has ended has given its
    engine to the next."""
    domains, host_ram = place(configs, kernel, machine_config)
    host_disk = (MemoryAccount(machine_config.disk_bytes)
                 if architecture(kernel).storage_from_host else None)
    engines = EnginePool(max(DEFAULT_POOL_SIZE, machine_config.cores))  # coffers/engines.py
    program_costs: dict[tuple[str, int, int], object] = {}  #: for the base's cost model
    coffers, streams = [], []
    starts: list[tuple[Coffer, Callable[[], object]]] = []
    spawned: set[tuple[str, tuple[str, ...], bool]] = set()  #: programs started already
    for spec, config, domain in zip(specs, configs, domains, strict=True):
        out, err = CappedOutput(), CappedOutput()
        coffer = Coffer(config, stdin=io.BytesIO(), stdout=out, stderr=err, network=network,
                        domain=domain)
        if host_ram is not None:
            coffer.memory.pool = host_ram
        if host_disk is not None:  # its writable files are host files: one shared disk
            coffer.disk.pool = host_disk
        coffer.engines = engines
        if spec.config is None:  # the base configuration's cost model: one table a program
            coffer.program_costs = program_costs
        start = _starter(coffer, spec)
        kind = (spec.program, spec.args, spec.inside)
        if (defer_starts and spec.config is None and kind in spawned
                and not coffer.dispatcher.personalities):
            starts.append((coffer, start))  # spawned when it first runs: holds nothing now
        else:
            start()  # the first of its kind: a program that cannot start fails here
            spawned.add(kind)
        coffers.append(coffer)
        streams.append((out, err))
    return coffers, streams, starts


def run_mix(specs: Sequence[ContainerSpec], *, kernel: str = "cofferos", cores: int = 1,
            base: CofferConfig | None = None, machine: MachineConfig | None = None,
            op_syscall: str | None = None,
            prepare: Callable[[Machine], None] | None = None,
            defer_starts: bool = True) -> RunReport:
    """Run one coffer per spec on ``cores`` cores under ``kernel``.

    ``prepare(machine)`` is called once the machine is built, before it runs
    (the isolation experiments attach their fault injectors there). Repeated
    containers start late (``defer_starts``, see :func:`build_coffers`) unless
    ``prepare`` may look at them first.
    """
    if not specs or cores < 1:
        raise ConfigError("containers and cores must be at least 1")
    if op_syscall is not None and op_syscall not in SYSCALL_NUMBERS:
        raise ConfigError(f"--op-syscall: no system call named {op_syscall!r}")
    base = base or CofferConfig()
    machine_config = replace(machine or MachineConfig(), kernel=kernel, cores=cores)
    overrides = _COST_OVERRIDES.get()
    if overrides:  # the machine's clock is the cost model's (as timing.machine_for sets it)
        base = _with_overrides(base, overrides)
        machine_config = replace(machine_config, frequency_hz=base.kernel_costs.frequency_hz)
        costreads.note("frequency_hz", machine_config.frequency_hz)  # (sensitivity)
    configs = addressed(specs, base, overrides)
    coffers, streams, starts = build_coffers(specs, configs, kernel, machine_config,
                                             VirtualNetwork(),
                                             defer_starts=defer_starts and prepare is None)
    simulated = Machine(machine_config, coffers)
    for coffer, start in starts:
        simulated.defer_start(coffer, start)
    if prepare is not None:
        prepare(simulated)
    started = time.perf_counter()
    result = simulated.run()
    host = time.perf_counter() - started
    reports = [container_report(coffer, out, err, result, op_syscall)
               for coffer, (out, err) in zip(coffers, streams, strict=True)]
    return RunReport(kernel=kernel, cores=cores, containers=reports, machine=result,
                     host_seconds=host, simulated_seconds=result.elapsed_ns / NS_PER_SECOND,
                     breakdown=result.breakdown())


def _starter(coffer: Coffer, spec: ContainerSpec) -> Callable[[], object]:
    """What starts ``spec``'s program as ``coffer``'s init."""
    if spec.inside:  # as ``docker run IMAGE PROGRAM``: argv[0] as given
        return lambda: coffer.spawn_inside(spec.program, [spec.program, *spec.args])
    return lambda: coffer.spawn(spec.program, [spec.program.rsplit("/", 1)[-1], *spec.args])


def container_report(coffer: Coffer, out: CappedOutput, err: CappedOutput,
                     result: MachineResult, op_syscall: str | None) -> ContainerReport:
    begin = result.boot_ns
    end = result.finished_ns.get(coffer.config.name, result.elapsed_ns)
    seconds = max(end - begin, 1) / NS_PER_SECOND
    count, marks = _ops(coffer, op_syscall)
    summary = (throughput_and_latency(marks, int(begin), int(end))
               if marks and end > begin else {})
    if marks:  # only the operations done in the window (a time limit may cut it short)
        count = summary.get("total", 0)
    latency = summary.get("latency_us", {})
    run = coffer.result()
    status = run.exit_status
    return ContainerReport(
        name=coffer.config.name, exit_code=run.exit_code, ops=count,
        seconds=seconds, throughput=count / seconds,
        p50_us=latency.get("p50"), p99_us=latency.get("p99"),
        stdout=out.getvalue(), stderr=err.getvalue(),
        latency_quantiles=summary.get("quantiles_us", {}),
        killed_by=getattr(status, "signal", None) or None,
        cut_off=coffer.config.name in result.cut_off,
        personality_host_seconds=run.personality_host_seconds,
        personality_counters=run.personality_counters,
        end_reason=status.end_reason, end_detail=status.detail,
        instructions=run.instructions, cycles=run.user_cycles + run.kernel_cycles,
        calls=sum(run.syscalls.values()), output_dropped=out.dropped + err.dropped)


def run_containers(program: str, args: Sequence[str] = (), *, kernel: str = "cofferos",
                   containers: int = 1, cores: int = 1, base: CofferConfig | None = None,
                   machine: MachineConfig | None = None,
                   op_syscall: str | None = None, inside: bool = False,
                   prepare: Callable[[Machine], None] | None = None) -> RunReport:
    """Run ``program`` in ``containers`` coffers on ``cores`` cores under ``kernel``
    (``inside``: a program of the coffers' own tree, see :class:`ContainerSpec`;
    ``prepare``: as for :func:`run_mix`)."""
    if containers < 1:
        raise ConfigError("containers and cores must be at least 1")
    spec = ContainerSpec(program, tuple(args), inside=inside)
    return run_mix([spec] * containers, kernel=kernel, cores=cores, base=base,
                   machine=machine, op_syscall=op_syscall, prepare=prepare)
