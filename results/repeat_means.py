"""Means of a sweep's repeats: one row per configuration, mean +- 95% CI per metric.

A sweep whose spec sets ``[repeat] seeds = N`` runs each configuration N times
(``seed`` + r, ``repeat`` = r: :mod:`cofferos.sim.sweeps.spec`). ``coffersim results
show`` and the sweep's own table print, after the one line per point, one line per
configuration: the number of repeats that finished (``n``) and, for each headline
metric (:func:`cofferos.results.sweeps.summary_metrics`), the mean over them and the
half-width of its 95% confidence interval (Student t: :func:`~cofferos.results.
confidence.ci95`). A configuration is every parameter but ``seed`` and ``repeat``
(:data:`REPLICATES`, as :mod:`cofferos.results.figures` averages them); failed points
are left out of the means and counted. A sweep without repeats has no such table.

    >>> import pandas
    >>> from cofferos.results.sweeps import frame
    >>> def point(ident, repeat, value):
    ...     return {"id": ident, "status": "ok", "config": {
    ...         "workload": "@hello", "kernel": "linux", "personalities": [], "cores": 1,
    ...         "containers": 1, "seed": repeat, "repeat": repeat, "duration_ms": 0,
    ...         "cost": []}, "rows": [{"container": "all", "metric":
    ...         "throughput_per_container", "value": value}]}
    >>> table = means(frame([point("a", 0, 1.0), point("b", 1, 2.0), point("c", 2, 3.0)]))
    >>> row = table.iloc[0]
    >>> n, mean, half = row[["n", "throughput_per_container", "throughput_per_container ci95"]]
    >>> int(n), float(mean), round(float(half), 4)
    (3, 2.0, 2.4843)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cofferos.results.confidence import ci95
from cofferos.results.sweeps import PARAMETERS, summary, summary_metrics

if TYPE_CHECKING:
    import pandas

#: The parameters that tell a configuration's repeats apart (averaged over).
REPLICATES = ("seed", "repeat")
COUNT, FAILED = "n", "failed"  #: repeats averaged; repeats that failed (left out)
CI_SUFFIX = " ci95"  #: a metric's column of the half-width of its 95% interval


def has_repeats(table: pandas.DataFrame) -> bool:
    """Whether some configuration of ``table`` ran more than once."""
    return "repeat" in table.columns and bool((table["repeat"] > 0).any())


def configuration_columns(points: pandas.DataFrame) -> list[str]:
    return [p for p in PARAMETERS if p in points.columns and p not in REPLICATES]


def means(table: pandas.DataFrame) -> pandas.DataFrame:
    """One row per configuration, in sweep order: its parameters, ``n``, ``failed``,
    then per headline metric its mean and ``METRIC ci95`` (0 for one value, NaN for
    none)."""
    import pandas

    points = summary(table)
    keys = configuration_columns(points)
    for key in keys:  # (an empty string and a CSV's NaN are one configuration)
        if points[key].dtype == object:
            points[key] = points[key].fillna("").astype(str)
    rows: list[dict[str, Any]] = []
    for values, group in points.groupby(keys, sort=False, dropna=False):
        ok = group[group["status"] == "ok"]
        row: dict[str, Any] = dict(zip(keys, values, strict=True))
        row[COUNT], row[FAILED] = len(ok), len(group) - len(ok)
        for metric in summary_metrics(table):
            found = [float(v) for v in ok[metric].dropna()]
            row[metric] = sum(found) / len(found) if found else float("nan")
            row[metric + CI_SUFFIX] = ci95(found) if found else float("nan")
        rows.append(row)
    return pandas.DataFrame(rows)
