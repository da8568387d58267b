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
    assert set(rows) == {(k, s) for k in ("linux", "linux+limits", "cofferos")
                         for s in ("none", "hardened", "agent")}
    assert rows[("linux", "none")]["isolation_score"] == 0.0
    # an operator's limits bind nothing a fault does: the same checks, the same throughput
    limited = rows[("linux+limits", "none")]
    assert limited["failed_checks"] == rows[("linux", "none")]["failed_checks"]
    assert limited["throughput_per_container"] == \
        rows[("linux", "none")]["throughput_per_container"]
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


def test_linux_with_limits_takes_its_own_exhaustion_checks_and_the_others_of_linux(
        monkeypatch):
    """The exhaustion rows of linux+limits score it; fault, noisy and infoflow outcomes
    are linux's; the scheduler channel of infoflow fails a kernel's check."""
    from cofferos.sim import isolation
    from cofferos.sim.isolation import exhaustion, infoflow
    from cofferos.sim.isolation.common import ExperimentResult

    def outcome(module, params, check_options=True):
        if module is exhaustion:
            rows = [{"kernel": k, "personality": "none", "attack": "fork", "outcome": o}
                    for k, o in (("linux", "bystander failed"), ("linux+limits", "contained"),
                                 ("cofferos", "contained"))]
            return ExperimentResult("exhaustion", rows, {}, "")
        summary = [{"kernel": k, "kernel_channels": n, "scheduler_channels": s}
                   for k, n, s in (("linux", 10, 0), ("cofferos", 1, 1))]
        return ExperimentResult("infoflow", [], {}, "", summary=summary)

    monkeypatch.setattr(tradeoff, "CHECKED", ("exhaustion", "infoflow"))
    monkeypatch.setattr(isolation, "run_experiment", outcome)
    assert infoflow.isolation_checks  # (the module whose checks are used)
    found = tradeoff.checks(ExperimentParams(kernels=("linux", "cofferos")), verbose=False)
    assert found[("linux", "none")] == [("exhaustion.fork", False), ("infoflow", False)]
    assert found[("linux+limits", "none")] == [("exhaustion.fork", True), ("infoflow", False)]
    assert found[("cofferos", "none")] == [("exhaustion.fork", True), ("infoflow", False)]
