"""Speed of the timing model (issue #4).

* The timing model's host-time overhead over a functional-only run of the same
  workload (issue #17's target: <= 15%), for a compute-bound, a memory-bound
  (memtouch: every page's first touch is a page fault the timed run counts and
  replays) and two system-call-heavy guests.
* Simulated seconds per host second with 1, 8 and 64 containers.
"""

from __future__ import annotations

import io
import statistics
import time

import pytest

from benchmarks.conftest import report
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.sim.experiment import run_containers
from cofferos.sim.machine import Machine, MachineConfig
from cofferos.workloads import build

ROUNDS = 3


def _coffer(program: str, args: list[str], page_faults: bool = False) -> Coffer:
    coffer = Coffer(CofferConfig(page_faults=page_faults), stdin=io.BytesIO(),
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    coffer.spawn(program, [program, *args])
    return coffer


def _functional(program: str, args: list[str]) -> float:
    coffer = _coffer(program, args)
    started = time.process_time()
    coffer.run()
    return time.process_time() - started


def _timed(program: str, args: list[str]) -> float:
    coffer = _coffer(program, args, page_faults=True)  # as sim.experiment runs it
    machine = Machine(MachineConfig(cores=1, kernel="linux"), [coffer])
    started = time.process_time()
    machine.run()
    return time.process_time() - started


@pytest.mark.parametrize(("workload", "args"), [("compute", ["3000000"]),
                                                ("memtouch", ["128"]),
                                                ("nullsys", ["50000"]),
                                                ("metadata", ["/tmp/bench", "1000"])])
def test_timing_overhead(benchmark: pytest.FixtureRequest, workload: str,
                         args: list[str]) -> None:
    program = str(build(workload))
    _functional(program, args)
    _timed(program, args)
    ratios = []
    for _ in range(ROUNDS):
        functional = _functional(program, args)
        timed = _timed(program, args)
        ratios.append(timed / functional)
    overhead = min(ratios) - 1
    benchmark.extra_info.update(overhead_best=overhead,
                                overhead_median=statistics.median(ratios) - 1)
    report(f"timing overhead on {workload}: {overhead:+.0%} best, "
           f"{statistics.median(ratios) - 1:+.0%} median host time over functional-only "
           "(target <= +15%)")
    benchmark.pedantic(_timed, args=(program, args), rounds=1)


@pytest.mark.parametrize("containers", [1, 8, 64])
def test_simulated_seconds_per_host_second(benchmark: pytest.FixtureRequest,
                                           containers: int) -> None:
    program = str(build("metadata"))
    run = run_containers(program, ["/tmp/bench", "200"], kernel="cofferos",
                         containers=containers, cores=min(containers, 64))
    rate = run.simulated_seconds / run.host_seconds
    benchmark.extra_info.update(sim_per_host=rate)
    report(f"{containers} containers of @metadata: {run.simulated_seconds * 1e3:.2f} ms "
           f"simulated in {run.host_seconds:.2f} s host -> {rate:.4f} sim-s per host-s")
    benchmark.pedantic(lambda: None, rounds=1)
