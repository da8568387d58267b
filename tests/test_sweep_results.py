"""The sweep results layer (cofferos.results.sweeps, ``coffersim results show``, ``plot DIR``)
on synthetic point records: parameter columns, the loader after kill -9 or a corrupt table,
failed points, empty sweeps. No simulation runs here."""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from cofferos import cli_plot, cli_sweep
from cofferos.errors import ConfigError
from cofferos.results import figures, sweeps
from cofferos.sim.sweeps.spec import BASE_DEFAULTS, NOT_IN_ID

CONFIG = {"workload": "@metadata", "args": ["/tmp/shared", "300"], "kernel": "cofferos",
          "personalities": [], "cores": 4, "containers": 1, "cost": [], "seed": 0,
          "duration_ms": 0, "op_syscall": "", "timeout_s": 600, "probes": [], "repeat": 0}
BREAKDOWN = {"cpu_user": 0.4, "cpu_kernel": 0.3, "cpu_lock_wait": 0.1,
             "cpu_virtualization": 0.0, "cpu_idle": 0.2}
LONG_ERROR = "RuntimeError: " + "x" * 200  # longer than the summary shows


def record(ident: str, throughput: float = 1000.0, status: str = "ok", error: str = "",
           **config: Any) -> dict[str, Any]:
    """A point record as sweep_run writes it to points/<id>.json."""
    rows = [{"container": "c0", "metric": "throughput", "value": throughput},
            {"container": "all", "metric": "throughput_per_container", "value": throughput},
            {"container": "all", "metric": "simulated_seconds", "value": 0.5},
            *({"container": "all", "metric": k, "value": v} for k, v in BREAKDOWN.items())]
    return {"id": ident, "config": {**CONFIG, **config}, "status": status, "error": error,
            "host_seconds": 0.1, "run_seconds": 0.1, "overhead_seconds": 0.0,
            "rows": rows if status == "ok" else [], "traceback": ""}


def write_records(directory: Path, records: list[dict[str, Any]]) -> None:
    (directory / sweeps.POINTS_DIR).mkdir(parents=True, exist_ok=True)
    for index, item in enumerate(records):
        path = directory / sweeps.POINTS_DIR / f"{item['id']}.json"
        path.write_text(json.dumps(item))
        os.utime(path, ns=(index, index))  # finished in list order


def write_manifest(directory: Path, ids: list[str]) -> None:
    (directory / "manifest.json").write_text(json.dumps(
        {"configuration": {"points": [{"id": ident} for ident in ids]}}))


def _parser() -> argparse.ArgumentParser:
    from cofferos.cli import _Parser

    parser = _Parser(prog="coffersim")
    cli_sweep.add_parsers(parser.add_subparsers(dest="command"), _Parser)
    return parser


def _show(directory: Path) -> int:
    return cli_sweep.run(_parser().parse_args(["results", "show", str(directory)]))


def _plot_args(directory: Path, kind: str = "throughput", **options: Any) -> argparse.Namespace:
    return argparse.Namespace(directory=str(directory), kind=kind, x=options.get("x"),
                              hue=options.get("hue"), output=options.get("output"))


def drawn_lines(ax: Any) -> dict[str, tuple[list[float], list[float]]]:
    """Label -> (x, y) of every line in the legend of ``ax`` (errorbar lines included)."""
    lines = {}
    for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
        line = handle.lines[0] if hasattr(handle, "lines") else handle
        lines[label] = ([float(v) for v in line.get_xdata()],
                        [float(v) for v in line.get_ydata()])
    return lines


def test_every_parameter_that_changes_a_point_is_a_column() -> None:
    assert set(sweeps.PARAMETERS) == (set(BASE_DEFAULTS) - set(NOT_IN_ID)) | {"repeat"}
    assert sweeps.COLUMNS[3:-3] == sweeps.PARAMETERS


def test_points_differing_only_in_args_op_syscall_or_probes_are_told_apart(
        capsys: pytest.CaptureFixture[str]) -> None:
    table = sweeps.frame([
        record("a", args=["/tmp/shared", "300"]),
        record("b", args=["/tmp/my dir", "600"]),
        record("c", op_syscall="getpid"),
        record("d", probes=["isolation", "extra"])])
    assert table.duplicated(["point", "container", "metric"]).sum() == 0  # still tidy
    by_point = table.drop_duplicates("point").set_index("point")
    assert by_point.loc["a", "args"] == "/tmp/shared 300"
    assert by_point.loc["b", "args"] == "'/tmp/my dir' 600"  # shell-quoted, unambiguous
    assert by_point.loc["c", "op_syscall"] == "getpid" and by_point.loc["a", "op_syscall"] == ""
    assert by_point.loc["d", "probes"] == "isolation,extra" and by_point.loc["a", "probes"] == ""
    summary = sweeps.summary(table)
    assert {"args", "op_syscall", "probes"} <= set(summary.columns)
    shown = cli_sweep.summary_table(table)
    header = shown.splitlines()[0].split()
    assert header[:5] == ["point", "status", "workload", "args", "kernel"]
    assert {"op_syscall", "probes", "error"} <= set(header)
    assert "/tmp/shared 300" in shown and "'/tmp/my dir' 600" in shown
    assert "getpid" in shown and "isolation,extra" in shown


