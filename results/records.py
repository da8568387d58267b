"""Run records: the JSON written by ``--stats`` and the tables the CLI prints."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cofferos.coffers.coffer import CofferConfig, RunResult
    from cofferos.sim.experiment import RunReport
    from cofferos.sim.machine import MachineConfig

NS_PER_SECOND = 1e9
RECORD_VERSION = 1
MISSING = "-"  #: how a table shows a value that does not exist (no latency measured)


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
        "signal": result.exit_status.signal or None,
        "instructions": result.instructions,
        "user_cycles": result.user_cycles,
        "kernel_cycles": result.kernel_cycles,
        "simulated_seconds": result.simulated_ns / NS_PER_SECOND,
        "syscalls": {"total": sum(result.syscalls.values()),
                     "by_name": dict(sorted(result.syscalls.items()))},
        "unimplemented_syscalls": result.unimplemented_syscalls,
        "kernel_oopses": len(result.oopses),
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
    return {
        "record_version": RECORD_VERSION,
        "program": list(program),
        "exit_code": failed[0] if failed else 0,
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
             "simulated_seconds": c.seconds, "ops_per_second": c.throughput,
             "p50_us": c.p50_us, "p99_us": c.p99_us, "output_dropped": c.output_dropped}
            for c in report.containers],
        "boot_seconds": report.machine.boot_ns / NS_PER_SECOND,
        "memory_overhead_bytes": report.machine.memory_overhead,
        "wall_seconds": wall_seconds,
        "host_seconds": report.host_seconds,
        "config": plain(config),
        "machine": plain(machine),
    }


def write_json(path: str | os.PathLike[str], record: Any) -> None:
    """Write ``record`` to ``path`` atomically (temporary file, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(record, out, indent=2, sort_keys=False)
            out.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cell(value: object) -> str:
    if value is None:
        return MISSING
    return f"{value:,}" if isinstance(value, int) else str(value)


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table, numbers right-aligned, for terminals and docs.

    None prints as ``-`` and does not stop a column of numbers being one:

    >>> print(format_table(("kernel", "p50 us"), [("linux", 1.5), ("vm", None)]))
    kernel  p50 us
    ------  ------
    linux      1.5
    vm           -
    """
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]

    def line(values: Sequence[str], numeric: Sequence[bool]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric, strict=True)).rstrip()

    numeric = [any(_numeric(r[i]) for r in rows)
               and all(_numeric(r[i]) or r[i] is None for r in rows)
               for i in range(len(headers))]
    out = [line(headers, numeric), line(["-" * w for w in widths], numeric)]
    out += [line(r, numeric) for r in cells]
    return "\n".join(out)
