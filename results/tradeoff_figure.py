"""The isolation/performance trade-off figure: configurations and their Pareto front.

One point per configuration (a kernel x personality stack) at (throughput per
container, isolation score), coloured by kernel, the Pareto front (maximising
both) drawn as a dashed step line with its points circled, and each point
labelled where its label covers no other label and no point. Drawn alike by
``coffersim experiment tradeoff`` (:mod:`cofferos.sim.isolation.tradeoff`) and
``coffersim plot --kind tradeoff`` (:mod:`cofferos.results.figures`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.ticker import EngFormatter

from cofferos.errors import ConfigError
from cofferos.results.plot import LEGEND_OUTSIDE, new_figure, output_path, save_figure, series_style

POINTS_PER_INCH = 72
#: Trade-off labels: the first place beside its point (offsets in points, then further
#: away in steps) where a label covers no other label and no point, inside the axes;
#: a label set further than the first ring is joined to its point by a thin leader.
LABEL_GAP_POINTS, LABEL_RINGS, LABEL_RING_STEP_POINTS = 6, 6, 11
LABEL_LEADER = {"arrowstyle": "-", "color": "#777777", "lw": 0.6}
POINT_HALF_POINTS = 5  #: half the side of the box a plotted point occupies
FRONT_RING_SIZE, PLAIN_POINT_SIZE = 160, 50  # points^2: the Pareto ring, a point
TRADEOFF_X_ROOM, TRADEOFF_Y_ROOM = 1.2, 1.08  # headroom for the labels beside the points


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices (ascending) of the points no other point dominates, maximising both coordinates.

    A point is dominated when another is at least as good in both and better in one;
    equal points dominate neither, so duplicates on the front are all kept.
    """
    return [i for i, (x, y) in enumerate(points)
            if not any(ox >= x and oy >= y and (ox > x or oy > y) for ox, oy in points)]


def _label_candidates() -> list[tuple[float, float, str, str]]:
    """Label offsets (points) with their alignment, nearest first: right, left, above,
    below of the point, then the same further out, ring by ring."""
    out = []
    for ring in range(LABEL_RINGS):
        gap, lift = LABEL_GAP_POINTS, LABEL_GAP_POINTS / 2 + ring * LABEL_RING_STEP_POINTS
        out += [(gap, lift, "left", "bottom"), (gap, -lift, "left", "top"),
                (-gap, lift, "right", "bottom"), (-gap, -lift, "right", "top"),
                (0, gap + ring * LABEL_RING_STEP_POINTS, "center", "bottom"),
                (0, -gap - ring * LABEL_RING_STEP_POINTS, "center", "top")]
    return out


def _label_points(ax: Any, points: list[dict[str, Any]],
                  coords: list[tuple[float, float]]) -> None:
    """One label per place (points at the same place share it, "kernel: a, b"), each at
    the nearest offset where it covers no other label and no point: configurations of
    one kernel often sit close together, and a paper figure must stay readable."""
    places: dict[tuple[str, tuple[float, float]], list[str]] = {}
    for point, xy in zip(points, coords, strict=True):
        places.setdefault((str(point.get("kernel", "")), xy), []).append(str(point["label"]))
    figure = ax.figure
    figure.canvas.draw()  # lay the figure out: placement works in display units
    renderer = figure.canvas.get_renderer()
    scale = figure.dpi / POINTS_PER_INCH
    frame = ax.get_window_extent(renderer)
    half = POINT_HALF_POINTS * scale
    taken = []  # display boxes (x0, y0, x1, y1) of points and placed labels
    for x, y in coords:
        px, py = ax.transData.transform((x, y))
        taken.append((px - half, py - half, px + half, py + half))
    candidates = _label_candidates()
    for (kernel, (x, y)), labels in sorted(places.items(), key=lambda item: -item[0][1][1]):
        text = ", ".join(dict.fromkeys(labels))
        label = ax.annotate(f"{kernel}: {text}" if kernel else text, (x, y), xytext=(0, 0),
                            textcoords="offset points", fontsize="small")
        px, py = ax.transData.transform((x, y))
        own = (px - half, py - half, px + half, py + half)
        for index, (dx, dy, ha, va) in enumerate(candidates):
            far = index >= len(candidates) // LABEL_RINGS  # beyond the first ring
            label.set_position((dx, dy))
            label.set_ha(ha)
            label.set_va(va)
            box = label.get_window_extent(renderer)
            inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0
                      and box.y1 <= frame.y1)
            clear = not any(box.x0 < b[2] and box.x1 > b[0] and box.y0 < b[3] and box.y1 > b[1]
                            for b in taken if b != own)
            if inside and clear:
                break
        if far:  # a leader to its point
            label.remove()
            ax.annotate(label.get_text(), (x, y), xytext=(dx, dy), textcoords="offset points",
                        fontsize="small", ha=ha, va=va, arrowprops=LABEL_LEADER)
        taken.append((box.x0, box.y0, box.x1, box.y1))


def plot_tradeoff_points(points: list[dict[str, Any]], out: str | os.PathLike[str],
                         title: str = "Isolation against performance") -> Path:
    """Scatter ``points`` (dicts of label, throughput, isolation, and optionally kernel, which
    then sets the colour and legend) with their Pareto front."""
    path = output_path(out)
    if not points:
        raise ConfigError("no configurations to draw")
    coords = [(float(p["throughput"]), float(p["isolation"])) for p in points]
    front = pareto_front(coords)
    figure, ax = new_figure()
    # one colour and marker per kernel when the points say theirs, else one per point
    groups = list(dict.fromkeys(str(p.get("kernel", i)) for i, p in enumerate(points)))
    legended: set[int] = set()
    for index, (point, (tput, iso)) in enumerate(zip(points, coords, strict=True)):
        group = groups.index(str(point.get("kernel", index)))
        label = point.get("kernel") if "kernel" in point and group not in legended else None
        legended.add(group)
        style = series_style(group)
        ax.scatter([tput], [iso], s=PLAIN_POINT_SIZE, zorder=3, label=label,
                   color=style["color"], marker=style["marker"])
    steps = sorted((coords[i] for i in front), key=lambda c: (c[0], -c[1]))
    ax.step([c[0] for c in steps], [c[1] for c in steps], where="pre", color="#000000",
            linestyle="--", linewidth=1.2, label="Pareto front")
    ax.scatter([c[0] for c in steps], [c[1] for c in steps], s=FRONT_RING_SIZE,
               facecolors="none", edgecolors="#000000", zorder=4, label="Pareto-optimal")
    ax.set_xlim(0, max(c[0] for c in coords) * TRADEOFF_X_ROOM)
    ax.set_ylim(0, max(1.0, *(c[1] for c in coords)) * TRADEOFF_Y_ROOM)
    ax.xaxis.set_major_formatter(EngFormatter(sep=" "))
    ax.set_xlabel("throughput per container (ops/s, simulated)")
    ax.set_ylabel("isolation score (0-1, higher is better isolated)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", **LEGEND_OUTSIDE)
    ax.set_title(title)
    _label_points(ax, points, coords)
    return save_figure(figure, path)