def test_results_show_gives_failed_points_their_shortened_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_records(tmp_path, [record("ok1"), record("bad", status="failed", error=LONG_ERROR,
                                                   args=["/tmp/shared", "600"])])
    assert _show(tmp_path) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "error"
    failed = next(line for line in lines if line.startswith("bad"))
    assert "failed" in failed and "RuntimeError: xxx" in failed
    assert failed.endswith(cli_sweep.ELLIPSIS)
    assert len(failed.split("  ")[-1].strip()) == cli_sweep.ERROR_WIDTH
    assert "RuntimeError" not in next(line for line in lines if line.startswith("ok1"))


def test_results_show_json_keeps_every_digit(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    write_records(tmp_path, [record("p1", 1234.56789), record("bad", status="failed",
                                                              error=LONG_ERROR)])
    assert cli_sweep.run(_parser().parse_args(["results", "show", "--json",
                                               str(tmp_path)])) == 0
    points = {p["point"]: p for p in json.loads(capsys.readouterr().out)}
    assert points["p1"]["throughput_per_container"] == 1234.56789  # the table shows 1,235
    assert points["bad"]["status"] == "failed" and points["bad"]["error"] == LONG_ERROR


def test_loader_prefers_point_records_to_an_older_table(tmp_path: Path) -> None:
    """After a kill -9 the table is the previous run's: the newer records must win."""
    write_records(tmp_path, [record("p1"), record("p2", status="failed", error="boom")])
    sweeps.write_table(tmp_path, sweeps.read_records(tmp_path))
    write_manifest(tmp_path, ["p1", "p2"])
    # the next run (killed with -9): p2 ran again and is ok now, p3 and p4 are new
    write_records(tmp_path, [record("p1"), record("p2", 2000.0),
                             record("p4", 4000.0, args=["x"]), record("p3", 3000.0)])
    table = sweeps.load(tmp_path)
    assert list(dict.fromkeys(table["point"])) == ["p1", "p2", "p4", "p3"]  # manifest, finish
    assert set(table["status"]) == {"ok"}
    points = sweeps.summary(table).set_index("point")
    assert points.loc["p2", "throughput_per_container"] == 2000.0
    assert points.loc["p4", "args"] == "x"
    # a point only the table still has (its record deleted) is kept
    (tmp_path / sweeps.POINTS_DIR / "p1.json").unlink()
    assert list(dict.fromkeys(sweeps.load(tmp_path)["point"])) == ["p1", "p2", "p4", "p3"]


def test_corrupt_table_falls_back_to_the_records_with_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_records(tmp_path, [record("p1"), record("p2", args=["1"])])
    (tmp_path / sweeps.PARQUET).write_bytes(b"PAR1 not really parquet")
    with pytest.warns(sweeps.SweepWarning, match="results.parquet: not a readable sweep"):
        assert set(sweeps.load(tmp_path)["point"]) == {"p1", "p2"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI prints it instead
        assert _show(tmp_path) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("coffersim: warning: ")
    assert str(tmp_path / sweeps.PARQUET) in captured.err and "using the 2 point" in captured.err
    assert captured.out.count("@metadata") == 2


def test_corrupt_table_without_records_is_one_line_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / sweeps.PARQUET).write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="results.parquet: not a readable sweep table"):
        sweeps.load(tmp_path)
    assert _show(tmp_path) == 2
    assert cli_plot.run(_plot_args(tmp_path)) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("coffersim: error: ") and
                                 str(tmp_path / sweeps.PARQUET) in line for line in err)


def test_empty_sweep_says_it_has_no_points(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    sweeps.write_table(tmp_path, [])  # interrupted before any point finished
    assert cli_plot.run(_plot_args(tmp_path)) == 2
    expected = f"coffersim: error: nothing to plot: {tmp_path} has no points\n"
    assert capsys.readouterr().err == expected
    assert _show(tmp_path) == 0
    assert capsys.readouterr().err == f"coffersim: {tmp_path} has no points\n"
    with pytest.raises(ConfigError, match="nothing to plot: the table has no points"):
        figures.plot_sweep(sweeps.load(tmp_path), "throughput", out=tmp_path / "t.png")


def test_plot_keeps_configurations_apart_and_takes_x_args(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    records = [record(f"{kernel}-{args}-{seed}", throughput, kernel=kernel, args=[args],
                      seed=seed, repeat=seed)
               for kernel, base in (("linux", 100.0), ("cofferos", 200.0))
               for args, throughput_of in (("300", 1), ("600", 2))
               for seed in (0, 1)
               for throughput in [base * throughput_of + seed]]
    write_records(tmp_path, records)
    drawn: list[Any] = []
    monkeypatch.setattr(figures, "save_figure", lambda figure, path: drawn.append(figure) or path)
    assert cli_plot.run(_plot_args(tmp_path)) == 0
    lines = {label: y for label, (_, y) in drawn_lines(drawn[-1].axes[0]).items()}
    assert lines == {"linux, args=300": [100.5], "linux, args=600": [200.5],
                     "cofferos, args=300": [200.5], "cofferos, args=600": [400.5]}
    for option in ("x", "hue"):
        assert cli_plot.run(_plot_args(tmp_path, **{option: "args"})) == 0
    ax = drawn[-2].axes[0]  # --x args: one tick per args value, a line per kernel
    assert [t.get_text() for t in ax.get_xticklabels()] == ["300", "600"]
    assert drawn_lines(ax) == {"linux": ([0.0, 1.0], [100.5, 200.5]),
                               "cofferos": ([0.0, 1.0], [200.5, 400.5])}
    assert capsys.readouterr().err == ""
