"""Figures of a parameter sweep (``coffersim plot``), drawn from its tidy results table.

The table has one row per point x container ("c0", ... or "all") x metric, after the
parameter columns (:data:`PARAMETERS`; see docs/sweeps.md). Each kind is a function
``(frame, *, x, hue, out) -> Path``; :func:`plot_sweep` dispatches on the kind:

* ``throughput``: throughput per container against ``x``, one line per ``hue``;
* ``speedup``: the same divided by linux's at the same parameters (:func:`speedup_table`);
* ``breakdown``: stacked bars of where the core time went (user ... idle);
* ``latency``: operation latency CDFs from the per-container quantile points;
* ``tradeoff``: isolation score against throughput with the Pareto front
  (:mod:`cofferos.results.tradeoff_figure`, also used by the experiments);
* ``density``: an agents sweep's agent density against the harm its misbehaving
  agents did, per hosting model (:mod:`cofferos.results.agents_figure`).

Personality stacks are named without their options (``agent``, not
``agent:write=/tmp,rate=exec=2/s``; :mod:`cofferos.results.labels`), and a line of a kernel
and a stack reads ``linux: agent``. Only "ok" points are drawn (the title counts the failed
ones left out); repeats (``seed``, ``repeat``) are averaged, with error bars of the
mean's 95% confidence interval (Student t, :mod:`cofferos.results.confidence`);
points that differ in any other parameter (``args``, ``op_syscall``, ``probes`` included)
are distinct configurations, each its own line or bar. A non-numeric ``x`` (``kernel``,
``args``, ...) is categorical: its values keep the order in which they first appear in the
table (the spec's order), on the ticks and along every line alike. Style as
:mod:`cofferos.results.plot`: Okabe-Ito colours, and markers, line styles
(:func:`~cofferos.results.plot.series_style`) and hatching for greyscale; the Agg canvas
without pyplot. The breakdown's figure widens with its number of bars and turns its tick labels
when they would overlap. A file that cannot be written is a ConfigError, and never leaves half
a figure behind.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogFormatter

from cofferos.errors import ConfigError
from cofferos.results.agents_figure import density_points, plot_density_points
from cofferos.results.plot import (
    BREAKDOWN,
    FIGURE_INCHES,
    LEGEND_OUTSIDE,
    PERCENT,
    new_figure,
    output_path,
    save_figure,
    series_style,
)
from cofferos.results.sweep_frame import (
    CI95,
    COUNT,
    GROUP_LABEL_SEPARATOR,
    HIGH,
    LOW,
    MEAN,
    STACKS,
    aggregate,
    axis_order,
    config_columns,
    line_series,
    ok_points,
    point_rows,
    title_context,
    value_label,
    x_and_hue,
)
from cofferos.results.tradeoff_figure import plot_tradeoff_points

KINDS = ("throughput", "speedup", "breakdown", "latency", "tradeoff", "density")
BASELINE_KERNEL, NO_PERSONALITIES = "linux", "none"
THROUGHPUT, ISOLATION = "throughput_per_container", "isolation_score"
LATENCY_PREFIX = "latency_us_p"  # + the quantile in percent: latency_us_p99.9
TAIL_QUANTILE, CDF_TOP = 0.99, 1.02  # marked on the latency CDFs; room for the p99.9 marker
LOG_X_RATIO = 8  # numeric x spanning this factor or more gets a log2 axis
BAR_WIDTH, GROUP_GAP = 0.8, 0.6  # breakdown bars and the gap between groups, in x units
#: The breakdown's figure widens so that each bar gets at least INCHES_PER_BAR and its tick
#: label fits; a tick label wider than MAX_INCHES_PER_BAR is turned instead; at most this wide.
INCHES_PER_BAR, MAX_INCHES_PER_BAR, MAX_WIDTH_INCHES = 0.4, 0.9, 18.0
TICK_ROTATION_DEGREES, TICK_GAP_POINTS = 90, 3  # turned labels; the space neighbours need
GROUP_LABEL_GAP_POINTS = 6  # between the lowest tick label and the group labels, and below
POINTS_PER_INCH = 72
TAIL_RING_SIZE = 11  # points: the p99 marker on the latency CDFs
MINOR_LABELS = (2, 0.4)  # label minor log ticks when the axis spans under 2 decades
LEGEND_ROWS = 16  # a longer legend gets another column


def _depth(figure: Figure, ax: Any, artists: Sequence[Any]) -> float:
    """How far below the bottom of ``ax`` the lowest of ``artists`` reaches, in points
    (after laying the figure out)."""
    figure.draw_without_rendering()
    lowest = min(artist.get_window_extent().y0 for artist in artists)
    return (ax.bbox.y0 - lowest) * POINTS_PER_INCH / figure.dpi


def _fit_breakdown(figure: Figure, ax: Any, notes: Sequence[Any], bars: Sequence[int]) -> None:
    """Lay the breakdown out so no label overlaps another.

    The tick labels are turned by TICK_ROTATION_DEGREES when one would need more than
    MAX_INCHES_PER_BAR side by side (the figure grows taller by what they take); the figure
    is made as wide as the widest tick label and each group label (``notes``, over ``bars``
    bars each) need, within MAX_WIDTH_INCHES; the group labels go below the tick labels and
    the axis label below them.
    """
    renderer = figure.canvas.get_renderer()
    gap = TICK_GAP_POINTS / POINTS_PER_INCH

    def inches(artist: Any) -> float:
        return artist.get_window_extent(renderer).width / figure.dpi

    ticks = [label for label in ax.get_xticklabels() if label.get_text()]
    per_bar = max(map(inches, ticks), default=0.0) + gap
    if per_bar > MAX_INCHES_PER_BAR:
        flat = _depth(figure, ax, ticks)
        ax.tick_params(axis="x", labelrotation=TICK_ROTATION_DEGREES)
        per_bar = max(map(inches, ticks)) + gap
        # taller by what the turned labels take, so the bars keep their height
        figure.set_figheight(figure.get_figheight()
                             + (_depth(figure, ax, ticks) - flat) / POINTS_PER_INCH)
    per_unit = max(INCHES_PER_BAR, per_bar, *((inches(note) + gap) / (count + GROUP_GAP)
                                              for note, count in zip(notes, bars, strict=True)))
    figure.draw_without_rendering()
    width = figure.get_figwidth()
    margins = width - ax.get_position().width * width  # labels, legend: fixed in inches
    low, high = ax.get_xlim()
    figure.set_figwidth(max(FIGURE_INCHES[0],
                            min(MAX_WIDTH_INCHES, margins + (high - low) * per_unit)))
    depth = _depth(figure, ax, ticks)
    for note in notes:
        note.xyann = (0, -(depth + GROUP_LABEL_GAP_POINTS))
    ax.xaxis.labelpad = _depth(figure, ax, notes) - depth + GROUP_LABEL_GAP_POINTS


def _x_axis(ax: Any, table: pd.DataFrame, x: str) -> Callable[[pd.Series], list[float]]:
    """Set up the x axis for ``x``'s values; returns the mapping from values to positions."""
    values = axis_order(table[x])
    if pd.api.types.is_numeric_dtype(table[x]):
        if values[0] > 0 and values[-1] / values[0] >= LOG_X_RATIO:
            ax.set_xscale("log", base=2)
        ax.set_xticks(values, [value_label(v) for v in values])
        return lambda column: [float(v) for v in column]
    ax.set_xticks(range(len(values)), [value_label(v) for v in values])
    rank = {value: index for index, value in enumerate(values)}
    return lambda column: [float(rank[v]) for v in column]


