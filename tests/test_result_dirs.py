"""One result-directory format (cofferos.results.resultdir): compare, experiments and sweeps
write it, ``coffersim results show`` and ``coffersim plot`` read every kind of it, and
figures name personality stacks without their options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cofferos.cli import main
from cofferos.results import figures, resultdir, tradeoff_figure
from cofferos.results.labels import short_labels, short_stack
from cofferos.sim.isolation import tradeoff
from cofferos.sim.isolation.common import ExperimentResult, load, save
from tests.test_figures import make_frame, scaling_points
from tests.test_sweep_results import record, write_records

PNG = b"\x89PNG\r\n\x1a\n"
CALLS = "200"  # getppid calls per @nullsys run: quick to simulate
AGENT = "agent:write=/tmp,rate=exec=2/s"


def _status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as leaving:
        return int(leaving.code or 0)


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("coffersim: error: "), err
    assert all(word in err for word in words), err


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A small compare written with --out, and the table it printed."""
    out = tmp_path_factory.mktemp("compare") / "run"
    capture = tmp_path_factory.mktemp("printed") / "stdout"
    import contextlib

    with capture.open("w") as stdout, contextlib.redirect_stdout(stdout):
        assert main(["compare", "@nullsys", "--kernels", "linux,cofferos", "--containers",
                     "1,2", "--cores", "2", "--op-syscall", "getppid", "--out", str(out),
                     "--", CALLS]) == 0
    return out, capture.read_text()


def test_compare_writes_the_one_format(compare_dir: tuple[Path, str]) -> None:
    out, _ = compare_dir
    assert {p.name for p in out.iterdir()} == {"results.parquet", "results.csv",
                                               "manifest.json", "points"}
    assert json.loads((out / "manifest.json").read_text())["kind"] == "compare"
    assert resultdir.kind_of(out) == "compare"
    records = [json.loads(p.read_text()) for p in (out / "points").glob("*.json")]
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    table = pd.read_parquet(out / "results.parquet")
    assert set(table["point"]) == {r["id"] for r in records}
    assert set(table["kernel"]) == {"linux", "cofferos"} and set(table["cores"]) == {2}
    assert "failed_containers" in set(table["metric"])


