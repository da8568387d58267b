"""Running a workload in M containers on a simulated machine, and what to report.

:func:`run_containers` builds M coffers of the same program (each its own
filesystem, seed and address on one virtual network), runs them on a
:class:`~cofferos.sim.machine.Machine` under one kernel architecture, and
returns one :class:`ContainerReport` per container plus the machine's
breakdown. Operations are what the workload marks on ``/dev/coffer/ops``; a
program that marks none counts its chosen system call (``op_syscall``) or, by
default, one operation per completed run.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.network import VirtualNetwork
from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS
from cofferos.errors import ConfigError
from cofferos.results.ops import throughput_and_latency
from cofferos.sim.machine import Machine, MachineConfig, MachineResult

NS_PER_SECOND = 1e9
ADDRESS_PREFIX = "10.0"


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
            "failed_containers": sum(1 for c in self.containers if c.exit_code != 0),
        }


def _ops(coffer: Coffer, op_syscall: str | None) -> tuple[int, list[tuple[int, str]]]:
    marks = list(coffer.stats.ops)
    if marks:
        return len(marks), marks
    if op_syscall:
        return coffer.stats.calls[SYSCALL_NUMBERS[op_syscall]], []
    return (1 if coffer.init is not None and coffer.init.exit_status is not None else 0), []


def run_containers(program: str, args: Sequence[str] = (), *, kernel: str = "cofferos",
                   containers: int = 1, cores: int = 1, base: CofferConfig | None = None,
                   machine: MachineConfig | None = None,
                   op_syscall: str | None = None) -> RunReport:
    """Run ``program`` in ``containers`` coffers on ``cores`` cores under ``kernel``."""
    if containers < 1 or cores < 1:
        raise ConfigError("containers and cores must be at least 1")
    if op_syscall is not None and op_syscall not in SYSCALL_NUMBERS:
        raise ConfigError(f"--op-syscall: no system call named {op_syscall!r}")
    base = base or CofferConfig()
    network = VirtualNetwork()
    coffers, streams = [], []
    for index in range(containers):
        out, err = io.BytesIO(), io.BytesIO()
        config = replace(base, name=f"c{index}", seed=base.seed + index, page_faults=True,
                         address=f"{ADDRESS_PREFIX}.{index // 250}.{index % 250 + 1}")
        coffer = Coffer(config, stdin=io.BytesIO(), stdout=out, stderr=err, network=network)
        coffer.spawn(program, [program.rsplit("/", 1)[-1], *args])
        coffers.append(coffer)
        streams.append((out, err))
    machine_config = replace(machine or MachineConfig(), kernel=kernel, cores=cores)
    started = time.perf_counter()
    result = Machine(machine_config, coffers).run()
    host = time.perf_counter() - started
    reports = []
    for coffer, (out, err) in zip(coffers, streams, strict=True):
        begin = result.boot_ns
        end = result.finished_ns.get(coffer.config.name, result.elapsed_ns)
        seconds = max(end - begin, 1) / NS_PER_SECOND
        count, marks = _ops(coffer, op_syscall)
        latency = (throughput_and_latency(marks, int(begin), int(end))["latency_us"]
                   if marks and end > begin else {})
        reports.append(ContainerReport(
            name=coffer.config.name, exit_code=coffer.result().exit_code, ops=count,
            seconds=seconds, throughput=count / seconds,
            p50_us=latency.get("p50"), p99_us=latency.get("p99"),
            stdout=out.getvalue(), stderr=err.getvalue()))
    return RunReport(kernel=kernel, cores=cores, containers=reports, machine=result,
                     host_seconds=host, simulated_seconds=result.elapsed_ns / NS_PER_SECOND,
                     breakdown=result.breakdown())
