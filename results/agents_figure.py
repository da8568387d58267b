"""Agent density against isolation: ``coffersim plot DIR --kind density`` of an agents sweep.

The points of a sweep of the agents experiment (``experiment = "agents"``,
workloads/specs/agents.toml) come in two sorts: points that search the **density**
(``density_limit`` > 0: how many agents one machine hosts before p99 task latency
doubles) and points where agents **misbehave** (``misbehave`` set: how many of the
other agents each misbehaviour harmed, observed against a baseline run;
docs/agents.md). This figure joins them by hosting model: one marker per hosting
model x misbehaviour at (its hosting model's density, the share of the other agents
that misbehaviour harmed), coloured by hosting model, shaped by misbehaviour. Up and
to the left is worse: fewer agents per machine and more harm. Repeats are averaged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.ticker import MaxNLocator

from cofferos.errors import ConfigError
from cofferos.results.plot import LEGEND_OUTSIDE, new_figure, output_path, save_figure

DENSITY, HARMED, VICTIMS = "density", "harmed", "victims"
HOSTING, MISBEHAVE = "hosting", "misbehave"
NO_MISBEHAVE = ("", "none")  #: a point whose agents all behave
#: Marker shapes for misbehaviours, in the order they first appear; colours for hosting
#: models (Okabe-Ito, as every figure).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h")
MARKER_SIZE = 60
#: Markers that would sit on one another (hosting models of equal density, a hosting
#: model's misbehaviours) are spread sideways by these fractions of a density unit.
HOSTING_SPREAD, KIND_SPREAD = 0.16, 0.045
Y_ROOM = (-0.05, 1.05)
X_ROOM = 1  #: agents of room either side of the densities


def density_points(points: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    """Each hosting model's density (mean over its density points) and the harm points
    (hosting, misbehave, harmed share), averaged over repeats; a one-line ConfigError
    when either sort of point is missing."""
    if HOSTING not in points.columns or MISBEHAVE not in points.columns:
        raise ConfigError("density needs an agents sweep (experiment = \"agents\", with "
                          "hosting and misbehave): see workloads/specs/agents.toml")
    hosting = points[HOSTING].where(points[HOSTING] != "", points.get("kernel", ""))
    points = points.assign(**{HOSTING: hosting})
    dense = points[points.get(DENSITY, pd.Series(dtype=float)).notna()] \
        if DENSITY in points.columns else points.iloc[0:0]
    harm = points[~points[MISBEHAVE].isin(NO_MISBEHAVE)] if HARMED in points.columns \
        else points.iloc[0:0]
    if dense.empty or harm.empty:
        raise ConfigError("density needs points with density_limit > 0 (the density) and "
                          "points with misbehave set (the harm): see "
                          "workloads/specs/agents.toml")
    density = dense.groupby(HOSTING, sort=False)[DENSITY].mean().to_dict()
    harm = harm.assign(share=harm[HARMED] / harm[VICTIMS].where(harm[VICTIMS] > 0))
    shares = harm.groupby([HOSTING, MISBEHAVE], sort=False)["share"].mean().reset_index()
    return density, shares[shares[HOSTING].isin(density)]


def plot_density_points(density: dict[str, float], shares: pd.DataFrame,
                        out: str | os.PathLike[str], title: str) -> Path:
    from cofferos.results.plot import OKABE_ITO

    path = output_path(out)
    if shares.empty:
        raise ConfigError("density: no hosting model has both a density and a harm point")
    figure, ax = new_figure()
    hostings = list(density)
    kinds = list(dict.fromkeys(shares[MISBEHAVE]))
    for h_index, name in enumerate(hostings):
        mine = shares[shares[HOSTING] == name]
        for k_index, row in enumerate(mine.itertuples(index=False)):
            kind = getattr(row, MISBEHAVE)
            offset = ((h_index - (len(hostings) - 1) / 2) * HOSTING_SPREAD
                      + (k_index - (len(mine) - 1) / 2) * KIND_SPREAD)
            ax.scatter([density[name] + offset], [row.share], s=MARKER_SIZE,
                       color=OKABE_ITO[h_index % len(OKABE_ITO)],
                       marker=MARKERS[kinds.index(kind) % len(MARKERS)],
                       edgecolors="black", linewidths=0.5, zorder=3)
    handles: list[Any] = []
    for h_index, name in enumerate(hostings):
        handles.append(ax.scatter([], [], s=MARKER_SIZE, marker="o",
                                  color=OKABE_ITO[h_index % len(OKABE_ITO)], label=name))
    for k_index, kind in enumerate(kinds):
        handles.append(ax.scatter([], [], s=MARKER_SIZE, color="white", edgecolors="black",
                                  marker=MARKERS[k_index % len(MARKERS)], label=kind))
    ax.legend(handles=handles, **LEGEND_OUTSIDE)
    # Whole agents on the axis, a unit of room either side: the sideways spread of the
    # markers is not read as a difference in density.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(min(density.values()) - X_ROOM, max(density.values()) + X_ROOM)
    ax.set_xlabel("agent density (agents before p99 task latency doubles; markers of "
                  "equal density side by side)", fontsize=8)
    ax.set_ylabel("share of the other agents harmed")
    ax.set_ylim(*Y_ROOM)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    return save_figure(figure, path)
