"""A point's numbers do not depend on what ran before it in the same process, bit for bit.

The point: noisy-neighbor's linux rows (page-cache and fork storms, so page-cache
misses and lock waits both count) at a small size. It runs alone in a fresh
interpreter; then, in this process (after whatever tests ran here), after the other
kernels and another experiment; the rows must be equal, every float to the last bit
(floats travel as JSON, whose ``repr`` round-trips exactly). Global state that leaked
between runs (a cache keyed wrongly, a module-level counter or RNG, a block-cost
cache) would show as a difference here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from cofferos.results.records import plain
from cofferos.sim.isolation import experiment, run_experiment
from cofferos.sim.isolation.common import ExperimentParams

KERNEL = "linux"
SETTINGS = {"storms": "pagecache,fork", "victim_iterations": "20", "cache_pages": "64"}
MACHINE = {"containers": 3, "cores": 4}

ALONE = f"""
import json
from cofferos.results.records import plain
from cofferos.sim.isolation import experiment, run_experiment
from cofferos.sim.isolation.common import ExperimentParams
result = run_experiment(experiment("noisy-neighbor"), ExperimentParams(
    kernels=({KERNEL!r},), options={SETTINGS!r}, **{MACHINE!r}))
print(json.dumps(plain(result.rows)))
"""


def _point_rows(kernels: tuple[str, ...], costs: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    result = run_experiment(experiment("noisy-neighbor"),
                            ExperimentParams(kernels=kernels, options=dict(SETTINGS),
                                             costs=costs, **MACHINE))
    return json.loads(json.dumps(plain([r for r in result.rows if r["kernel"] == KERNEL])))


def _alone() -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-c", ALONE], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_a_point_is_the_same_whatever_ran_before_it():
    alone = _alone()
    assert {r["measure"] for r in alone} == {"throughput", "p99_us", "lock_wait_us",
                                            "cache_misses"}
    assert any(r["measure"] == "lock_wait_us" and r["with_storm"] for r in alone)
    # the other kernels first, in the same experiment (as a full run does)
    after_kernels = _point_rows(("vm", "sandbox", "cofferos", KERNEL))
    assert after_kernels == alone
    # another experiment first (as experiment report and tradeoff do)
    run_experiment(experiment("fault"), ExperimentParams(kernels=("cofferos", KERNEL),
                                                         containers=2, cores=2))
    assert _point_rows((KERNEL,)) == alone
    # other cost models first (as coffersim sensitivity does, one run after another)
    varied = _point_rows((KERNEL,), ("page_cache_miss=60000", "lock.tasklist_lock=3000",
                                     "frequency_hz=1500000000"))
    assert varied != alone
    assert _point_rows((KERNEL,)) == alone
