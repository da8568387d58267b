"""Host cost of a personality stack (issue #5): a getppid loop with three
personalities (linux, hardened, fastpath) against none; target <= 1.5x."""

from __future__ import annotations

import statistics

import pytest

from benchmarks.conftest import report, timed_run
from cofferos.workloads import build

STACK = ("linux", "hardened", "fastpath")
BASE, MORE, ROUNDS = 2_000, 42_000, 5


def _per_call(program: str, personalities: tuple[str, ...]) -> float:
    small, _ = timed_run(program, [str(BASE)], personalities=personalities)
    large, _ = timed_run(program, [str(MORE)], personalities=personalities)
    return (large - small) / (MORE - BASE)


def test_three_personalities_against_none(benchmark: pytest.FixtureRequest) -> None:
    program = str(build("nullsys"))
    timed_run(program, ["10"], personalities=STACK)
    ratios, plain_us, stacked_us = [], [], []
    for _ in range(ROUNDS):
        plain = _per_call(program, ())
        stacked = _per_call(program, STACK)
        plain_us.append(plain * 1e6)
        stacked_us.append(stacked * 1e6)
        ratios.append(stacked / plain)
    benchmark.extra_info.update(ratio_best=min(ratios), ratio_median=statistics.median(ratios))
    report(f"personalities: {min(stacked_us):.2f} us per getppid with {'+'.join(STACK)} vs "
           f"{min(plain_us):.2f} us with none -> {min(ratios):.2f}x best, "
           f"{statistics.median(ratios):.2f}x median (target <= 1.5x)")
    benchmark.pedantic(timed_run, args=(program, [str(BASE)]),
                       kwargs={"personalities": STACK}, rounds=1)
