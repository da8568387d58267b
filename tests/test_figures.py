"""Sweep figures (``coffersim plot``) from synthetic tidy tables: files, numbers, errors, CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cofferos import cli_plot
from cofferos.cli import _Parser
from cofferos.errors import ConfigError
from cofferos.results import figures
from cofferos.results.figures import pareto_front, plot_sweep, speedup_table

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".svg": b"<?xml", ".pdf": b"%PDF"}
BASE = {"workload": "@metadata", "kernel": "cofferos", "personalities": "none", "cores": 8,
        "containers": 1, "seed": 0, "repeat": 0, "duration_ms": 0.0, "cost": ""}
QUANTILES = ("1", "5", "10", "25", "50", "75", "90", "95", "99", "99.9")
LINUX, COFFEROS, VM = 100_000.0, 120_000.0, 40_000.0  # throughput per container at 1 container
ISOLATION = {"linux": 0.2, "cofferos": 0.9, "vm": 0.95}


def make_frame(points: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The tidy table of ``points``: id -> parameters (BASE for the rest) and metrics.

    A metric named ``c:NAME`` is per container (the same value in every container);
    any other non-parameter key is a per-point metric. ``status="failed"`` makes the
    failed point's single row.
    """
    rows = []
    for point, spec in points.items():
        head = {"point": point, "status": spec.get("status", "ok"), "error": "",
                **{k: spec.get(k, v) for k, v in BASE.items()}}
        if head["status"] != "ok":
            head["error"] = "boom"
            rows.append({**head, "container": "all", "metric": "failed", "value": 1.0})
            continue
        for key, value in spec.items():
            if key in BASE or key == "status":
                continue
            if key.startswith("c:"):
                rows += [{**head, "container": f"c{i}", "metric": key[2:], "value": float(value)}
                         for i in range(head["containers"])]
            else:
                rows.append({**head, "container": "all", "metric": key, "value": float(value)})
    return pd.DataFrame(rows, columns=["point", "status", "error", *BASE, "container", "metric",
                                       "value"])


def scaling_points(kernels: tuple[str, ...] = ("linux", "cofferos", "vm"), seeds: int = 2,
                   isolation: bool = True) -> dict[str, dict[str, Any]]:
    """kernel x containers 1,2,4 x seeds, with every metric the figures read; one failed point."""
    base = {"linux": LINUX, "cofferos": COFFEROS, "vm": VM}
    points: dict[str, dict[str, Any]] = {}
    for kernel in kernels:
        for containers in (1, 2, 4):
            for seed in range(seeds):
                throughput = base[kernel] / (containers if kernel == "linux" else 1) + seed
                spec = {"kernel": kernel, "containers": containers, "seed": seed,
                        "throughput_per_container": throughput, "c:throughput": throughput,
                        "cpu_user": 0.4, "cpu_kernel": 0.3, "cpu_lock_wait": 0.1,
                        "cpu_virtualization": 0.0, "cpu_idle": 0.2}
                spec.update({f"c:latency_us_p{q}": 5 + float(q) * containers for q in QUANTILES})
                if isolation:
                    spec["isolation_score"] = ISOLATION[kernel]
                points[f"{kernel}-{containers}-{seed}"] = spec
    points["broken"] = {"status": "failed", "kernel": "vm", "containers": 8}
    return points


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_frame(scaling_points())


@pytest.mark.parametrize("suffix", sorted(MAGIC))
@pytest.mark.parametrize("kind", figures.KINDS)
def test_every_kind_writes_every_format(table: pd.DataFrame, tmp_path: Path, kind: str,
                                        suffix: str) -> None:
    out = plot_sweep(table, kind, out=tmp_path / f"figure{suffix}")
    data = out.read_bytes()
    assert out == tmp_path / f"figure{suffix}" and data.startswith(MAGIC[suffix])


def test_other_axes_and_latency_per_x(table: pd.DataFrame, tmp_path: Path) -> None:
    assert plot_sweep(table, "throughput", x="kernel", hue="containers",
                      out=tmp_path / "t.png").stat().st_size > 0
    assert plot_sweep(table, "latency", x="containers", hue="containers",
                      out=tmp_path / "l.png").stat().st_size > 0
    assert plot_sweep(table, "breakdown", x="seed", hue="kernel",
                      out=tmp_path / "b.png").stat().st_size > 0


