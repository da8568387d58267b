"""Repeated runs of an experiment: means with 95% confidence intervals (``--repeats N``).

Where a run depends on its seed (guest randomness, arrival times), one run is one
sample. :func:`combine` folds the results of N runs (seeds ``seed`` .. ``seed+N-1``)
into one: rows are matched across runs by position when every run has as many, else
by their non-numeric values (kernel, storm, measure ...: a row's *key*, in order of
first appearance); each number becomes the mean over the runs and, where the runs
differ, a ``NAME_ci95`` column beside it holds the half-width of its 95% confidence
interval (Student t, N-1 degrees of freedom: :mod:`cofferos.results.confidence`). A
non-numeric value the runs disagree on becomes their distinct values joined by
:data:`DISAGREE` (a boolean: true when most runs say so). Tables print a number with
its interval as ``mean ± half-width`` (:func:`shown_value`).

    >>> combine_rows([[{"kernel": "linux", "x": 1.0}], [{"kernel": "linux", "x": 3.0}]])
    [{'kernel': 'linux', 'x': 2.0, 'x_ci95': 12.706}]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from cofferos.results.confidence import ci95
from cofferos.sim.isolation.common import ExperimentResult

CI_SUFFIX = "_ci95"  #: the column beside NAME with the half-width of its 95% interval
DISAGREE = " / "  #: joins the distinct values of a text column the runs disagree on
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
