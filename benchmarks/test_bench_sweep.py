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
from cofferos.sim.sweeps.run import run_sweep
from cofferos.sim.sweeps.spec import parse_text

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
#: The sweeps run in this order (ABBA): points get faster as the host warms up (0.17 s ->
#: 0.12 s each over a few sweeps), which would flatter whichever job count runs last.
ORDER = (1, 2, 2, 1)
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

    def sweeps() -> dict[int, list[Any]]:
        runs: dict[int, list[Any]] = {jobs: [] for jobs in JOBS}
        for index, jobs in enumerate(ORDER):
            runs[jobs].append(run_sweep(spec, tmp_path / f"run{index}-jobs{jobs}", jobs=jobs))
        return runs

    result = benchmark.pedantic(sweeps, rounds=1, iterations=1)
    outcomes = [outcome for runs in result.values() for outcome in runs]
    assert all(o.failed == 0 and o.ran == len(spec.points) for o in outcomes)
    seconds = {jobs: sum(o.wall_seconds for o in runs) / len(runs)
               for jobs, runs in result.items()}
    speedup = seconds[1] / seconds[2]
    overhead = [value for o in outcomes for value in _overheads(o)]
    run = [r["run_seconds"] for o in result[1] for r in o.records.values()]
    benchmark.extra_info.update({
        "points": len(spec.points), "jobs1_seconds": seconds[1],
        "jobs2_seconds": seconds[2], "speedup": speedup,
        "overhead_median_seconds": statistics.median(overhead),
        "point_median_seconds": statistics.median(run)})
    report(f"sweep of {len(spec.points)} points (mean of 2 each, ABBA order): --jobs 1 "
           f"{seconds[1]:.2f} s, --jobs 2 {seconds[2]:.2f} s, speedup {speedup:.2f}x "
           "(target >= 1.7x)")
    report(f"sweep per-point overhead: median {statistics.median(overhead) * 1e3:.0f} ms, "
           f"max {max(overhead) * 1e3:.0f} ms (points take {statistics.median(run):.2f} s "
           f"median inside run_point)")
    if free >= MIN_FREE_CORES:
        assert speedup > (1.0 if benchmark.disabled else TARGET_SPEEDUP)
    else:
        report(f"sweep speedup not asserted: host busy ({free:.1f} cores free before the run)")