def _legend(ax: Any, title: str | None = None) -> None:
    """The legend right of the axes, in more columns when it is long."""
    entries = len(ax.get_legend_handles_labels()[1])
    ax.legend(title=title, fontsize="small", ncols=max(1, math.ceil(entries / LEGEND_ROWS)),
              **LEGEND_OUTSIDE)


def _lines(ax: Any, table: pd.DataFrame, x: str, hue: str) -> None:
    """Mean against ``x`` per series, with bars of its 95% confidence interval when any
    value has repeats."""
    position = _x_axis(ax, table, x)
    repeated = bool((table[COUNT] > 1).any())
    for index, (label, rows) in enumerate(line_series(table, x, hue)):
        xs, mean = position(rows[x]), rows[MEAN].to_numpy()
        errors = rows[CI95].to_numpy() if repeated else None
        ax.errorbar(xs, mean, yerr=errors, label=label, linewidth=1.8, capsize=3,
                    **series_style(index))
    ax.set_xlabel(x)
    ax.grid(True, alpha=0.3)
    _legend(ax, hue)


def plot_throughput(frame: pd.DataFrame, *, x: str | None, hue: str | None,
                    out: str | os.PathLike[str]) -> Path:
    """Throughput per container (ops per simulated second) against ``x``, a line per ``hue``."""
    path, (x, hue) = output_path(out), x_and_hue(frame, x, hue)
    frame, failed = ok_points(frame)
    points = point_rows(frame, [THROUGHPUT])
    figure, ax = new_figure()
    _lines(ax, aggregate(points, config_columns(points, x, hue), THROUGHPUT), x, hue)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(EngFormatter(sep=" "))
    ax.set_ylabel("throughput per container (ops/s, simulated)")
    ax.set_title("Throughput per container" + title_context(frame, failed))
    return save_figure(figure, path)