def test_title_counts_the_failed_points_left_out(table: pd.DataFrame, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    titles = []
    monkeypatch.setattr(figures, "_save", lambda figure, path: titles.append(
        figure.axes[0].get_title()) or path)
    plot_sweep(table, "throughput", out=tmp_path / "t.png")
    assert titles == ["Throughput per container (@metadata, 8 cores, 1 failed point left out)"]


@pytest.mark.parametrize(("points", "front"), [
    ([(1.0, 1.0)], [0]),
    ([(1.0, 5.0), (2.0, 4.0), (3.0, 1.0), (1.5, 3.0), (0.5, 0.5)], [0, 1, 2]),
    ([(2.0, 2.0), (2.0, 2.0), (1.0, 1.0)], [0, 1]),   # equal points: both stay
    ([(2.0, 1.0), (2.0, 3.0), (1.0, 3.0)], [1]),       # ties in one coordinate are dominated
    ([], []),
])
def test_pareto_front(points: list[tuple[float, float]], front: list[int]) -> None:
    assert pareto_front(points) == front


def test_speedup_table_divides_by_linux_at_the_same_parameters(table: pd.DataFrame) -> None:
    speedup = speedup_table(table, "containers", "kernel")
    got = {(row.kernel, row.containers): row for row in speedup.itertuples()}
    assert len(got) == 9 and set(speedup["count"]) == {2}
    for containers in (1, 2, 4):
        linux_mean = LINUX / containers + 0.5  # seeds 0 and 1 add 0 and 1
        assert got["linux", containers].speedup == pytest.approx(1.0)
        assert got["cofferos", containers].speedup == pytest.approx((COFFEROS + 0.5) / linux_mean)
        assert got["vm", containers].speedup_min == pytest.approx(VM / linux_mean)
        assert got["vm", containers].speedup_max == pytest.approx((VM + 1) / linux_mean)
    assert got["cofferos", 4].baseline == pytest.approx(LINUX / 4 + 0.5)


def test_speedup_baseline_prefers_linux_without_personalities() -> None:
    frame = make_frame({
        "a": {"kernel": "linux", "throughput_per_container": 100},
        "b": {"kernel": "linux", "personalities": "fastpath", "throughput_per_container": 300},
        "c": {"kernel": "cofferos", "personalities": "fastpath", "throughput_per_container": 250},
    })
    speedup = speedup_table(frame).set_index(["kernel", "personalities"])["speedup"]
    assert speedup.to_dict() == {("linux", "none"): 1.0, ("linux", "fastpath"): 3.0,
                                 ("cofferos", "fastpath"): 2.5}


@pytest.mark.parametrize(("call", "message"), [
    (lambda t, p: plot_sweep(t, "throughput", x="colour", out=p),
     "--x 'colour' is not a parameter of this sweep; choose one of: workload, kernel"),
    (lambda t, p: plot_sweep(t, "latency", hue="metric", out=p), "--hue 'metric' is not a"),
    (lambda t, p: plot_sweep(t, "pie", out=p),
     "unknown plot kind 'pie'; choose one of: throughput, speedup, breakdown, latency, tradeoff"),
    (lambda t, p: plot_sweep(t, "throughput", out=p.with_suffix(".jpg")),
     "the file name must end in .png, .svg, .pdf"),
    (lambda t, p: plot_sweep(t[t["kernel"] != "linux"], "speedup", out=p),
     "speedup needs kernel=linux points to divide by"),
    (lambda t, p: plot_sweep(t[t["metric"] != "isolation_score"], "tradeoff", out=p),
     'tradeoff needs isolation_score: run the sweep with probes = ["isolation"] or use '
     "`coffersim experiment`"),
])
def test_user_errors_are_clear(table: pd.DataFrame, tmp_path: Path, call: Any,
                               message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        call(table, tmp_path / "figure.png")
    assert message in str(raised.value)
    assert not list(tmp_path.iterdir())


def test_tradeoff_points_from_an_experiment(tmp_path: Path) -> None:
    out = figures.plot_tradeoff_points(
        [{"label": "linux", "throughput": 1e5, "isolation": 0.2},
         {"label": "cofferos", "throughput": 1.2e5, "isolation": 0.9}], tmp_path / "t.svg",
        "Isolation experiment")
    assert out.read_bytes().startswith(MAGIC[".svg"])


def _args(directory: Path, kind: str = "throughput", **options: Any) -> argparse.Namespace:
    return argparse.Namespace(directory=str(directory), kind=kind, x=options.get("x"),
                              hue=options.get("hue"), output=options.get("output"))


def test_cli_run_draws_from_a_results_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_frame(scaling_points(seeds=1, isolation=False)).to_parquet(
        tmp_path / "results.parquet", index=False)
    assert cli_plot.run(_args(tmp_path, "speedup")) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'speedup.png'}\n"
    assert (tmp_path / "speedup.png").read_bytes().startswith(MAGIC[".png"])
    assert cli_plot.run(_args(tmp_path, output=str(tmp_path / "sub" / "t.pdf"))) == 0
    assert (tmp_path / "sub" / "t.pdf").read_bytes().startswith(MAGIC[".pdf"])


def test_cli_reads_the_csv_without_the_sweeps_module(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_frame(scaling_points(seeds=1)).to_csv(tmp_path / "results.csv", index=False)
    monkeypatch.setitem(sys.modules, "cofferos.results.sweeps", None)  # import fails
    table = cli_plot.load_table(tmp_path)
    assert set(table["cost"]) == {""} and table["value"].dtype == float
    assert cli_plot.run(_args(tmp_path, "tradeoff", output=str(tmp_path / "t.svg"))) == 0
    assert (tmp_path / "t.svg").read_bytes().startswith(MAGIC[".svg"])


@pytest.mark.parametrize(("where", "options", "message"), [
    ("missing", {}, "no such directory"),
    ("empty", {}, "no sweep results here"),
    ("sweep", {"kind": "pie"}, "unknown plot kind 'pie'"),
    ("sweep", {"x": "colour"}, "--x 'colour' is not a parameter"),
    ("sweep", {"output": "figure.gif"}, "must end in .png, .svg, .pdf"),
    ("sweep", {"kind": "tradeoff"}, "tradeoff needs isolation_score"),
])
def test_cli_user_errors_are_one_line_and_status_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str,
        options: dict[str, str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "sweep").mkdir()
    make_frame(scaling_points(kernels=("linux",), seeds=1, isolation=False)).to_parquet(
        tmp_path / "sweep" / "results.parquet", index=False)
    assert cli_plot.run(_args(tmp_path / where, **options)) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("coffersim: error: ") and message in captured.err


def test_parser_rejects_an_unknown_kind_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _Parser(prog="coffersim")
    cli_plot.add_parsers(parser.add_subparsers(dest="command"), _Parser)
    args = parser.parse_args(["plot", "DIR", "--kind", "latency", "--hue", "cores", "-o", "l.svg"])
    assert (args.directory, args.kind, args.hue, args.output) == ("DIR", "latency", "cores",
                                                                  "l.svg")
    with pytest.raises(SystemExit) as leaving:
        parser.parse_args(["plot", "DIR", "--kind", "pie"])
    assert leaving.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
