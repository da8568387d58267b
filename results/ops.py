"""Throughput and latency from the operation marks a workload wrote to /dev/coffer/ops.

The kernel keeps one ``(monotonic ns, label)`` pair per completed operation in
``coffer.stats.ops`` (:mod:`cofferos.coffers.opsdev`). Over a measurement window
``[start_ns, end_ns]`` of the coffer's clock, :func:`throughput_and_latency`
counts the marks, divides by the window's simulated length, and takes as the
latency of each operation the time since the mark before it, of any label (the
first in the window: since ``start_ns``). That is the service time of a program
that does one operation after another; when several tasks mark at once it is the
time between completions instead. The same figures are also given per label,
each operation keeping the latency computed over the whole sequence.

    >>> ops = [(1_000, "op"), (3_000, "op"), (6_000, "op")]
    >>> summary = throughput_and_latency(ops, 0, 6_000)
    >>> summary["total"], summary["ops_per_second"], summary["latency_us"]["p50"]
    (3, 500000.0, 2.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

NS_PER_SECOND = 1e9
NS_PER_US = 1e3
#: The latency percentiles reported, by name.
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p99", 99.0))
#: The points of a latency distribution kept for CDF plots (``latency_quantiles``).
CDF_QUANTILES: tuple[float, ...] = (1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9)


def _latency_us(latencies_ns: Sequence[int]) -> dict[str, float | None]:
    """The :data:`PERCENTILES` of ``latencies_ns`` in microseconds (None: no operations)."""
    if not latencies_ns:
        return {name: None for name, _ in PERCENTILES}
    values = np.asarray(latencies_ns, dtype=np.float64) / NS_PER_US
    return {name: float(np.percentile(values, q)) for name, q in PERCENTILES}


def latency_quantiles(latencies_ns: Sequence[int]) -> dict[str, float]:
    """``{"p1": us, ..., "p99.9": us}`` at :data:`CDF_QUANTILES` (empty: no operations)."""
    if not latencies_ns:
        return {}
    values = np.percentile(np.asarray(latencies_ns, dtype=np.float64) / NS_PER_US,
                           CDF_QUANTILES)
    return {f"p{q:g}": float(v) for q, v in zip(CDF_QUANTILES, values, strict=True)}


def _summary(latencies_ns: Sequence[int], seconds: float) -> dict[str, Any]:
    return {
        "total": len(latencies_ns),
        "ops_per_second": len(latencies_ns) / seconds,
        "latency_us": _latency_us(latencies_ns),
        "quantiles_us": latency_quantiles(latencies_ns),
    }


def throughput_and_latency(ops: Sequence[tuple[int, str]], start_ns: int,
                           end_ns: int) -> dict[str, Any]:
    """Operations, operations per simulated second and p50/p99 latency (us) in a window.

    ``ops`` are ``(time ns, label)`` marks; those outside ``[start_ns, end_ns]``
    are left out (a warm-up, say), the rest taken in time order. The result::

        {"seconds": window length in simulated seconds,
         "total": n, "ops_per_second": n / seconds,
         "latency_us": {"p50": ..., "p99": ...},        # None when n == 0
         "quantiles_us": {"p1": ..., ..., "p99.9": ...},  # CDF points, {} when n == 0
         "by_label": {label: {"total", "ops_per_second", "latency_us"}}}

    Raises ValueError if the window is empty (``end_ns <= start_ns``).
    """
    if end_ns <= start_ns:
        raise ValueError(f"empty measurement window [{start_ns}, {end_ns}] ns")
    seconds = (end_ns - start_ns) / NS_PER_SECOND
    marks = sorted((mark for mark in ops if start_ns <= mark[0] <= end_ns),
                   key=lambda mark: mark[0])  # stable: equal times keep their order
    latencies: list[int] = []
    by_label: dict[str, list[int]] = {}
    previous = start_ns
    for time_ns, label in marks:
        latencies.append(time_ns - previous)
        by_label.setdefault(label, []).append(time_ns - previous)
        previous = time_ns
    return {
        "seconds": seconds,
        **_summary(latencies, seconds),
        "by_label": {label: _summary(values, seconds) for label, values in by_label.items()},
    }