def test_results_show_reprints_the_compare_table(
        compare_dir: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    out, printed = compare_dir
    assert main(["results", "show", str(out)]) == 0
    assert capsys.readouterr().out == printed


def test_a_compare_is_replotted_from_its_directory(
        compare_dir: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = compare_dir
    assert main(["plot", str(out)]) == 0  # default: throughput
    assert capsys.readouterr().out.strip() == str(out / "throughput.png")
    for kind in ("speedup", "breakdown"):
        assert main(["plot", str(out), "--kind", kind]) == 0
        assert (out / f"{kind}.png").read_bytes()[:8] == PNG
    for kind in ("tradeoff", "figure"):
        capsys.readouterr()
        assert main(["plot", str(out), "--kind", kind]) == 2
        _one_line_error(capsys, f"--kind {kind} does not fit", "a compare directory",
                        "throughput, speedup, breakdown")


def test_rerunning_into_a_directory_leaves_only_the_new_points(tmp_path: Path) -> None:
    out = tmp_path / "run"
    for kernels in ("linux,cofferos", "vm"):
        assert main(["compare", "@nullsys", "--kernels", kernels, "--containers", "1",
                     "--cores", "2", "--op-syscall", "getppid", "--out", str(out),
                     "--", "50"]) == 0
    records = [json.loads(p.read_text()) for p in (out / "points").glob("*.json")]
    assert [r["config"]["kernel"] for r in records] == ["vm"]


@pytest.fixture(scope="module")
def fault_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, bytes]:
    """``experiment fault`` written with --out: the directory, what it printed, its figure."""
    out = tmp_path_factory.mktemp("fault") / "fault"
    capture = tmp_path_factory.mktemp("printed") / "stdout"
    import contextlib

    with capture.open("w") as stdout, contextlib.redirect_stdout(stdout):
        assert main(["experiment", "fault", "--kernels", "linux,cofferos", "--containers", "2",
                     "--set", "kinds=panic", "--out", str(out)]) == 0
    return out, capture.read_text(), (out / "fault.png").read_bytes()


def test_an_experiment_writes_the_one_format(fault_dir: tuple[Path, str, bytes]) -> None:
    out, _, _ = fault_dir
    assert {"results.parquet", "results.csv", "manifest.json", "points", "fault.png"} == {
        p.name for p in out.iterdir()}
    assert resultdir.kind_of(out) == "experiment:fault"
    result = load(out)
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == len(result.rows) == 4  # 2 kernels x 2 containers, one fault
    assert table["kernel"].tolist() == [row["kernel"] for row in result.rows]
    assert result.summary and result.finding.startswith("linux:")


def test_results_show_reprints_an_experiments_table_and_finding(
        fault_dir: tuple[Path, str, bytes], capsys: pytest.CaptureFixture[str]) -> None:
    out, printed, _ = fault_dir
    assert main(["results", "show", str(out)]) == 0
    assert capsys.readouterr().out == printed


def test_plot_redraws_an_experiments_own_figure(
        fault_dir: tuple[Path, str, bytes], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out, _, figure = fault_dir
    assert main(["plot", str(out), "-o", str(tmp_path / "again.png")]) == 0
    assert (tmp_path / "again.png").read_bytes() == figure  # the same figure, from the files
    assert not list(tmp_path.glob(".*"))  # no temporary file left
    capsys.readouterr()
    assert main(["plot", str(out), "--kind", "throughput"]) == 2
    _one_line_error(capsys, "--kind throughput does not fit", "fault experiment", "figure")


def test_experiment_rows_keep_their_types_and_mixed_columns_fit_parquet(
        tmp_path: Path) -> None:
    rows = [{"kernel": "linux", "value": 3, "ratio": None, "note": "x", "ok": True,
             "detail": [1, 2]},
            {"kernel": "vm", "value": 2.5, "ratio": 0.5, "note": 7, "ok": None,
             "detail": {"a": 1}}]
    result = ExperimentResult(name="surface", rows=rows, configuration={"containers": 2},
                              finding="found", columns=("kernel", "value"))
    save(result, tmp_path, ["coffersim", "experiment", "surface"])
    assert load(tmp_path).rows == rows  # exactly, from the point records
    table = pd.read_parquet(tmp_path / "results.parquet")
    assert table["note"].tolist() == ["x", "7"] and table["detail"].tolist() == [
        "[1, 2]", '{"a": 1}']
    for stale in (tmp_path / "points").glob("*.json"):  # the table alone still reads
        stale.unlink()
    assert [row["kernel"] for row in resultdir.experiment_rows(tmp_path)] == ["linux", "vm"]


def test_the_tradeoff_experiment_plots_as_tradeoff_with_short_labels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"kernel": kernel, "personalities": stack, "throughput_per_container": tput,
             "isolation_score": score, "checks_passed": 1, "checks_total": 2,
             "failed_checks": ""}
            for kernel, stack, tput, score in (("linux", "none", 100.0, 0.2),
                                               ("linux", AGENT, 90.0, 0.6),
                                               ("cofferos", "none", 120.0, 1.0))]
    result = ExperimentResult(name="tradeoff", rows=rows, configuration={},
                              finding="Pareto front", columns=tradeoff.COLUMNS)
    save(result, tmp_path, ["coffersim", "experiment", "tradeoff"])
    kept: dict[str, Any] = {}
    save_figure = tradeoff_figure.save_figure
    monkeypatch.setattr(tradeoff_figure, "save_figure",
                        lambda figure, path: kept.update(figure=figure) or save_figure(
                            figure, path))
    assert main(["plot", str(tmp_path)]) == 0  # default: the trade-off figure
    assert capsys.readouterr().out.strip() == str(tmp_path / "tradeoff.png")
    labels = {t.get_text() for t in kept["figure"].axes[0].texts}
    assert "linux: agent" in labels and not any("write=" in label for label in labels)
    assert main(["plot", str(tmp_path), "--kind", "tradeoff"]) == 0
    assert main(["plot", str(tmp_path), "--kind", "speedup"]) == 2


