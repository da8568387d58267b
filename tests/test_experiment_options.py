"""``coffersim experiment``'s run options: ``--cost`` on every run, ``--repeats`` with
confidence intervals, and results written outside the tracked tree."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cofferos.cli import main
from cofferos.results.confidence import ci95, t975
from cofferos.sim.experiment import active_cost_overrides
from cofferos.sim.isolation import experiment, run_experiment
from cofferos.sim.isolation.common import ExperimentParams, ExperimentResult
from cofferos.sim.isolation.repeats import CI_SUFFIX, DISAGREE, combine_rows

ROOT = Path(__file__).resolve().parents[1]
#: noisy-neighbor at a size that runs in about a second per kernel: the page-cache storm,
#: whose victim pays page_cache_miss for every miss.
TINY = {"containers": 3, "cores": 4,
        "options": {"storms": "pagecache", "victim_iterations": "20", "cache_pages": "64"}}


def _noisy(**fields: Any) -> ExperimentResult:
    return run_experiment(experiment("noisy-neighbor"),
                          ExperimentParams(kernels=("linux",), **{**TINY, **fields}))


def _alone(result: ExperimentResult, measure: str = "throughput") -> float:
    return next(r["alone"] for r in result.rows if r["measure"] == measure)


@pytest.fixture(scope="module")
def plain() -> ExperimentResult:
    return _noisy()


def test_a_cost_override_reaches_the_experiments_runs_and_its_manifest(plain):
    dearer = _noisy(costs=("page_cache_miss=60000",))
    assert _alone(dearer, "cache_misses") == _alone(plain, "cache_misses") > 0
    assert _alone(dearer) < _alone(plain)  # the same misses, each twice as dear
    assert dearer.configuration["cost"] == ["page_cache_miss=60000"]
    assert plain.configuration["cost"] == []
    assert active_cost_overrides() == ()  # nothing leaks into later runs


def test_a_cost_profile_reaches_the_experiments_runs(plain):
    other = _noisy(costs=("profile=current-nomitig",))
    assert _alone(other) != _alone(plain)
    assert other.configuration["cost"] == ["profile=current-nomitig"]


def test_the_sweep_isolation_probe_passes_the_points_costs_on(monkeypatch):
    from cofferos.sim.isolation import tradeoff

    seen: list[ExperimentParams] = []
    monkeypatch.setattr(tradeoff, "checks",
                        lambda params, verbose=True: seen.append(params) or {})
    tradeoff.isolation_probe({"kernel": "linux", "personalities": [], "seed": 0,
                              "cost": ["entry_exit=100"]})
    assert seen[0].costs == ("entry_exit=100",)


def test_student_t_quantiles():
    assert t975(1) == 12.706 and t975(30) == 2.042
    assert 2.0 < t975(50) < 2.021  # between the 40 and 60 rows
    assert t975(10**9) == pytest.approx(1.96, abs=1e-3)


def test_rows_of_repeats_become_means_with_intervals():
    runs = [[{"kernel": "linux", "n": 3, "x": 1.0, "ok": True, "why": "a"},
             {"kernel": "vm", "n": 3, "x": 5.0, "ok": False, "why": "b"}],
            [{"kernel": "linux", "n": 3, "x": 3.0, "ok": True, "why": "c"},
             {"kernel": "vm", "n": 3, "x": 5.0, "ok": False, "why": "b"}]]
    linux, vm = combine_rows(runs)
    assert linux["x"] == 2.0 and linux["x" + CI_SUFFIX] == pytest.approx(12.706)
    assert linux["n"] == 3 and "n" + CI_SUFFIX not in linux  # every run agrees: no interval
    assert linux["why"] == f"a{DISAGREE}c" and linux["ok"] is True
    assert vm == {"kernel": "vm", "n": 3, "x": 5.0, "ok": False, "why": "b"}
    assert ci95([1.0, 2.0, 3.0]) == pytest.approx(4.303 / math.sqrt(3))


def _seeded_module() -> SimpleNamespace:
    """An experiment whose one number is its seed (a run with randomness, made plain)."""
    def run(params: ExperimentParams) -> ExperimentResult:
        rows = [{"kernel": "linux", "value": float(params.seed)}]
        return ExperimentResult(name="seeded", rows=rows, configuration={"seed": params.seed},
                                finding=f"seed {params.seed}")
    return SimpleNamespace(run=run, DEFAULTS={})


def test_repeats_run_one_seed_each_and_combine():
    result = run_experiment(_seeded_module(), ExperimentParams(kernels=("linux",), seed=4,
                                                               repeats=3))
    (row,) = result.rows
    assert row["value"] == 5.0  # seeds 4, 5, 6
    assert row["value" + CI_SUFFIX] == pytest.approx(4.303 / math.sqrt(3))
    assert result.configuration["seeds"] == [4, 5, 6]
    assert "findings differ" in result.finding


def test_the_table_shows_mean_and_interval(capsys):
    from cofferos.cli_experiment import table_text

    result = run_experiment(_seeded_module(), ExperimentParams(kernels=("linux",), repeats=2))
    text = table_text(result, width=200)
    assert "0.5 ± 6.353" in text and CI_SUFFIX not in text


def test_repeats_are_recorded_in_the_manifest(tmp_path):
    out = tmp_path / "noisy"
    assert main(["experiment", "noisy-neighbor", "--kernels", "linux", "--containers", "3",
                 "--cores", "4", "--set", "storms=pagecache", "--set", "victim_iterations=20",
                 "--set", "cache_pages=64", "--repeats", "2", "--cost", "wakeup=3000",
                 "--no-figure", "--out", str(out)]) == 0
    setup = json.loads((out / "manifest.json").read_text())["configuration"]
    assert setup["seeds"] == [0, 1] and setup["repeats"] == 2
    assert setup["cost"] == ["wakeup=3000"]


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs git and a checkout")
def test_an_experiment_leaves_the_checkout_clean(tmp_path):
    """Run at a tiny size with the default output directory, in a clone of this commit
    (the code under test is this checkout's: PYTHONSAFEPATH keeps the clone's off the path)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(ROOT), str(clone)],
                   check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", "HEAD"], check=True)
    before = subprocess.run(["git", "-C", str(clone), "status", "--porcelain"],
                            capture_output=True, text=True, check=True).stdout
    subprocess.run([sys.executable, "-m", "cofferos.cli", "experiment", "noisy-neighbor",
                    "--kernels", "linux", "--containers", "3", "--cores", "4",
                    "--set", "storms=pagecache", "--set", "victim_iterations=20",
                    "--set", "cache_pages=64"],
                   cwd=clone, check=True, capture_output=True,
                   env={**os.environ, "PYTHONSAFEPATH": "1"})
    after = subprocess.run(["git", "-C", str(clone), "status", "--porcelain",
                            "--untracked-files=all"],
                           capture_output=True, text=True, check=True).stdout
    assert before == after == ""
    assert (clone / "results" / "runs" / "noisy-neighbor" / "manifest.json").is_file()