def speedup_table(frame: pd.DataFrame, x: str | None = None, hue: str | None = None,
                  ) -> pd.DataFrame:
    """Throughput per container of each configuration over linux's at the same parameters.

    A configuration is every parameter but the averaged repeats; its ``baseline`` is the mean
    of the linux points (without personalities, when there are any) sharing all its parameters
    but ``kernel`` and ``personalities``. Columns: the configuration's, ``mean``, ``min``,
    ``max``, ``count``, ``ci95`` of its throughput per container, ``baseline``, ``speedup``
    (mean / baseline), ``speedup_min``, ``speedup_max``, ``speedup_ci95``.
    """
    x, hue = x_and_hue(frame, x, hue)
    frame, _ = ok_points(frame)
    points = point_rows(frame, [THROUGHPUT])
    if "kernel" not in points.columns or not (points["kernel"] == BASELINE_KERNEL).any():
        raise ConfigError("speedup needs kernel=linux points to divide by")
    config = config_columns(points, x, hue)
    table = aggregate(points, config, THROUGHPUT)
    linux = points[points["kernel"] == BASELINE_KERNEL]
    if "personalities" in linux.columns and (linux["personalities"] == NO_PERSONALITIES).any():
        linux = linux[linux["personalities"] == NO_PERSONALITIES]
    shared = [p for p in config if p not in ("kernel", "personalities")]
    if shared:
        baseline = linux.groupby(shared, dropna=False)[THROUGHPUT].mean().rename("baseline")
        table = table.join(baseline, on=shared)
    else:
        table["baseline"] = linux[THROUGHPUT].mean()
    for column, source in (("speedup", MEAN), ("speedup_min", LOW), ("speedup_max", HIGH),
                           ("speedup_ci95", CI95)):
        table[column] = table[source] / table["baseline"]
    return table.dropna(subset=["speedup"]).reset_index(drop=True)


def plot_speedup(frame: pd.DataFrame, *, x: str | None, hue: str | None,
                 out: str | os.PathLike[str]) -> Path:
    """Each configuration's throughput per container over linux's, against ``x``."""
    path, table, (x, hue) = output_path(out), speedup_table(frame, x, hue), x_and_hue(frame, x, hue)
    ok, failed = ok_points(frame)
    table = table.drop(columns=[MEAN, LOW, HIGH, CI95]).rename(
        columns={"speedup": MEAN, "speedup_min": LOW, "speedup_max": HIGH,
                 "speedup_ci95": CI95})
    figure, ax = new_figure()
    ax.axhline(1.0, color="#555555", linestyle="--", linewidth=1, label="linux = 1")
    _lines(ax, table, x, hue)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("throughput per container / linux's (x)")
    ax.set_title("Speedup over linux" + title_context(ok, failed))
    return save_figure(figure, path)


