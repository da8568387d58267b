"""Figures of a kernel comparison: scaling lines and the CPU breakdown, for papers.

:func:`plot_comparison` draws the rows of ``coffersim compare`` (each a
:meth:`~cofferos.sim.experiment.RunReport.row` dictionary) as one PNG, PDF or
SVG with two panels:

* left: throughput per container (operations per simulated second) against the
  number of containers, one line per kernel architecture;
* right: where the machine's core time went in each run (user, kernel, lock
  wait, virtualization, idle), as stacked bars grouped by kernel.

Colours are the Okabe-Ito palette (distinguishable with the common colour
vision deficiencies); lines also differ by marker and bars by hatching, so the
figure survives a greyscale printer. :func:`series_style` gives the n-th line of
any figure its colour, marker and line style (no two alike for the first 32).
Drawing uses the Agg canvas directly, without pyplot, so no global matplotlib
state is touched and no display is needed. Every figure file of the project
(sweeps, experiments) is made with :func:`new_figure`, checked with
:func:`output_path` and written atomically with :func:`save_figure` (or, drawn by a
function that saves it itself, :func:`draw_to`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from cofferos.results.outputs import FIGURE_FORMATS, figure_format, open_output, write_bytes

#: Okabe & Ito, "Color Universal Design" (2008): safe for colour-blind readers.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
             "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Each round of len(OKABE_ITO) series gets the next line style (and shifts the markers).
LINESTYLES = ("-", "--", ":", "-.")
#: Breakdown categories: row key, legend label, colour, hatch.
BREAKDOWN = (
    ("cpu_user", "user", "#0072B2", ""),
    ("cpu_kernel", "kernel", "#E69F00", "//"),
    ("cpu_lock_wait", "lock wait", "#D55E00", "xx"),
    ("cpu_virtualization", "virtualization", "#CC79A7", ".."),
    ("cpu_idle", "idle", "#DDDDDD", ""),
)
FIGSIZE_INCHES = (11.0, 4.2)
DPI = 150
PERCENT = 100.0


def series_style(index: int) -> dict[str, Any]:
    """Colour, marker and line style of the ``index``-th series of a figure.

    Colours cycle through Okabe-Ito; each full round moves to the next line style and
    shifts the markers by one, so the first len(OKABE_ITO) x len(LINESTYLES) series (32)
    differ in (colour, marker, line style) and, for greyscale, in (marker, line style)
    alone; (colour, marker) alone, as scatter plots use it, is unique for the first 64.

    >>> series_style(0) == {"color": OKABE_ITO[0], "marker": "o", "linestyle": "-"}
    True
    >>> series_style(len(OKABE_ITO))["marker"], series_style(len(OKABE_ITO))["linestyle"]
    ('s', '--')
    """
    rounds = index // len(OKABE_ITO)
    return {"color": OKABE_ITO[index % len(OKABE_ITO)],
            "marker": MARKERS[(index + rounds) % len(MARKERS)],
            "linestyle": LINESTYLES[rounds % len(LINESTYLES)]}


def _kernels(rows: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(row["kernel"] for row in rows))


def _scaling(ax: Any, rows: Sequence[dict[str, Any]], cores: int | None) -> None:
    counts = sorted({row["containers"] for row in rows})
    for index, kernel in enumerate(_kernels(rows)):
        mine = sorted((row for row in rows if row["kernel"] == kernel),
                      key=lambda row: row["containers"])
        ax.plot([row["containers"] for row in mine],
                [row["throughput_per_container"] for row in mine],
                label=kernel, linewidth=1.8, **series_style(index))
    if len(counts) > 1 and counts[-1] / counts[0] >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(EngFormatter(sep=" "))  # 250 k, 1.5 M: no offset text
    on = f" on {cores} cores" if cores else ""
    ax.set_xlabel(f"containers{on}")
    ax.set_ylabel("throughput per container (ops per simulated second)")
    ax.set_title("Scaling")
    ax.grid(True, alpha=0.3)
    ax.legend(title="kernel")


def _breakdown(ax: Any, rows: Sequence[dict[str, Any]]) -> None:
    positions, labels, group_centres = [], [], []
    x = 0.0
    for kernel in _kernels(rows):
        mine = sorted((row for row in rows if row["kernel"] == kernel),
                      key=lambda row: row["containers"])
        start = x
        for row in mine:
            positions.append((x, row))
            labels.append(str(row["containers"]))
            x += 1.0
        group_centres.append(((start + x - 1.0) / 2, kernel))
        x += 0.6  # gap between kernels
    bottoms = [0.0] * len(positions)
    for key, label, colour, hatch in BREAKDOWN:
        heights = [PERCENT * (row.get(key) or 0.0) for _, row in positions]
        ax.bar([p for p, _ in positions], heights, bottom=bottoms, width=0.8, label=label,
               color=colour, hatch=hatch, edgecolor="#333333", linewidth=0.5)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_xticks([p for p, _ in positions], labels)
    for centre, kernel in group_centres:
        ax.annotate(kernel, xy=(centre, 0), xycoords=("data", "axes fraction"),
                    xytext=(0, -26), textcoords="offset points", ha="center", va="top",
                    fontweight="bold")
    ax.set_ylim(0, PERCENT)
    ax.set_xlabel("containers, by kernel", labelpad=22)
    ax.set_ylabel("share of all core time (%)")
    ax.set_title("CPU breakdown")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def plot_comparison(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str],
                    title: str | None = None) -> None:
    """Draw ``rows`` (kernel x containers) to ``path``; the format follows its suffix."""
    if not rows:
        raise ValueError("no rows to plot")
    cores = {row.get("cores") for row in rows}
    figure = Figure(figsize=FIGSIZE_INCHES, layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": (1.0, 1.25)})
    _scaling(left, rows, cores.pop() if len(cores) == 1 else None)
    _breakdown(right, rows)
    if title:
        figure.suptitle(title)
    with open_output(path, binary=True) as out:
        figure.savefig(out, dpi=DPI, format=figure_format(path))


# -- every figure file ------------------------------------------------------------------
#: What a figure may be written as (the file name's suffix).
FORMATS = FIGURE_FORMATS
PNG_DPI = 200  #: sweep and experiment figures (a paper's print resolution)
FIGURE_INCHES = (7.0, 4.5)  #: one panel: a paper's column width and a readable height
LEGEND_OUTSIDE: dict[str, Any] = {  # right of the axes, never over the data
    "loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "frameon": False}


def new_figure(width: float = FIGURE_INCHES[0]) -> tuple[Figure, Any]:
    """A one-panel figure on its own Agg canvas, laid out by constrained layout."""
    figure = Figure(figsize=(width, FIGURE_INCHES[1]), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def output_path(out: str | os.PathLike[str]) -> Path:
    """``out`` as a Path, a ConfigError unless its suffix is one of :data:`FORMATS`."""
    figure_format(out)
    return Path(out)


def save_figure(figure: Figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` atomically (a temporary file beside it, then a rename);
    a ConfigError, with nothing left behind, when it cannot be written."""
    with open_output(path, binary=True) as out:
        figure.savefig(out, dpi=PNG_DPI, format=figure_format(path))
    return path


def draw_to(draw: Callable[[str], None], path: Path) -> Path:
    """Run ``draw(file)`` (a function that saves its own figure, as the experiments' do)
    into a private temporary file, then write its bytes to ``path`` by the output rules
    (:func:`cofferos.results.outputs.write_bytes`: atomic for a regular file, through a
    symlink or to a device, never renamed over one); a ConfigError when it cannot be."""
    with tempfile.TemporaryDirectory(prefix="coffersim-figure.") as scratch:
        temporary = Path(scratch, f"figure{path.suffix}")  # the suffix names the format
        draw(str(temporary))
        write_bytes(path, temporary.read_bytes())
    return path
