"""Figures of the isolation experiments (matplotlib's object API, no pyplot, no display).

* :func:`fault_figure`: per fault kind and kernel, how many *other* containers a
  bug in one container hit, and the time to recover (log scale);
* :func:`tradeoff_figure`: isolation score against throughput per container, one
  point per kernel x personality configuration, the Pareto front marked (the
  figure of :mod:`.tradeoff`).

Colours are the Okabe-Ito palette and bars are also hatched, so the figures
survive colour-vision deficiencies and greyscale printing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, MaxNLocator

from cofferos.results.plot import DPI, MARKERS, OKABE_ITO

HATCHES = ("", "//", "xx", "..", "\\\\", "++")
FAULT_FIGSIZE = (11.0, 4.0)
TRADEOFF_FIGSIZE = (7.0, 5.0)
BAR_GROUP_WIDTH = 0.8
HEADROOM = 1.25  #: room above the tallest bar for its label and the legend
MIN_SECONDS = 1e-4  #: floor of the log-scale recovery axis (0 s would not show)


def _bars(ax: Any, summary: Sequence[dict[str, Any]], key: str, scale: float = 1.0,
          label_format: Any = None) -> tuple[list[str], list[str]]:
    kernels = list(dict.fromkeys(line["kernel"] for line in summary))
    faults = list(dict.fromkeys(line["fault"] for line in summary))
    width = BAR_GROUP_WIDTH / max(len(kernels), 1)
    for k, kernel in enumerate(kernels):
        values = []
        for fault in faults:
            line = next((x for x in summary if x["kernel"] == kernel and x["fault"] == fault), {})
            values.append(max(float(line.get(key, 0.0)) * scale, 0.0))
        bars = ax.bar([f + (k - (len(kernels) - 1) / 2) * width for f in range(len(faults))],
                      values, width=width, label=kernel, color=OKABE_ITO[k % len(OKABE_ITO)],
                      hatch=HATCHES[k % len(HATCHES)], edgecolor="#333333", linewidth=0.5)
        if label_format:
            ax.bar_label(bars, labels=[label_format(v) for v in values], fontsize=7, padding=1)
    ax.set_xticks(range(len(faults)), faults)
    return kernels, faults


def fault_figure(summary: Sequence[dict[str, Any]], out: str, containers: int) -> None:
    """Left: bystanders hit per fault and kernel; right: time to recover (log scale)."""
    figure = Figure(figsize=FAULT_FIGSIZE, layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    _bars(left, summary, "bystanders_hit", label_format=lambda v: f"{v:g}")
    left.set_ylim(0, max(containers - 1, 1) * HEADROOM)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_ylabel(f"other containers hit (of {containers - 1})")
    left.set_xlabel("kernel bug in container 0")
    left.set_title("Blast radius")
    left.grid(True, axis="y", alpha=0.3)
    left.legend(title="kernel", loc="upper left", bbox_to_anchor=(0.0, -0.15), ncols=4,
                frameon=False)
    floored = [{**line, "recovery_s": max(line["recovery_s"], MIN_SECONDS)} for line in summary]
    _bars(right, floored, "recovery_s")
    right.set_yscale("log")
    right.yaxis.set_major_formatter(EngFormatter(unit="s", sep=" "))
    right.set_ylabel("time to recover, worst container (s)")
    right.set_xlabel("kernel bug in container 0")
    right.set_title("Recovery")
    right.grid(True, axis="y", alpha=0.3)
    figure.savefig(out, dpi=DPI)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (maximising both).

    A point is dominated when another is at least as good on both and better on
    one; equal points are all on the front.

    >>> pareto_front([(1, 1), (2, 0.5), (0.5, 0.5), (2, 0.5)])
    [0, 1, 3]
    """
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((ox >= x and oy >= y) and (ox > x or oy > y)
                        for j, (ox, oy) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def tradeoff_figure(points: Sequence[dict[str, Any]], out: str, title: str) -> None:
    """Isolation score against throughput per container, one point per configuration.

    ``points``: dicts with ``label``, ``kernel``, ``throughput`` (ops per simulated
    second) and ``isolation`` (0..1). The Pareto front is drawn as a step line.
    """
    figure = Figure(figsize=TRADEOFF_FIGSIZE, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    kernels = list(dict.fromkeys(p["kernel"] for p in points))
    for k, kernel in enumerate(kernels):
        mine = [p for p in points if p["kernel"] == kernel]
        ax.scatter([p["throughput"] for p in mine], [p["isolation"] for p in mine],
                   label=kernel, color=OKABE_ITO[k % len(OKABE_ITO)],
                   marker=MARKERS[k % len(MARKERS)], s=60, zorder=3, edgecolor="#333333")
        for p in mine:
            ax.annotate(p["label"], (p["throughput"], p["isolation"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
    front = sorted((points[i] for i in pareto_front(
        [(p["throughput"], p["isolation"]) for p in points])), key=lambda p: p["throughput"])
    if front:
        ax.step([p["throughput"] for p in front], [p["isolation"] for p in front],
                where="post", color="#000000", linestyle="--", linewidth=1.0,
                label="Pareto front", zorder=2)
        ax.scatter([p["throughput"] for p in front], [p["isolation"] for p in front],
                   facecolor="none", edgecolor="#000000", s=160, zorder=4)
    ax.set_xlabel("throughput per container (ops per simulated second)")
    ax.xaxis.set_major_formatter(EngFormatter(sep=" "))
    ax.set_ylabel("isolation score (share of isolation checks passed)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower left")
    figure.savefig(out, dpi=DPI)
