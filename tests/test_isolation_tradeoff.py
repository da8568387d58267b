"""The trade-off summary: isolation scores from experiment outcomes, the Pareto front, the page."""

from __future__ import annotations

import pytest

from cofferos.results.tradeoff_figure import pareto_front
from cofferos.sim.isolation import report, tradeoff
from cofferos.sim.isolation.common import ExperimentParams


@pytest.mark.parametrize("points, front", [
    ([(1.0, 1.0)], [0]),
    ([(1.0, 1.0), (2.0, 0.5), (0.5, 0.5)], [0, 1]),  # (0.5, 0.5) is beaten by both
    ([(1.0, 1.0), (1.0, 1.0)], [0, 1]),  # equal points are both on the front
    ([(1.0, 0.5), (1.0, 1.0)], [1]),  # same throughput, better isolation wins
    ([], []),
])
def test_pareto_front(points, front):
    assert pareto_front(points) == front


def test_scores_come_from_the_experiments_outcomes(monkeypatch, tmp_path):
    monkeypatch.setattr(tradeoff, "CHECKED", ("fault",))
    params = ExperimentParams(kernels=("linux", "cofferos"), containers=2,
                              options={"kinds": "panic,oops"})
    result = tradeoff.run(params)
    rows = {(r["kernel"], r["personalities"].split(":")[0]): r for r in result.rows}
    assert set(rows) == {(k, s) for k in ("linux", "cofferos") for s in ("none", "hardened",
                                                                          "agent")}
    assert rows[("linux", "none")]["isolation_score"] == 0.0
    assert rows[("linux", "none")]["failed_checks"] == "fault.panic,fault.oops"
    assert rows[("cofferos", "none")]["isolation_score"] == 1.0
    assert all(r["throughput_per_container"] > 0 for r in result.rows)
    assert "cofferos" in result.finding
    out = tmp_path / "tradeoff.png"
    result.draw(str(out))
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_report_writes_the_page_from_the_results(tmp_path):
    docs = tmp_path / "docs" / "isolation.md"
    docs.parent.mkdir()
    params = ExperimentParams(kernels=("linux", "cofferos"), containers=2,
                              options={"kinds": "panic"})
    report.write_report(tmp_path / "results", docs, ["coffersim", "experiment", "report"],
                        params=params, names=["fault"])
    page = docs.read_text()
    assert "## fault" in page and "| kernel |" in page and "**Finding.**" in page
    assert (tmp_path / "docs" / "figures" / "isolation-fault.png").exists()
    assert (tmp_path / "results" / "fault" / "manifest.json").exists()
