"""The validation figure: each workload's scaling curve under each kernel and placement.

One small panel per workload (throughput relative to one worker against workers,
the dashed diagonal being linear scaling), one line per kernel x placement. Drawn
by ``coffersim validate`` (:mod:`cofferos.cli_validate`) from its points, and by
``coffersim plot DIR`` on the directory it wrote, from the rows there
(:func:`points_from_rows`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from matplotlib.figure import Figure

from cofferos.errors import ConfigError
from cofferos.results.plot import output_path, save_figure, series_style

PANEL_INCHES = 2.2  #: width and height of one workload's panel
COLUMNS = 6  #: panels per row


def points_from_rows(rows: Sequence[dict[str, Any]]) -> list[SimpleNamespace]:
    """The curves' points again from a validate directory's rows (each row a curve: its
    ``workers`` and ``throughput`` lists, as JSON text when read from the table); a
    ConfigError when a row lacks them."""
    points = []
    for row in rows:
        try:
            workers, throughput = (json.loads(row[key]) if isinstance(row[key], str)
                                   else row[key] for key in ("workers", "throughput"))
            points += [SimpleNamespace(workload=row["workload"], kernel=row["kernel"],
                                       placement=row["placement"], workers=int(n),
                                       throughput=float(t))
                       for n, t in zip(workers, throughput, strict=True)]
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"a validate row without its curve ({err})") from err
    return points


def plot_validation(points: Sequence[Any], out: str | os.PathLike[str]) -> Path:
    """Draw ``points`` (cofferos.sim.validate.Point) as speedup curves, one panel per
    workload; returns the path written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = output_path(out)
    if not points:
        raise ConfigError("no validation points to draw")
    workloads = list(dict.fromkeys(p.workload for p in points))
    series = list(dict.fromkeys((p.kernel, p.placement) for p in points))
    columns = min(COLUMNS, len(workloads))
    rows = math.ceil(len(workloads) / columns)
    figure = Figure(figsize=(PANEL_INCHES * columns, PANEL_INCHES * rows + 0.6),
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    top = max(p.workers for p in points)
    for index, workload in enumerate(workloads):
        ax = axes[index // columns][index % columns]
        ax.plot([1, top], [1, top], color="#999999", linestyle="--", linewidth=0.8)
        for number, (kernel, placement) in enumerate(series):
            curve = sorted((p.workers, p.throughput) for p in points if p.workload == workload
                           and p.kernel == kernel and p.placement == placement)
            if not curve or curve[0][1] <= 0:
                continue
            base = curve[0][1] / curve[0][0]
            style = series_style(number)
            ax.plot([n for n, _t in curve], [t / base for _n, t in curve],
                    label=f"{kernel} {placement}", color=style["color"],
                    marker=style["marker"], linestyle=style["linestyle"], markersize=3)
        ax.set_title(workload.split(":", 1)[-1], fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.grid(True, alpha=0.3)
    for index in range(len(workloads), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(series), 4),
                  fontsize="small")
    figure.suptitle("speedup over one worker against workers (dashed: linear)",
                    fontsize="small")
    return save_figure(figure, path)
