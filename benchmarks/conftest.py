"""Benchmark helpers: run workloads in coffers and report the figures the issues quote.

Benchmarks measure; they never assert on speed (the machines are shared and
noisy). Each figure is recorded in the benchmark's ``extra_info`` (kept in
pytest-benchmark's JSON with ``--benchmark-json``) and printed in a summary at
the end of the session, so one run shows the ratios side by side.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig, RunResult

FIGURES: list[str] = []


def report(line: str) -> None:
    """Add one line to the end-of-session summary."""
    FIGURES.append(line)


def timed_run(path: str, args: Sequence[str] = (), **config: object) -> tuple[float, RunResult]:
    """Host CPU seconds to run ``path`` to completion in a fresh coffer (creation excluded)."""
    coffer = Coffer(CofferConfig(**config), stdin=io.BytesIO(),  # type: ignore[arg-type]
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    coffer.spawn(path, [path, *args])
    started = time.process_time()  # CPU time of this process: less noisy when shared
    result = coffer.run()
    return time.process_time() - started, result


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("cofferos-sim figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
