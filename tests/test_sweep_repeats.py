"""Means of a sweep's repeats (``[repeat] seeds``): mean +- 95% CI per configuration in
``coffersim results show`` and the sweep's table, checked against a direct computation
from the per-repeat rows; a sweep without repeats shows none."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from cofferos import cli_sweep
from cofferos.cli import main
from cofferos.results import sweeps
from cofferos.results.repeat_means import means
from cofferos.results.tables import number_text
from tests.test_sweep_results import _show, record, write_records

T975_DF2 = 4.303  #: Student t, two-sided 95%, 2 degrees of freedom (any statistics table)
LINUX = [1000.0, 1100.0, 1300.0]  #: throughput of three repeats of one configuration


def repeats() -> list[dict]:
    return [*(record(f"l{r}", value, seed=r, repeat=r, kernel="linux")
              for r, value in enumerate(LINUX)),
            *(record(f"c{r}", 2000.0, seed=r, repeat=r) for r in range(3))]


def test_a_configurations_mean_and_interval_are_those_of_its_repeats():
    table = means(sweeps.frame(repeats()))
    linux = table[table["kernel"] == "linux"].iloc[0]
    half = T975_DF2 * statistics.stdev(LINUX) / math.sqrt(len(LINUX))
    assert linux["n"] == 3 and linux["failed"] == 0
    assert linux["throughput_per_container"] == pytest.approx(statistics.fmean(LINUX))
    assert linux["throughput_per_container ci95"] == pytest.approx(half)
    same = table[table["kernel"] == "cofferos"].iloc[0]
    assert same["throughput_per_container ci95"] == 0.0  # three equal repeats
    assert list(table["kernel"]) == ["linux", "cofferos"]  # the sweep's order
    assert "seed" not in table.columns and "repeat" not in table.columns


def test_results_show_prints_each_configurations_mean_and_interval(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failed = record("l3", status="failed", error="boom", seed=3, repeat=3, kernel="linux")
    write_records(tmp_path, [*repeats(), failed])
    assert _show(tmp_path) == 0
    out = capsys.readouterr().out
    head, means_part = out.split("\n\nMeans over each configuration's repeats", 1)
    assert len([line for line in head.splitlines() if line[:2] in ("l0", "l1", "c0")]) == 3
    linux = next(line.split() for line in means_part.splitlines() if line.startswith("linux"))
    half = T975_DF2 * statistics.stdev(LINUX) / math.sqrt(len(LINUX))
    plus = linux.index("+-")  # the first metric: ops/s per container
    assert linux[plus - 1:plus + 2] == [number_text(statistics.fmean(LINUX)), "+-",
                                        number_text(half)]
    assert linux[plus - 3:plus - 1] == ["3", "1"]  # n, failed


def test_a_sweep_without_repeats_shows_no_interval(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_records(tmp_path, [record("a"), record("b", kernel="linux")])
    assert _show(tmp_path) == 0
    out = capsys.readouterr().out
    assert "Means over" not in out and "+-" not in out
    assert "+-" not in cli_sweep.summary_table(sweeps.frame([record("a")]))


def test_a_real_sweep_with_seeds_shows_its_repeats(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "seeds.toml"
    spec.write_text('[base]\nworkload = "@hello"\ncores = 1\n[vary]\n'
                    'kernel = ["linux", "cofferos"]\n[repeat]\nseeds = 2\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--jobs", "1"]) == 0
    swept = capsys.readouterr().out
    assert main(["results", "show", str(tmp_path / "out")]) == 0
    shown = capsys.readouterr().out
    assert shown == swept  # the sweep's table is what results show prints
    table = sweeps.load(tmp_path / "out")
    found = means(table)
    assert list(found["n"]) == [2, 2]
    for kernel, row in found.set_index("kernel").iterrows():
        raw = table[(table["kernel"] == kernel) & (table["metric"] == "simulated_seconds")]
        values = list(raw["value"])
        assert len(values) == 2
        assert row["simulated_seconds"] == pytest.approx(statistics.fmean(values))
        # t(0.975, 1) = 12.706: the interval of two repeats, from their difference
        assert row["simulated_seconds ci95"] == pytest.approx(
            12.706 * statistics.stdev(values) / math.sqrt(2))
        assert f"{kernel} " in shown.split("Means over", 1)[1]


def test_docstring_example() -> None:
    import doctest

    from cofferos.results import repeat_means

    failures, tried = doctest.testmod(repeat_means)
    assert tried > 0 and failures == 0