def test_results_show_of_a_sweep_has_failed_containers_and_isolation_score(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scored = record("scored", kernel="linux", probes=["isolation"])
    scored["rows"] += [{"container": "all", "metric": "failed_containers", "value": 1.0},
                       {"container": "all", "metric": "isolation_score", "value": 0.25}]
    plain = record("plain")
    plain["rows"].append({"container": "all", "metric": "failed_containers", "value": 0.0})
    write_records(tmp_path, [scored, plain, record("bad", status="failed", error="boom")])
    assert main(["results", "show", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0]
    assert "failed containers" in header and "isolation score" in header
    columns = {line.split()[0]: line.split() for line in lines[2:]}
    assert columns["scored"][-2:] == ["1", "0.25"]  # a count as a whole number, the score
    assert columns["plain"][-2:] == ["0", "-"]
    # a sweep without the probe shows no isolation column
    write_records(tmp_path / "other", [plain])
    assert main(["results", "show", str(tmp_path / "other")]) == 0
    out = capsys.readouterr().out
    assert "failed containers" in out and "isolation" not in out


def test_sweep_manifest_says_its_kind(tmp_path: Path) -> None:
    from cofferos.sim.sweeps.run import run_sweep
    from cofferos.sim.sweeps.spec import parse_text

    spec = parse_text('[base]\nworkload = "@hello"\ncores = 1\n', "s.toml")
    run_sweep(spec, tmp_path, jobs=1)
    assert json.loads((tmp_path / "manifest.json").read_text())["kind"] == "sweep"
    assert resultdir.kind_of(tmp_path) == "sweep"


@pytest.mark.parametrize("command", [["results", "show"], ["plot"]])
@pytest.mark.parametrize("content", ["empty", "old-compare", "stray-json"])
def test_a_directory_that_is_not_a_result_directory_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str],
        content: str) -> None:
    if content == "old-compare":  # what compare --out wrote before the one format
        (tmp_path / "rows.csv").write_text("kernel,containers\nlinux,1\n")
        (tmp_path / "manifest.json").write_text(json.dumps({"configuration": {}}))
    elif content == "stray-json":
        (tmp_path / "points").mkdir()
        (tmp_path / "points" / "x.json").write_text('{"hello": 1}')
    assert _status([*command, str(tmp_path)]) == 2
    _one_line_error(capsys, str(tmp_path), "not a result directory")


def test_short_labels_leave_out_options_unless_that_makes_two_alike() -> None:
    assert short_stack(AGENT) == "agent"
    assert short_stack("hardened+" + AGENT) == "hardened+agent"
    assert short_labels(["none", AGENT]) == {"none": "none", AGENT: "agent"}
    assert short_labels(["agent:max_procs=16", "agent:max_procs=64", "none"]) == {
        "agent:max_procs=16": "agent:max_procs=16", "agent:max_procs=64": "agent:max_procs=64",
        "none": "none"}


def test_sweep_figures_name_a_kernel_and_stack_linux_agent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    points = scaling_points(kernels=("linux", "cofferos"), seeds=1)
    points = {f"{ident}-{stack}": {  # the agent: slower, better isolated (apart on the plot)
        **spec, "personalities": stack,
        "throughput_per_container": spec["throughput_per_container"] / (1 + index),
        "isolation_score": spec["isolation_score"] * (1 - 0.5 * index)}
              for ident, spec in points.items() if ident != "broken"
              for index, stack in enumerate(("none", AGENT))}
    frame = make_frame(points)
    drawn: list[Any] = []
    monkeypatch.setattr(figures, "save_figure", lambda figure, path: drawn.append(figure) or path)
    figures.plot_sweep(frame, "throughput", out=tmp_path / "t.png")
    legend = drawn[-1].axes[0].get_legend_handles_labels()[1]
    assert set(legend) == {"linux: none", "linux: agent", "cofferos: none", "cofferos: agent"}
    kept: dict[str, Any] = {}
    monkeypatch.setattr(tradeoff_figure, "save_figure",
                        lambda figure, path: kept.update(figure=figure) or path)
    figures.plot_sweep(frame, "tradeoff", out=tmp_path / "t.png")
    labels = {t.get_text() for t in kept["figure"].axes[0].texts}
    assert {"linux: agent", "cofferos: agent"} <= labels
    assert not any("write=" in label for label in labels)



def test_experiment_figures_name_stacks_without_their_options(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    from cofferos.sim.isolation import exhaustion, surface

    saved: list[Any] = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, *a, **k: saved.append(figure))
    surface._draw([{"kernel": "linux", "personalities": stack, "abi_calls": 300,
                    "shared_objects": 8} for stack in ("none", AGENT)], str(tmp_path / "s.png"))
    assert saved[-1].axes[0].get_legend_handles_labels()[1] == ["none", "agent"]
    exhaustion.draw([{"kernel": "linux", "personality": stack, "attack": "fork",
                      "outcome": "contained", "attacker_stopped_by": "EAGAIN"}
                     for stack in ("none", AGENT)], str(tmp_path / "e.png"))
    assert [t.get_text() for t in saved[-1].axes[0].get_yticklabels()] == [
        "linux / none", "linux / agent"]
