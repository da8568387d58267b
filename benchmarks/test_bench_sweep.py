"""Speed of the sweep engine (issue #7): --jobs 2 against --jobs 1, and the per-point overhead.

The same sweep of short points runs with one job and with two, side by side in
one benchmark. The issue's target is a speedup of at least 1.7x on two cores. It is
asserted when the benchmark is really timed (``pytest benchmarks``) and the host was
not already busy before the run (another job holding a core leaves --jobs 2 nothing
to gain); CI runs the benchmarks once with ``--benchmark-disable`` beside other
work, where only a speedup (> 1.0) is asserted. The per-point overhead is
what the sweep machinery adds to a point: its wall time (process start, result
sent back, record written) minus the time ``run_point`` took inside the child.
"""

from __future__ import annotations

import os
import statistics
from typing import Any

from benchmarks.conftest import report
from cofferos.sim.sweep_run import run_sweep
from cofferos.sim.sweep_spec import parse_text

#: 4 kernels x 3 container counts = 12 points of about 0.1-0.3 s each.
SPEC = """name = "bench"
[base]
workload = "@nullsys"
args = ["3000"]
cores = 2
[vary]
kernel = ["linux", "cofferos", "vm", "sandbox"]
containers = [1, 2, 3]
"""
WARMUP = """[base]
workload = "@nullsys"
args = ["100"]
cores = 1
"""
JOBS = (1, 2)
TARGET_SPEEDUP = 1.7  #: the issue's target for --jobs 2 against --jobs 1 on two cores
#: Speed is asserted only when the 1-minute load average leaves this many cores idle: at
#: least one besides whatever the session itself has been running (on a 2-core host).
MIN_FREE_CORES = 1.0


def _free_cores() -> float:
    return (os.cpu_count() or 1) - os.getloadavg()[0]


def _overheads(outcome: Any) -> list[float]:
    return [r["overhead_seconds"] for r in outcome.records.values()
            if r and r["overhead_seconds"] is not None]


def test_sweep_jobs_speedup(benchmark, tmp_path):
    free = _free_cores()
    run_sweep(parse_text(WARMUP), tmp_path / "warmup")  # start the forkserver, build @nullsys
    spec = parse_text(SPEC)

    def sweeps() -> dict[int, Any]:
        return {jobs: run_sweep(spec, tmp_path / f"jobs{jobs}", jobs=jobs) for jobs in JOBS}

    result = benchmark.pedantic(sweeps, rounds=1, iterations=1)
    one, two = result[1], result[2]
    assert one.failed == 0 and two.failed == 0 and one.ran == two.ran == len(spec.points)
    speedup = one.wall_seconds / two.wall_seconds
    overhead = _overheads(one) + _overheads(two)
    run = [r["run_seconds"] for r in one.records.values()]
    benchmark.extra_info.update({
        "points": len(spec.points), "jobs1_seconds": one.wall_seconds,
        "jobs2_seconds": two.wall_seconds, "speedup": speedup,
        "overhead_median_seconds": statistics.median(overhead),
        "point_median_seconds": statistics.median(run)})
    report(f"sweep of {len(spec.points)} points: --jobs 1 {one.wall_seconds:.2f} s, "
           f"--jobs 2 {two.wall_seconds:.2f} s, speedup {speedup:.2f}x (target >= 1.7x)")
    report(f"sweep per-point overhead: median {statistics.median(overhead) * 1e3:.0f} ms, "
           f"max {max(overhead) * 1e3:.0f} ms (points take {statistics.median(run):.2f} s "
           f"median inside run_point)")
    if free >= MIN_FREE_CORES:
        assert speedup > (1.0 if benchmark.disabled else TARGET_SPEEDUP)
    else:
        report(f"sweep speedup not asserted: host busy ({free:.1f} cores free before the run)")
