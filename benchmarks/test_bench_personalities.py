"""Host cost of a personality stack (issue #5): a getppid loop with three
personalities (linux, hardened, fastpath) against none; target <= 1.5x.

hardened and fastpath declare which hooks each call needs and that their costs
depend only on the call (``hooks_for``, ``static_cost``), so a getppid reaches no
hook after its first call. The same stack without those declarations (the form a
plugin that declares nothing has: every hook on every call) is measured too."""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable

import pytest

from benchmarks.conftest import report, timed_run
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.personalities.base import Personality
from cofferos.personalities.builtin.fastpath import FastPath
from cofferos.personalities.builtin.hardened import Hardened
from cofferos.personalities.builtin.linux import Linux
from cofferos.personalities.plans import undeclared
from cofferos.workloads import build

STACK = ("linux", "hardened", "fastpath")
BASE, MORE, ROUNDS = 2_000, 42_000, 5


UndeclaredHardened, UndeclaredFastPath = undeclared(Hardened), undeclared(FastPath)


def _undeclared() -> list[Personality]:
    return [Linux(), UndeclaredHardened(), UndeclaredFastPath()]


def _run_stack(program: str, count: int, stack: Callable[[], list[Personality]]) -> float:
    """Host CPU seconds of ``program count`` under a stack of instances (as timed_run)."""
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),  # type: ignore[arg-type]
                    stderr=io.BytesIO())
    coffer.dispatcher.personalities.replace(stack())
    coffer.spawn(program, [program, str(count)])
    started = time.process_time()
    coffer.run()
    return time.process_time() - started


def _per_call(program: str, personalities: tuple[str, ...]) -> float:
    small, _ = timed_run(program, [str(BASE)], personalities=personalities)
    large, _ = timed_run(program, [str(MORE)], personalities=personalities)
    return (large - small) / (MORE - BASE)


def _per_call_undeclared(program: str) -> float:
    small = _run_stack(program, BASE, _undeclared)
    return (_run_stack(program, MORE, _undeclared) - small) / (MORE - BASE)


def test_three_personalities_against_none(benchmark: pytest.FixtureRequest) -> None:
    program = str(build("nullsys"))
    timed_run(program, ["10"], personalities=STACK)
    ratios, plain_us, stacked_us, every_us, every_ratios = [], [], [], [], []
    for _ in range(ROUNDS):
        plain = _per_call(program, ())
        stacked = _per_call(program, STACK)
        every = _per_call_undeclared(program)
        plain_us.append(plain * 1e6)
        stacked_us.append(stacked * 1e6)
        every_us.append(every * 1e6)
        ratios.append(stacked / plain)
        every_ratios.append(every / plain)
    benchmark.extra_info.update(ratio_best=min(ratios), ratio_median=statistics.median(ratios),
                                undeclared_ratio_best=min(every_ratios),
                                undeclared_ratio_median=statistics.median(every_ratios))
    report(f"personalities: {min(stacked_us):.2f} us per getppid with {'+'.join(STACK)} vs "
           f"{min(plain_us):.2f} us with none -> {min(ratios):.2f}x best, "
           f"{statistics.median(ratios):.2f}x median (target <= 1.5x)")
    report(f"personalities: {min(every_us):.2f} us per getppid with the same stack without "
           f"its declarations (every hook on every call) -> {min(every_ratios):.2f}x best, "
           f"{statistics.median(every_ratios):.2f}x median")
    benchmark.pedantic(timed_run, args=(program, [str(BASE)]),
                       kwargs={"personalities": STACK}, rounds=1)
