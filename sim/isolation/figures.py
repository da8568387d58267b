"""Figures of the isolation experiments (matplotlib's object API, no pyplot, no display).

* :func:`fault_figure`: per fault kind and kernel, how many *other* containers a
  bug in one container hit, and the time to recover (log scale);
* :func:`noisy_figure`: per storm and kernel, the victim's throughput and p99
  latency with the storm over alone;

The trade-off figure of :mod:`.tradeoff` is the sweeps' own
(:func:`cofferos.results.tradeoff_figure.plot_tradeoff_points`), so both draw it alike.

Colours are the Okabe-Ito palette and bars are also hatched, so the figures
survive colour-vision deficiencies and greyscale printing. A result of repeated runs
(``--repeats``) gets error bars: the 95% confidence interval of each mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, MaxNLocator

from cofferos.results.plot import DPI, OKABE_ITO
from cofferos.sim.isolation.repeats import CI_SUFFIX

HATCHES = ("", "//", "xx", "..", "\\\\", "++")
FAULT_FIGSIZE = (11.0, 4.0)
NOISY_FIGSIZE = (9.0, 3.9)
BAR_GROUP_WIDTH = 0.8
HEADROOM = 1.25  #: room above the tallest bar for its label and the legend
MIN_SECONDS = 1e-4  #: floor of the log-scale recovery axis (0 s would not show)
ERROR_CAP = 2.0  #: points: the caps of the error bars (95% intervals of repeated runs)


def _bars(ax: Any, summary: Sequence[dict[str, Any]], key: str, scale: float = 1.0,
          label_format: Any = None, group: str = "fault") -> tuple[list[str], list[str]]:
    """Bars of ``key`` per ``group`` value (x), one hatched colour per kernel; with error
    bars (the 95% interval) where the lines have ``KEY_ci95`` (``--repeats``)."""
    kernels = list(dict.fromkeys(line["kernel"] for line in summary))
    faults = list(dict.fromkeys(line[group] for line in summary))
    width = BAR_GROUP_WIDTH / max(len(kernels), 1)
    for k, kernel in enumerate(kernels):
        values, errors = [], []
        for fault in faults:
            line = next((x for x in summary if x["kernel"] == kernel and x[group] == fault), {})
            values.append(max(float(line.get(key) or 0.0) * scale, 0.0))
            errors.append(float(line.get(key + CI_SUFFIX) or 0.0) * scale)
        bars = ax.bar([f + (k - (len(kernels) - 1) / 2) * width for f in range(len(faults))],
                      values, width=width, label=kernel, color=OKABE_ITO[k % len(OKABE_ITO)],
                      hatch=HATCHES[k % len(HATCHES)], edgecolor="#333333", linewidth=0.5,
                      yerr=errors if any(errors) else None, capsize=ERROR_CAP)
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
    left.set_xlabel("kernel bug in one container")
    left.set_title("Blast radius")
    left.grid(True, axis="y", alpha=0.3)
    left.legend(title="kernel", loc="upper left", bbox_to_anchor=(0.0, -0.15), ncols=4,
                frameon=False)
    floored = [{**line, "recovery_s": max(line["recovery_s"], MIN_SECONDS)} for line in summary]
    _bars(right, floored, "recovery_s")
    right.set_yscale("log")
    right.yaxis.set_major_formatter(EngFormatter(unit="s", sep=" "))
    right.set_ylabel("time to recover, worst container (s)")
    right.set_xlabel("kernel bug in one container")
    right.set_title("Recovery")
    right.grid(True, axis="y", alpha=0.3)
    figure.savefig(out, dpi=DPI)


def noisy_figure(summary: Sequence[dict[str, Any]], out: str) -> None:
    """Left: victim throughput with the storm over alone; right: its p99 latency likewise
    (log scale); one group per storm, a line at 1 (no effect)."""
    figure = Figure(figsize=NOISY_FIGSIZE, layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, 2)
    for ax, (key, label) in zip(panels, (
            ("throughput_ratio", "victim throughput, with storm / alone (ratio)"),
            ("p99_ratio", "victim p99 latency, with storm / alone (ratio)")), strict=True):
        kernels, _storms = _bars(ax, summary, key, group="storm")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("neighbours' storm")
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    panels[1].set_yscale("log")
    # one legend above both panels, where it covers no bar
    figure.legend(*panels[0].get_legend_handles_labels(), title="kernel", fontsize="small",
                  loc="outside upper center", ncols=len(kernels))
    figure.savefig(out, dpi=DPI)
