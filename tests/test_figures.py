"""Sweep figures (``coffersim plot``) from synthetic tidy tables: files, numbers, errors, CLI."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cofferos import cli_plot
from cofferos.cli import _Parser
from cofferos.errors import ConfigError
from cofferos.results import figures, tradeoff_figure
from cofferos.results.figures import plot_sweep, speedup_table
from cofferos.results.tradeoff_figure import pareto_front

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
@pytest.mark.parametrize("kind", [k for k in figures.KINDS if k != "density"])  # (below)
def test_every_kind_writes_every_format(table: pd.DataFrame, tmp_path: Path, kind: str,
                                        suffix: str) -> None:
    out = plot_sweep(table, kind, out=tmp_path / f"figure{suffix}")
    data = out.read_bytes()
    assert out == tmp_path / f"figure{suffix}" and data.startswith(MAGIC[suffix])


#: An agents sweep (workloads/specs/agents.toml): per hosting model its density and the
#: other agents (of 2) each misbehaviour harmed.
AGENTS = {"processes": (6, {"forkbomb": 2, "snoop": 2}), "linux": (6, {"forkbomb": 1, "snoop": 0}),
          "cofferos": (7, {"forkbomb": 0, "snoop": 0})}


def agents_frame() -> pd.DataFrame:
    rows = []
    for hosting, (dense, harmed) in AGENTS.items():
        for misbehave in ("none", *harmed):
            point = f"{hosting}-{misbehave}"
            head = {"point": point, "status": "ok", "error": "", **BASE,
                    "workload": "@agent", "experiment": "agents", "hosting": hosting,
                    "misbehave": misbehave, "container": "all"}
            metrics = ({"density": dense, "tasks_per_min": 10.0} if misbehave == "none"
                       else {"harmed": harmed[misbehave], "victims": 2})
            rows += [{**head, "metric": k, "value": float(v)} for k, v in metrics.items()]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("suffix", sorted(MAGIC))
def test_density_draws_each_hosting_models_density_against_the_harm_done(
        tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from cofferos.results import agents_figure

    drawn: list[Any] = []
    real = agents_figure.plot_density_points
    monkeypatch.setattr(figures, "plot_density_points",
                        lambda d, s, *a: drawn.append((d, s)) or real(d, s, *a))
    out = plot_sweep(agents_frame(), "density", out=tmp_path / f"d{suffix}")
    assert out.read_bytes().startswith(MAGIC[suffix])
    density, shares = drawn[0]
    assert density == {"processes": 6, "linux": 6, "cofferos": 7}
    got = {(r.hosting, r.misbehave): r.share for r in shares.itertuples()}
    assert got == {("processes", "forkbomb"): 1.0, ("processes", "snoop"): 1.0,
                   ("linux", "forkbomb"): 0.5, ("linux", "snoop"): 0.0,
                   ("cofferos", "forkbomb"): 0.0, ("cofferos", "snoop"): 0.0}


def test_density_needs_an_agents_sweep_with_both_sorts_of_point(
        table: pd.DataFrame, tmp_path: Path) -> None:
    frame = agents_frame()
    for wrong in (table, frame[frame["misbehave"] == "none"],
                  frame[frame["misbehave"] != "none"]):
        with pytest.raises(ConfigError, match="density needs"):
            plot_sweep(wrong, "density", out=tmp_path / "d.png")
    assert not list(tmp_path.iterdir())


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
    monkeypatch.setattr(figures, "save_figure", lambda figure, path: titles.append(
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
    # seeds 0 and 1 add 0 and 1: s = sqrt(1/2), n = 2, t(0.975, 1) = 12.706
    half_width = 12.706 * math.sqrt(0.5) / math.sqrt(2)
    assert got["vm", 1].ci95 == pytest.approx(half_width)
    assert got["vm", 1].speedup_ci95 == pytest.approx(half_width / (LINUX + 0.5))


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
    out = tradeoff_figure.plot_tradeoff_points(
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
    ("empty", {}, "not a result directory"),
    ("sweep", {"kind": "pie"}, "unknown plot kind 'pie'"),
    ("sweep", {"x": "colour"}, "--x 'colour' is not a parameter"),
    ("sweep", {"output": "figure.gif"}, "must end in .png, .svg, .pdf"),
    ("sweep", {"kind": "tradeoff"}, "tradeoff needs isolation_score"),
    ("sweep", {"kind": "density"}, "density needs an agents sweep"),
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


def _drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures plot_sweep draws from now on, kept instead of written."""
    figures_drawn: list[Any] = []
    monkeypatch.setattr(figures, "save_figure", lambda figure, path: figures_drawn.append(figure)
                        or path)
    return figures_drawn


def _legend_lines(ax: Any) -> dict[str, Any]:
    """Label -> the data line of every legend entry (the line of an errorbar)."""
    return {label: handle.lines[0] if hasattr(handle, "lines") else handle
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)}


