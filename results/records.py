"""Run records: the JSON written by ``--stats`` and the tables the CLI prints."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cofferos.results.outputs import write_text
from cofferos.results.tables import MISSING, format_table

__all__ = ["MISSING", "format_table", "machine_record", "personality_counters",
           "personality_host_seconds", "plain", "run_end", "run_record", "write_json"]

if TYPE_CHECKING:
    from cofferos.coffers.coffer import CofferConfig, RunResult
    from cofferos.sim.experiment import RunReport
    from cofferos.sim.machine import MachineConfig

NS_PER_SECOND = 1e9
RECORD_VERSION = 1


def plain(value: Any) -> Any:
    """Make configuration values JSON-friendly (dataclasses, mapping proxies, tuples)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def run_record(result: RunResult, wall_seconds: float, config: CofferConfig,
               program: Sequence[str]) -> dict[str, Any]:
    """The statistics of one run, with the fully resolved configuration that produced it."""
    return {
        "record_version": RECORD_VERSION,
        "program": list(program),
        "exit_code": result.exit_code,
        "end_reason": result.end_reason,
        "end_detail": result.exit_status.detail or None,
        "signal": result.exit_status.signal or None,
        "instructions": result.instructions,
        "user_cycles": result.user_cycles,
        "kernel_cycles": result.kernel_cycles,
        "simulated_seconds": result.simulated_ns / NS_PER_SECOND,
        "syscalls": {"total": sum(result.syscalls.values()),
                     "by_name": dict(sorted(result.syscalls.items()))},
        "unimplemented_syscalls": result.unimplemented_syscalls,
        "kernel_oopses": len(result.oopses),
        "personality_host_seconds": result.personality_host_seconds,
        "personality_counters": result.personality_counters,
        "oops_reports": list(result.oopses),  #: each in full (stderr shows one line)
        "wall_seconds": wall_seconds,
        "host_mips": result.instructions / wall_seconds / 1e6 if wall_seconds > 0 else None,
        "config": plain(config),
    }


def machine_record(report: RunReport, wall_seconds: float, config: CofferConfig,
                   machine: MachineConfig, program: Sequence[str]) -> dict[str, Any]:
    """The statistics of a run on the timing machine (``coffersim run --kernel ...``).

    ``exit_code`` is the first non-zero status of the containers in order (0: all
    succeeded); ``breakdown`` holds fractions of all core time; throughput is in
    operations per simulated second, latencies in simulated microseconds.
    """
    row = report.row()
    failed = [c.exit_code for c in report.containers if c.exit_code != 0]
    ended = run_end(report)
    return {
        "record_version": RECORD_VERSION,
        "program": list(program),
        "exit_code": failed[0] if failed else 0,
        "end_reason": ended.end_reason,
        "end_detail": ended.end_detail or None,
        "instructions": sum(c.instructions for c in report.containers),
        "cycles": sum(c.cycles for c in report.containers),
        "syscalls": {"total": sum(c.calls for c in report.containers)},
        "kernel": report.kernel,
        "cores": report.cores,
        "containers": len(report.containers),
        "simulated_seconds": report.simulated_seconds,
        "breakdown": dict(report.breakdown),
        "throughput_total": row["throughput_total"],
        "throughput_per_container": row["throughput_per_container"],
        "p50_us": row["p50_us"],
        "p99_us": row["p99_us"],
        "per_container": [
            {"name": c.name, "exit_code": c.exit_code, "ops": c.ops,
             "end_reason": c.end_reason,
             "simulated_seconds": c.seconds, "ops_per_second": c.throughput,
             "p50_us": c.p50_us, "p99_us": c.p99_us, "output_dropped": c.output_dropped,
             "personality_counters": c.personality_counters}
            for c in report.containers],
        "boot_seconds": report.machine.boot_ns / NS_PER_SECOND,
        "memory_overhead_bytes": report.machine.memory_overhead,
        "personality_host_seconds": personality_host_seconds(report),
        "personality_counters": personality_counters(report),
        "wall_seconds": wall_seconds,
        "host_seconds": report.host_seconds,
        "config": plain(config),
        "machine": plain(machine),
    }


def personality_host_seconds(report: RunReport) -> dict[str, float]:
    """Host seconds in each personality hook (``NAME.HOOK``), all containers together."""
    total: dict[str, float] = {}
    for container in report.containers:
        for key, seconds in container.personality_host_seconds.items():
            total[key] = total.get(key, 0.0) + seconds
    return dict(sorted(total.items()))


def personality_counters(report: RunReport) -> dict[str, dict[str, int | float]]:
    """Each personality's counters summed over the containers (each container's own
    are in ``per_container``), personalities in the first container's stack order."""
    total: dict[str, dict[str, int | float]] = {}
    for container in report.containers:
        for name, counters in container.personality_counters.items():
            mine = total.setdefault(name, {})
            for key, value in counters.items():
                mine[key] = mine.get(key, 0) + value
    return total


def write_json(path: str | os.PathLike[str], record: Any, *, option: str | None = None) -> None:
    """Write ``record`` as JSON to ``path``: atomically to a regular file or a new one,
    through to a device or FIFO, ``-`` to standard output
    (:func:`cofferos.results.outputs.open_output`)."""
    text = json.dumps(record, indent=2, sort_keys=False) + "\n"
    write_text(path, text, option=option)


def run_end(report: RunReport) -> Any:
    """The container whose end is the run's: the first one the kernel model ended
    (deadlock, oops ...), else the first that failed, else the first."""
    containers = report.containers
    return (next((c for c in containers if c.end_reason not in ("exit", "signal")), None)
            or next((c for c in containers if c.exit_code != 0), None) or containers[0])