def plot_breakdown(frame: pd.DataFrame, *, x: str | None, hue: str | None,
                   out: str | os.PathLike[str]) -> Path:
    """Stacked bars of the share of core time per category, grouped by ``hue``, one per ``x``."""
    path, (x, hue) = output_path(out), x_and_hue(frame, x, hue)
    frame, failed = ok_points(frame)
    keys = [key for key, *_ in BREAKDOWN]
    points = point_rows(frame, keys)
    table = points.groupby(config_columns(points, x, hue), sort=False, dropna=False)[keys].mean()
    table = table.reset_index()
    series = line_series(table, x, hue)
    figure, ax = new_figure()
    positions: list[tuple[float, pd.Series]] = []
    groups, at = [], 0.0
    for label, rows in series:
        groups.append((at + (len(rows) - 1) / 2, label, len(rows)))
        positions += [(at + i, row) for i, (_, row) in enumerate(rows.iterrows())]
        at += len(rows) + GROUP_GAP
    bottoms = [0.0] * len(positions)
    for key, label, colour, hatch in BREAKDOWN:
        heights = [PERCENT * row[key] for _, row in positions]
        ax.bar([p for p, _ in positions], heights, bottom=bottoms, width=BAR_WIDTH, label=label,
               color=colour, hatch=hatch, edgecolor="#333333", linewidth=0.5)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_xticks([p for p, _ in positions], [value_label(row[x]) for _, row in positions])
    ax.set_xlim(-BAR_WIDTH, at - GROUP_GAP - 1 + BAR_WIDTH)
    ax.set_ylim(0, PERCENT)
    ax.set_xlabel(f"{x}, by {hue}")
    ax.set_ylabel("share of all core time (%)")
    ax.set_title("CPU breakdown" + title_context(frame, failed))
    ax.legend(**LEGEND_OUTSIDE)
    # a label per group under its bars, one parameter per line (placed by _fit_breakdown)
    notes = [ax.annotate(label.replace(GROUP_LABEL_SEPARATOR, "\n"), xy=(centre, 0),
                         xycoords=("data", "axes fraction"), xytext=(0, 0),
                         textcoords="offset points", ha="center", va="top",
                         fontweight="bold", fontsize="small") for centre, label, _ in groups]
    _fit_breakdown(figure, ax, notes, [count for _, _, count in groups])
    return save_figure(figure, path)


def _quantile(metric: str) -> float:
    """``latency_us_p99.9`` -> 0.999."""
    return float(metric[len(LATENCY_PREFIX):]) / PERCENT


def plot_latency(frame: pd.DataFrame, *, x: str | None, hue: str | None,
                 out: str | os.PathLike[str]) -> Path:
    """Latency CDFs (each quantile's mean over containers and repeats), p99 marked: a line
    per ``hue`` value at the largest ``x``, or one per ``x`` when hue is x."""
    path, (x, hue) = output_path(out), x_and_hue(frame, x, hue)
    frame, failed = ok_points(frame)
    metrics = sorted({m for m in frame["metric"] if str(m).startswith(LATENCY_PREFIX)},
                     key=_quantile)
    if not metrics:
        raise ConfigError("latency needs latency_us_p* quantiles: run a workload that marks "
                          "operations on /dev/coffer/ops (for example @metadata)")
    points = point_rows(frame, metrics, per_container=True)
    where = ""
    if hue != x:
        largest = axis_order(points[x])[-1]  # the last on the x axis
        points = points[points[x] == largest]
        where = f", {x}={value_label(largest)}"
    table = points.groupby(config_columns(points, x, hue), sort=False, dropna=False)[metrics].mean()
    figure, ax = new_figure()
    fractions = [_quantile(m) for m in metrics]
    tail = min(range(len(metrics)), key=lambda i: abs(fractions[i] - TAIL_QUANTILE))
    for index, (label, rows) in enumerate(line_series(table.reset_index(), None, hue)):
        latencies = rows[metrics].mean().to_numpy()
        style = series_style(index)
        ax.plot(latencies, fractions, label=label, linewidth=1.8, markersize=4, **style)
        ax.plot([latencies[tail]], [fractions[tail]], linestyle="none", marker="o",
                markersize=TAIL_RING_SIZE, markerfacecolor="none", markeredgecolor=style["color"])
    ax.plot([], [], linestyle="none", marker="o", markersize=TAIL_RING_SIZE, color="#000000",
            markerfacecolor="none", label=f"p{PERCENT * fractions[tail]:g}")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(LogFormatter())
    ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=MINOR_LABELS))
    ax.set_ylim(0, CDF_TOP)
    ax.set_xlabel("operation latency (us, simulated; log scale)")
    ax.set_ylabel("cumulative fraction of operations")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, hue)
    ax.set_title("Latency CDF" + where + title_context(frame, failed))
    return save_figure(figure, path)


