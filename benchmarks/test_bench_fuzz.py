"""The longer fuzzing campaign (issue #13): rate, oopses, harm and host memory.

Runs ``coffersim fuzz``'s campaign with ``FUZZ_BENCH_CALLS`` calls (default 100,000;
the issue's acceptance run is ``coffersim fuzz --calls 1000000``) and records the
calls per host second, the host's peak memory and what the campaign found. Like
every benchmark it asserts nothing about speed; it does assert that the campaign
found no oops, did no harm and stayed within its host memory bound, since a figure
from a failing campaign means little. Whether the fuzzer's supervisor finished is
reported, not asserted: with seed 2 at 100,000 calls the timing machine declares a
deadlock while two fuzzing children are still runnable, a known open bug of the
machine (docs/security.md, "Open problems"), not harm to a victim.
"""

from __future__ import annotations

import os

import pytest

from benchmarks.conftest import report
from cofferos.sim.fuzz import FuzzConfig, run_campaign

CALLS = int(os.environ.get("FUZZ_BENCH_CALLS", "100000"))
SEED = int(os.environ.get("FUZZ_BENCH_SEED", "2"))
MIB = 1 << 20


def test_bench_fuzz_campaign(benchmark: pytest.FixtureRequest) -> None:
    config = FuzzConfig(calls=CALLS, seed=SEED)
    result = benchmark.pedantic(run_campaign, args=(config,), rounds=1,  # type: ignore[attr-defined]
                                iterations=1)
    rate = result.syscalls / result.host_seconds
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        calls=result.calls_drawn, syscalls=result.syscalls, calls_per_second=rate,
        peak_rss_mib=result.peak_rss_bytes / MIB, oopses=result.oops_total,
        harm=len(result.harm), finished=result.finished)
    report(f"fuzz: {result.calls_drawn} calls (seed {SEED}), {result.syscalls} served in "
           f"{result.host_seconds:.0f} s ({rate:.0f}/s); {result.oops_total} oopses, "
           f"{len(result.harm)} harm, peak {result.peak_rss_bytes / MIB:.0f} MiB of "
           f"{config.host_memory_bound / MIB:.0f} MiB; the fuzzer "
           f"{'finished' if result.finished else 'did NOT finish (see the docstring)'}")
    assert [oops.first_line for oops in result.oopses] == []
    assert result.harm == [] and not result.memory_exceeded