def test_bars_of_repeated_runs_get_error_bars():
    from matplotlib.figure import Figure

    from cofferos.sim.isolation.figures import _bars

    summary = [{"kernel": "linux", "storm": "fork", "throughput_ratio": 0.5,
                "throughput_ratio" + CI_SUFFIX: 0.1},
               {"kernel": "linux", "storm": "net", "throughput_ratio": 0.9}]
    ax = Figure().subplots()
    _bars(ax, summary, "throughput_ratio", group="storm")
    from matplotlib.container import BarContainer

    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    assert bars.errorbar is not None
    segments = bars.errorbar.lines[2][0].get_segments()
    assert [round(float(seg[1][1] - seg[0][1]), 6) for seg in segments] == [0.2, 0.0]
    plain = Figure().subplots()
    _bars(plain, [{k: v for k, v in line.items() if not k.endswith(CI_SUFFIX)}
                  for line in summary], "throughput_ratio", group="storm")
    assert len(plain.containers) == 1 and plain.containers[0].errorbar is None


def test_an_agents_sweep_point_passes_its_costs_on(monkeypatch):
    from cofferos.sim import isolation
    from cofferos.sim.agents.sweep import point_rows

    seen: list[ExperimentParams] = []

    def fake(_module: Any, params: ExperimentParams) -> ExperimentResult:
        seen.append(params)
        return ExperimentResult(name="agents", rows=[], configuration={}, finding="")

    monkeypatch.setattr(isolation, "run_experiment", fake)
    point_rows({"kernel": "cofferos", "containers": 2, "cores": 2, "seed": 0,
                "cost": ["profile=current-nomitig"], "experiment": "agents"})
    assert seen[0].costs == ("profile=current-nomitig",)