def plot_tradeoff(frame: pd.DataFrame, *, x: str | None, hue: str | None,
                  out: str | os.PathLike[str]) -> Path:
    """Isolation score against throughput, a point per kernel x personalities (averaged).

    ``x`` and ``hue`` are checked but not used: the kind fixes the axes.
    """
    path, _ = output_path(out), x_and_hue(frame, x, hue)
    frame, failed = ok_points(frame)
    if ISOLATION not in set(frame["metric"]):
        raise ConfigError('tradeoff needs isolation_score: run the sweep with probes = '
                          '["isolation"] or use `coffersim experiment`')
    points = point_rows(frame, [THROUGHPUT, ISOLATION]).dropna(subset=[THROUGHPUT, ISOLATION])
    keys = [k for k in ("kernel", STACKS) if k in points.columns]
    configs = points.groupby(keys, sort=False)[[THROUGHPUT, ISOLATION]].mean().reset_index()
    # labelled "linux: agent" (kernel: stack), coloured by kernel, as the experiment's
    drawn = [{**({"kernel": str(row["kernel"])} if "kernel" in keys else {}),
              "label": str(row[STACKS]) if STACKS in keys else "",
              "throughput": row[THROUGHPUT], "isolation": row[ISOLATION]}
             for _, row in configs.iterrows()]
    return plot_tradeoff_points(drawn, path, "Isolation against performance"
                                + title_context(frame, failed))


def plot_density(frame: pd.DataFrame, *, x: str | None, hue: str | None,
                 out: str | os.PathLike[str]) -> Path:
    """Agent density against the harm misbehaving agents did, per hosting model
    (:mod:`cofferos.results.agents_figure`; an agents sweep). ``x`` and ``hue`` are
    checked but not used: the kind fixes the axes."""
    path, _ = output_path(out), x_and_hue(frame, x, hue)
    frame, failed = ok_points(frame)
    wanted = [m for m in ("density", "harmed", "victims") if m in set(frame["metric"])]
    if not wanted:
        raise ConfigError("density needs an agents sweep with density and harm points: "
                          "see workloads/specs/agents.toml")
    density, shares = density_points(point_rows(frame, wanted))
    return plot_density_points(density, shares, path, "Agent density against isolation"
                               + title_context(frame, failed))


PLOTTERS: dict[str, Callable[..., Path]] = {
    "throughput": plot_throughput, "speedup": plot_speedup, "breakdown": plot_breakdown,
    "latency": plot_latency, "tradeoff": plot_tradeoff, "density": plot_density,
}


def plot_sweep(frame: pd.DataFrame, kind: str, x: str | None = None, hue: str | None = None,
               *, out: str | os.PathLike[str]) -> Path:
    """Draw the figure ``kind`` of a sweep's table to ``out`` (.png, .svg or .pdf)."""
    if kind not in PLOTTERS:
        raise ConfigError(f"unknown plot kind {kind!r}; choose one of: {', '.join(KINDS)}")
    return PLOTTERS[kind](frame, x=x, hue=hue, out=out)
