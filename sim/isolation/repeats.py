"""Repeated runs of an experiment: means with 95% confidence intervals (``--repeats N``).

Where a run depends on its seed (guest randomness, arrival times), one run is one
sample. :func:`combine` folds the results of N runs (seeds ``seed`` .. ``seed+N-1``)
into one: rows are matched across runs by position when every run has as many, else
by their non-numeric values (kernel, storm, measure ...: a row's *key*, in order of
first appearance); each number becomes the
mean over the runs and, where the runs differ, a ``NAME_ci95`` column beside it holds
the half-width of its 95% confidence interval (Student t, N-1 degrees of freedom). A
non-numeric value the runs disagree on becomes their distinct values joined by
:data:`DISAGREE` (a boolean: true when most runs say so). Tables print a number with
its interval as ``mean ± half-width`` (:func:`shown_value`).

    >>> round(ci95([1.0, 2.0, 3.0]), 4)
    2.4841
    >>> ci95([5.0, 5.0])
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from cofferos.sim.isolation.common import ExperimentResult

CI_SUFFIX = "_ci95"  #: the column beside NAME with the half-width of its 95% interval
DISAGREE = " / "  #: joins the distinct values of a text column the runs disagree on
#: Student t's two-sided 95% quantile (t_{0.975}) by degrees of freedom, 1..30
#: (any statistics table, e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
T975: tuple[float, ...] = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
#: Beyond the table: (degrees of freedom, quantile), interpolated in 1/df (same source).
T975_TAIL: tuple[tuple[float, float], ...] = (
    (30, 2.042), (40, 2.021), (60, 2.000), (120, 1.980), (math.inf, 1.960))


def t975(df: int) -> float:
    """Student t's 97.5% quantile for ``df`` >= 1 degrees of freedom."""
    if df <= len(T975):
        return T975[df - 1]
    for (low, q_low), (high, q_high) in zip(T975_TAIL, T975_TAIL[1:], strict=False):
        if df <= high:
            x, x_low, x_high = 1 / df, 1 / low, (0.0 if math.isinf(high) else 1 / high)
            return q_high + (q_low - q_high) * (x - x_high) / (x_low - x_high)
    return T975_TAIL[-1][1]


def ci95(values: Sequence[float]) -> float:
    """Half-width of the 95% confidence interval of the mean of ``values`` (0 for one)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return t975(n - 1) * sd / math.sqrt(n)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple((k, v) for k, v in row.items() if not _number(v))


def _keyed(rows: Sequence[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Each row by (its key, how many rows with that key came before it)."""
    seen: dict[tuple[Any, ...], int] = {}
    keyed = {}
    for row in rows:
        key = _key(row)
        seen[key] = seen.get(key, 0) + 1
        keyed[(key, seen[key])] = row
    return keyed


def _merge(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for column in dict.fromkeys(c for row in samples for c in row):
        values = [row[column] for row in samples if column in row]
        numbers = [float(v) for v in values if _number(v) and math.isfinite(v)]
        if values and all(_number(v) for v in values):
            if len(set(values)) == 1:
                merged[column] = values[0]  # every run agrees (an identifier, a count)
                continue
            merged[column] = math.fsum(numbers) / len(numbers) if numbers else math.nan
            merged[column + CI_SUFFIX] = ci95(numbers)
        elif all(isinstance(v, bool) for v in values):
            merged[column] = 2 * sum(values) > len(values) if len(set(values)) > 1 else values[0]
        elif len({repr(v) for v in values}) == 1:
            merged[column] = values[0]
        else:
            merged[column] = DISAGREE.join(dict.fromkeys(str(v) for v in values))
    return merged


def combine_rows(runs: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The rows of several runs as one table of means (see the module doc)."""
    if len({len(rows) for rows in runs}) == 1:  # the same table each run: row by row
        return [_merge(list(samples)) for samples in zip(*runs, strict=True)]
    keyed = [_keyed(rows) for rows in runs]
    order = list(dict.fromkeys(key for rows in keyed for key in rows))
    return [_merge([rows[key] for rows in keyed if key in rows]) for key in order]


def combine(results: Sequence[ExperimentResult], seeds: Sequence[int]) -> ExperimentResult:
    """One result from the runs of ``seeds``: rows and summary as means with intervals;
    the finding and figure are the first run's unless the experiment draws from rows."""
    first = results[0]
    rows = combine_rows([r.rows for r in results])
    summary = combine_rows([r.summary for r in results]) if first.summary else []
    columns = list(first.columns)
    configuration = {**first.configuration, "seed": seeds[0], "seeds": list(seeds),
                     "repeats": len(seeds)}
    agree = len({r.finding for r in results}) == 1
    finding = (first.finding if agree else
               f"(seed {seeds[0]}; the {len(seeds)} runs' findings differ) {first.finding}")
    return ExperimentResult(name=first.name, rows=rows, configuration=configuration,
                            finding=finding, draw=first.draw, columns=columns,
                            summary=summary)


def shown_value(row: dict[str, Any], column: str) -> Any:
    """``row[column]`` as a table shows it: ``mean ± half-width`` when runs differed."""
    value = row.get(column)
    spread = row.get(column + CI_SUFFIX)
    if spread is None or not _number(value):
        return value
    return f"{_short(value)} ± {_short(spread)}"


def _short(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.4g}"
