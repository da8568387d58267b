"""The tidy results table of a sweep as its figures read it (:mod:`cofferos.results.figures`).

The table has one row per point x container ("c0", ... or "all") x metric, after the
parameter columns (:data:`~cofferos.results.sweeps.PARAMETERS`). This module turns it into
what a figure draws: the successful points (:func:`ok_points`, with the failed ones
counted), one row per point with its metrics as columns (:func:`point_rows`), the columns
that make a configuration and its mean, spread and 95% interval over repeats
(:func:`config_columns`, :func:`aggregate`), the axis order of a parameter's values
(:func:`axis_order`) and the labelled lines of a figure (:func:`line_series`). Nothing here
draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from cofferos.errors import ConfigError
from cofferos.results.confidence import ci95
from cofferos.results.labels import short_labels
from cofferos.results.sweeps import PARAMETERS

REPLICATES = ("seed", "repeat")
TABLE_COLUMNS = ("point", "status", "container", "metric", "value")
DEFAULT_X, DEFAULT_HUE = "containers", "kernel"
STACKS = "personalities"  # the parameter whose values figures shorten (results.labels)
KERNEL_STACK_SEPARATOR = ": "  # a series of a kernel and a stack: "linux: agent"
ALL = "all"  # the container of per-point metrics
GROUP_LABEL_SEPARATOR = ", "  # group labels are wrapped here, one parameter per line
MEAN, LOW, HIGH, COUNT = "mean", "min", "max", "count"
CI95 = "ci95"  #: the half-width of the mean's 95% confidence interval (Student t)
EMPTY_VALUE = "(none)"  # how ticks and labels show an empty parameter ("" args, cost)


def sweep_parameters(frame: pd.DataFrame) -> list[str]:
    return [name for name in PARAMETERS if name in frame.columns]


def choose_parameter(frame: pd.DataFrame, given: str | None, default: str, option: str) -> str:
    """The parameter column ``given`` (or ``default``); ConfigError naming the valid ones."""
    name = given or default
    valid = sweep_parameters(frame)
    if name not in valid:
        raise ConfigError(f"--{option} {name!r} is not a parameter of this sweep; choose one of: "
                          f"{', '.join(valid)}")
    return name


def x_and_hue(frame: pd.DataFrame, x: str | None, hue: str | None) -> tuple[str, str]:
    return (choose_parameter(frame, x, DEFAULT_X, "x"),
            choose_parameter(frame, hue, DEFAULT_HUE, "hue"))


def ok_points(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows of successful points, and how many points failed."""
    missing = [column for column in TABLE_COLUMNS if column not in frame.columns]
    if missing:
        raise ConfigError(f"not a sweep results table: no column(s) {', '.join(missing)}")
    if frame.empty:
        raise ConfigError("nothing to plot: the table has no points")
    ok = frame["status"] == "ok"
    failed = frame.loc[~ok, "point"].nunique()
    frame = frame[ok].copy()
    if frame.empty:
        raise ConfigError(f"nothing to plot: all {failed} point(s) failed")
    for name in sweep_parameters(frame):  # a CSV reads "" as NaN, which groupby would drop
        if frame[name].dtype == object or pd.api.types.is_string_dtype(frame[name]):
            frame[name] = frame[name].fillna("").astype(str)
    if STACKS in frame.columns:  # names without options: "agent", not "agent:write=/tmp,..."
        frame[STACKS] = frame[STACKS].map(short_labels(frame[STACKS]))
    return frame, failed


def point_rows(frame: pd.DataFrame, metrics: Sequence[str], per_container: bool = False,
            ) -> pd.DataFrame:
    """One row per point: its parameters and ``metrics`` as columns (mean over containers)."""
    mine = frame[(frame["container"] != ALL) if per_container else (frame["container"] == ALL)]
    mine = mine[mine["metric"].isin(metrics)]
    absent = [m for m in metrics if m not in set(mine["metric"])]
    if absent:
        raise ConfigError(f"the sweep's table has no {', '.join(absent)} values to plot")
    wide = mine.pivot_table(index="point", columns="metric", values="value", aggfunc="mean")
    params = frame.drop_duplicates("point").set_index("point")[sweep_parameters(frame)]
    return params.join(wide, how="inner").reset_index()


def config_columns(points: pd.DataFrame, x: str | None, hue: str | None) -> list[str]:
    """The columns that make a configuration: every parameter but the averaged repeats."""
    return [p for p in sweep_parameters(points) if p not in REPLICATES or p in (x, hue)]


def aggregate(points: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    """Per configuration: mean, min, max, count and the 95% interval's half-width."""
    table = (points.groupby(keys, sort=False, dropna=False)[metric]
             .agg([MEAN, LOW, HIGH, COUNT]).reset_index())
    spread = points.groupby(keys, sort=False, dropna=False)[metric].agg(
        lambda values: ci95([float(v) for v in values.dropna()]))
    table[CI95] = spread.to_numpy()
    return table


def value_label(value: Any) -> str:
    """A parameter value on a tick or in a label: 4 not 4.0, (none) for an empty string."""
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value.item() if hasattr(value, "item") else value)
    return text or EMPTY_VALUE


def axis_order(column: pd.Series) -> list[Any]:
    """The values of ``column`` in axis order: ascending when numeric, else in the order
    they first appear (the spec's). Ticks, lines and bars all follow it."""
    values = list(dict.fromkeys(column))
    return sorted(values) if pd.api.types.is_numeric_dtype(column) else values


def in_axis_order(rows: pd.DataFrame, column: str, order: list[Any]) -> pd.DataFrame:
    """``rows`` sorted by where their ``column`` value is in ``order``."""
    rank = {value: index for index, value in enumerate(order)}
    return rows.iloc[rows[column].map(rank).argsort(kind="stable")]


def line_series(table: pd.DataFrame, x: str | None, hue: str) -> list[tuple[str, pd.DataFrame]]:
    """Lines of a figure: one per ``hue`` value and every other varying configuration column,
    each with its rows in ``x``'s axis order (:func:`axis_order`)."""
    others = [p for p in config_columns(table, x, hue)
              if p not in (x, hue) and table[p].nunique() > 1]
    order = axis_order(table[x]) if x else []
    result = []
    for key, rows in table.groupby([hue, *others], sort=False, dropna=False):
        head, parts = value_label(key[0]), []
        for p, v in zip(others, key[1:], strict=True):
            if p == STACKS and hue == "kernel":  # "linux: agent", as the trade-off's points
                head = f"{head}{KERNEL_STACK_SEPARATOR}{value_label(v)}"
            else:
                parts.append(f"{p}={value_label(v)}")
        label = GROUP_LABEL_SEPARATOR.join([head, *parts])
        result.append((label, in_axis_order(rows, x, order) if x else rows))
    return result


def title_context(frame: pd.DataFrame, failed: int) -> str:
    """Title suffix: the fixed workload and cores, and the failed points left out."""
    parts = [f"{frame[p].iloc[0]}" + (" cores" if p == "cores" else "")
             for p in ("workload", "cores") if p in frame.columns and frame[p].nunique() == 1]
    if failed:
        parts.append(f"{failed} failed point{'s' if failed != 1 else ''} left out")
    return f" ({', '.join(parts)})" if parts else ""