def test_categorical_x_has_one_order_for_ticks_and_points(
        table: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _drawn(monkeypatch)
    plot_sweep(table, "throughput", x="kernel", hue="containers", out=tmp_path / "t.png")
    ax = drawn[0].axes[0]
    ticks = [label.get_text() for label in ax.get_xticklabels()]
    assert ticks == ["linux", "cofferos", "vm"]  # as they first appear, not alphabetical
    for containers, line in _legend_lines(ax).items():
        assert list(line.get_xdata()) == [0.0, 1.0, 2.0]  # left to right: no zig-zag
        expected = [LINUX / int(containers) + 0.5, COFFEROS + 0.5, VM + 0.5]
        assert list(line.get_ydata()) == pytest.approx(expected)


def test_breakdown_labels_never_overlap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    breakdown = {"cpu_user": 0.4, "cpu_kernel": 0.3, "cpu_lock_wait": 0.1,
                 "cpu_virtualization": 0.0, "cpu_idle": 0.2}
    frame = make_frame({f"{kernel}-{containers}-{personalities}": {
        "kernel": kernel, "containers": containers, "personalities": personalities, **breakdown}
                        for kernel in ("cofferos", "linux", "sandbox", "vm")
                        for containers in (1, 4, 16)
                        for personalities in ("none", "fastpath+hardened")})
    drawn = _drawn(monkeypatch)
    for x, hue in (("kernel", "containers"), ("containers", "kernel"),
                   ("personalities", "kernel")):
        plot_sweep(frame, "breakdown", x=x, hue=hue, out=tmp_path / "b.png")
        figure = drawn[-1]
        figure.draw_without_rendering()
        ax = figure.axes[0]
        ticks = [label.get_window_extent() for label in ax.get_xticklabels()]
        groups = [text.get_window_extent() for text in ax.texts]
        title = ax.xaxis.label.get_window_extent()
        assert len(ticks) == frame["point"].nunique()  # a bar per configuration
        for index, box in enumerate(ticks):
            assert not any(box.overlaps(other) for other in ticks[index + 1:]), (x, index)
            assert not any(box.overlaps(group) for group in groups), (x, index)
        for index, box in enumerate(groups):
            assert not any(box.overlaps(other) for other in groups[index + 1:]), (x, index)
            assert not box.overlaps(title)
        assert all(box.x1 <= figure.bbox.x1 and box.x0 >= 0 for box in ticks + groups)


def test_up_to_32_series_have_distinct_styles(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from cofferos.results.plot import OKABE_ITO, series_style

    styles = [series_style(index) for index in range(32)]
    assert len({tuple(style.values()) for style in styles}) == 32
    assert len({(style["marker"], style["linestyle"]) for style in styles}) == 32  # greyscale
    assert {style["color"] for style in styles} == set(OKABE_ITO)
    assert len({(s["color"], s["marker"]) for s in map(series_style, range(64))}) == 64
    series = 24
    frame = make_frame({f"k{index}-{containers}": {
        "kernel": f"k{index}", "containers": containers, "throughput_per_container": index}
        for index in range(series) for containers in (1, 2)})
    drawn = _drawn(monkeypatch)
    plot_sweep(frame, "throughput", out=tmp_path / "t.png")
    lines = _legend_lines(drawn[0].axes[0]).values()
    assert len({(line.get_color(), line.get_marker(), line.get_linestyle())
                for line in lines}) == series


def test_an_unwritable_output_is_one_clear_error(
        table: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "folder.png").mkdir()
    outputs = [tmp_path / "file" / "t.png", tmp_path / "folder.png"]
    if Path("/proc/self").is_dir():
        outputs.append(Path("/proc/t.png"))
    for out in outputs:
        with pytest.raises(ConfigError, match=f"cannot write {out}: "):
            plot_sweep(table, "throughput", out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.png"]  # no leftovers
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    make_frame(scaling_points(seeds=1)).to_parquet(sweep / "results.parquet", index=False)
    for out in [*outputs, tmp_path / "t.gif", tmp_path / "t"]:
        assert cli_plot.run(_args(sweep, output=str(out))) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1
        assert captured.err.startswith(f"coffersim: error: cannot write {str(out)!r}"
                                       if out.suffix != ".png" else
                                       f"coffersim: error: cannot write {out}: ")
    with pytest.raises(ConfigError, match=r"unknown format '\.gif'\): the file name must end"):
        plot_sweep(table, "throughput", out=tmp_path / "t.gif")


def test_an_empty_table_has_nothing_to_plot(table: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^nothing to plot: the table has no points$"):
        plot_sweep(table.iloc[:0], "throughput", out=tmp_path / "t.png")


def test_tradeoff_labels_of_close_points_do_not_overlap(tmp_path, monkeypatch):
    """Configurations of one kernel sit close together (a personality costs a few per
    cent): their labels must still be readable, none over another."""
    from itertools import combinations

    from matplotlib.text import Text

    kept = {}
    save = tradeoff_figure.save_figure

    def keep(figure, path):
        kept["figure"] = figure
        return save(figure, path)

    monkeypatch.setattr(tradeoff_figure, "save_figure", keep)
    points = [{"label": stack, "kernel": kernel, "throughput": base * (1 - 0.03 * i),
               "isolation": score}
              for kernel, base, score in (("linux", 115_000, 0.13), ("cofferos", 120_000, 1.0),
                                          ("vm", 35_000, 1.0), ("sandbox", 33_700, 0.87))
              for i, stack in enumerate(("none", "hardened", "agent"))]
    tradeoff_figure.plot_tradeoff_points(points, tmp_path / "t.png")
    figure = kept["figure"]
    renderer = figure.canvas.get_renderer()
    labels = [t for t in figure.axes[0].texts if ":" in t.get_text()]
    assert len(labels) == len(points)
    boxes = [Text.get_window_extent(t, renderer) for t in labels]  # the text, not its leader
    assert not [(a, b) for a, b in combinations(range(len(boxes)), 2)
                if boxes[a].overlaps(boxes[b])]
