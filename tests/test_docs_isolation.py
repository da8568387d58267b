"""docs/isolation.md cannot drift from the code: some rows of each table, rerun.

The page is written by ``coffersim experiment report`` (every experiment in its
default configuration). Each test here reruns that command for a few of a
table's rows, at the page's size (the same containers, cores, seed and settings;
only fewer kernels, faults, attacks or storms: each row is its own runs), and
compares every shown cell with the committed one: numbers within
:data:`report.DRIFT_RELATIVE` (relative; the page rounds to 4 significant
digits), every other cell exactly. ``tradeoff`` reruns only its throughput for
one configuration (its scores are checked against the other tables of the page,
which the tests above rerun): the whole experiment takes minutes.

When a change moves a number on purpose, regenerate the page
(``coffersim experiment report``) and commit it with the change.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from cofferos.sim import isolation
from cofferos.sim.isolation import experiment, report, run_experiment, tradeoff
from cofferos.sim.isolation.common import ExperimentParams, ExperimentResult

PAGE = Path(__file__).resolve().parent.parent / "docs" / "isolation.md"
#: Small value that a zero in the table may drift by (lock waits in us, ratios).
ABSOLUTE = 0.01
#: Per experiment: the cells that name a row, and the subset of the documented command
#: rerun (kernels and settings; the rest is the page's default configuration).
RERUNS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "fault": (("kernel", "personalities", "fault"),
              {"kernels": ("linux", "cofferos"), "options": {"kinds": "leak"}}),
    "infoflow": (("kernel",), {"kernels": ("linux", "vm")}),
    "exhaustion": (("kernel", "personality", "attack"),
                   {"kernels": ("linux",), "options": {"attacks": "fork"}}),
    "noisy-neighbor": (("kernel", "storm"),
                       {"kernels": ("linux", "cofferos"), "options": {"storms": "pagecache"}}),
    "surface": (("kernel", "personalities"), {"kernels": ("linux",)}),
}


@pytest.fixture(scope="module")
def tables() -> dict[str, list[dict[str, str]]]:
    return report.read_tables(PAGE.read_text())


def same(committed: str, value: Any) -> bool:
    """A rerun value against a committed cell, within the stated tolerance."""
    shown = report._cell(value)
    if shown == committed:
        return True
    try:
        return math.isclose(float(committed), float(shown), rel_tol=report.DRIFT_RELATIVE,
                            abs_tol=ABSOLUTE)
    except ValueError:
        return False


def drifted(name: str, keys: tuple[str, ...], committed: list[dict[str, str]],
            result: ExperimentResult) -> list[str]:
    """What differs between the rerun rows and the page's, one line each."""
    rows = {tuple(row[k] for k in keys): row for row in committed}
    columns = list(result.columns) or list(committed[0])
    found = []
    for row in result.shown:
        key = tuple(report._cell(row[k]) for k in keys)
        if key not in rows:
            found.append(f"{name} {key}: not on the page")
            continue
        found += [f"{name} {key} {column}: page {rows[key][column]!r}, now "
                  f"{report._cell(row.get(column))!r}"
                  for column in columns if not same(rows[key].get(column, "(no column)"),
                                                         row.get(column))]
    return found


@pytest.mark.parametrize("name", list(RERUNS))
def test_the_rows_on_the_page_are_what_the_command_gives(name, tables):
    keys, subset = RERUNS[name]
    params = ExperimentParams(containers=None, cores=None, **subset)
    result = run_experiment(experiment(name), params)
    assert result.shown, name
    assert drifted(name, keys, tables[name], result) == []


def test_same_tolerates_rounding_and_not_more():
    assert same("1.152e+05", 115_210.7) and same("0.147", 0.1471)
    assert same("0", 0.004)  # a zero lock wait that is a few ns now
    assert not same("0.147", 0.16) and not same("linux", "cofferos")
    assert not same("10", 11)


def test_a_drifted_row_is_reported():
    result = ExperimentResult("surface", [{"kernel": "linux", "reachable_calls": 200}], {}, "",
                              columns=("kernel", "reachable_calls"))
    assert drifted("surface", ("kernel",), [{"kernel": "linux", "reachable_calls": "221"}],
                   result) == ["surface ('linux',) reachable_calls: page '221', now '200'"]


def _number(cell: str) -> Any:
    try:
        return int(cell)
    except ValueError:
        return float(cell) if cell not in ("", "-") else None


def _page_results(tables: dict[str, list[dict[str, str]]]) -> dict[str, ExperimentResult]:
    """The results of the experiments tradeoff scores, as far as their checks need them,
    from the page's tables."""
    fault = [{**row, "bystanders_hit": int(row["bystanders_hit"])} for row in tables["fault"]]
    noisy = [{"kernel": row["kernel"], "storm": row["storm"], "measure": "throughput",
              "ratio": _number(row["throughput_ratio"])} for row in tables["noisy-neighbor"]]
    infoflow = [{**row, "kernel_channels": int(row["kernel_channels"])}
                for row in tables["infoflow"]]
    return {"fault": ExperimentResult("fault", fault, {}, "", summary=fault),
            "exhaustion": ExperimentResult("exhaustion", tables["exhaustion"], {}, ""),
            "noisy-neighbor": ExperimentResult("noisy-neighbor", noisy, {}, ""),
            "infoflow": ExperimentResult("infoflow", infoflow, {}, "", summary=infoflow)}


def test_the_tradeoff_scores_follow_from_the_other_tables(tables, monkeypatch):
    results = _page_results(tables)
    names = {module: name for name, module in isolation.EXPERIMENTS.items()}
    monkeypatch.setattr(isolation, "run_experiment",
                        lambda module, params, check_options=True:
                        results[names[module.__name__]])
    kernels = tuple(dict.fromkeys(row["kernel"] for row in tables["infoflow"]))
    params = ExperimentParams(kernels=kernels, personalities=tradeoff.DEFAULT_STACKS)
    found = tradeoff.checks(params, verbose=False)
    page = {(row["kernel"], row["personalities"]): row for row in tables["tradeoff"]}
    assert set(page) == set(found)
    for key, checks in found.items():
        failed = ",".join(name for name, ok in checks if not ok)
        assert (page[key]["checks_passed"], page[key]["checks_total"],
                page[key]["failed_checks"]) == (
            str(sum(ok for _name, ok in checks)), str(len(checks)), failed), key


def test_the_tradeoff_throughput_on_the_page_is_what_the_command_gives(tables):
    page = next(row for row in tables["tradeoff"]
                if (row["kernel"], row["personalities"]) == ("cofferos", "none"))
    measured = tradeoff._throughput(ExperimentParams(), "cofferos", ())
    assert same(page["throughput_per_container"], measured)
