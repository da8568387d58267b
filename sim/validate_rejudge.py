"""Re-judging ``validate --sensitivity``'s varied curves: each row's agreement, each gain.

A varied curve (one lock constant scaled, ``sim/validate_sensitivity.py``) is judged
exactly as ``coffersim validate`` judges the unvaried one: by
:func:`cofferos.sim.validate.rows_for` (its verdict, bottleneck and agreement with
the published finding, which for a finding that names its callers, as MOSBENCH's
Exim row does, is the share of the lock waits charged to them) and, for a published
gain whose base and variant kernels both ran (``sim/validate_gain.py``), by
:func:`cofferos.sim.validate_gain.judge_gains` on the two kernels' curves varied by
the same constant and factor. A row *flips* when its verdict, bottleneck or
agreement changes; a gain flips when its agreement does.

Both kernels of a gain are varied by the union of the constants either takes
(:func:`constants_to_vary`): a constant only one kernel takes still scales every
version table, so the other kernel's run is the unvaried one only if the machine
never reads it, and the gain is judged from two runs of one setting either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cofferos.sim.lockversions import split_kernel
from cofferos.sim.validate import Point, rows_for
from cofferos.sim.validate_gain import GAINS, judge_gains

Curve = tuple[str, str, str]  #: (workload, kernel, placement)
ONE = "one"  #: (the placement a gain is judged in, as validate_gain's)


def gain_pairs(curves: Sequence[Curve]) -> list[tuple[Curve, Curve]]:
    """(base curve, variant curve) of each published gain both of whose kernels' one-
    container curves are among ``curves`` (matched by version, as judge_gains does)."""
    pairs = []
    for gain in GAINS.values():
        by_version = {split_kernel(kernel)[1]: (workload, kernel, placement)
                      for workload, kernel, placement in curves
                      if workload == gain.workload and placement == ONE
                      and split_kernel(kernel)[0] == "linux"}
        if gain.base in by_version and gain.variant in by_version:
            pairs.append((by_version[gain.base], by_version[gain.variant]))
    return pairs


def constants_to_vary(taken: Mapping[Curve, set[str]]) -> dict[Curve, set[str]]:
    """The lock names to vary for each curve: those its runs took, and for the two curves
    of a published gain the union of both curves' names."""
    names = {curve: set(found) for curve, found in taken.items()}
    for base, variant in gain_pairs(list(taken)):
        union = names[base] | names[variant]
        names[base], names[variant] = set(union), set(union)
    return names


def rejudge(base: Sequence[Point], varied: Sequence[tuple[str, float, Point]],
            costs: Sequence[str] = ()) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, gains) of a sensitivity run: ``base`` is the unvaried points, ``varied`` each
    varied point with its (constant, factor). One row per (workload, kernel, placement,
    constant, factor): the varied verdict, bottleneck and agreement beside the
    unvaried ones, and whether any changed (``flips``). One gain per published gain
    judged on the unvaried rows and (constant, factor) whose varied rows hold both
    its kernels: the varied gain and agreement beside the unvaried ones."""
    unvaried = {(r["workload"], r["kernel"], r["placement"]): r for r in rows_for(base)}
    curves: dict[tuple[str, str, str, str, float], list[Point]] = {}
    for constant, factor, point in varied:
        key = (point.workload, point.kernel, point.placement, constant, factor)
        curves.setdefault(key, []).append(point)
    rows: list[dict[str, Any]] = []
    by_setting: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for (workload, kernel, placement, constant, factor), curve in curves.items():
        (now,) = rows_for(curve)
        was = unvaried[(workload, kernel, placement)]
        by_setting.setdefault((constant, factor), []).append(now)
        rows.append({"workload": workload, "kernel": kernel, "placement": placement,
                     "constant": constant, "factor": factor,
                     "verdict": now["verdict"], "bottleneck": now["bottleneck"],
                     "agrees": now["agrees"], "of_linear": now["of_linear"],
                     "base_verdict": was["verdict"], "base_bottleneck": was["bottleneck"],
                     "base_agrees": was["agrees"], "base_of_linear": was["of_linear"],
                     "flips": any(now[k] != was[k]
                                  for k in ("verdict", "bottleneck", "agrees"))})
    return rows, _rejudge_gains(list(unvaried.values()), by_setting, costs)


def _rejudge_gains(unvaried: Sequence[dict[str, Any]],
                   by_setting: Mapping[tuple[str, float], Sequence[dict[str, Any]]],
                   costs: Sequence[str]) -> list[dict[str, Any]]:
    """Each published gain of the unvaried rows, judged again on each setting's rows."""
    judged = {g["workload"]: g for g in judge_gains(unvaried, costs)}
    gains = []
    for (constant, factor), rows in by_setting.items():
        for now in judge_gains(rows, costs):
            was = judged.get(now["workload"])
            if was is None:
                continue
            gains.append({"workload": now["workload"], "base_kernel": now["base"],
                          "variant_kernel": now["variant"], "workers": now["workers"],
                          "sockets": now["sockets"], "constant": constant, "factor": factor,
                          "gain": now["gain"], "agrees": now["agrees"],
                          "unvaried_gain": was["gain"], "unvaried_agrees": was["agrees"],
                          "published_gain": now["published_gain"],
                          "flips": now["agrees"] != was["agrees"]})
    return gains
