"""The timing commands as a user meets them: run on the machine, compare, calibrate, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cofferos.cli import main
from cofferos.coffers.coffer import CofferConfig
from cofferos.results import sweeps
from cofferos.workloads import build
from cofferos.workloads.calibration import CALIBRATION_OPS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CALLS = 200  # getppid calls per @nullsys run: enough to measure, quick to simulate


def _status(argv: list[str]) -> int:
    """main's exit status, whether it returns it or argparse raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as leaving:
        return int(leaving.code or 0)


def test_run_on_the_timing_machine_writes_the_machine_stats(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    stats = tmp_path / "stats.json"
    assert main(["run", "--kernel", "linux", "--cores", "2", "--containers", "3",
                 "--op-syscall", "getppid", "--stats", str(stats),
                 "--", "@nullsys", str(CALLS)]) == 0
    out = capfd.readouterr().out
    assert out == f"nullsys: {CALLS} getppid calls\n"  # c0's output only
    record = json.loads(stats.read_text())
    assert (record["kernel"], record["cores"], record["containers"]) == ("linux", 2, 3)
    assert record["exit_code"] == 0 and record["simulated_seconds"] > 0
    breakdown = record["breakdown"]
    assert set(breakdown) == {"user", "kernel", "lock_wait", "virtualization", "idle"}
    assert sum(breakdown.values()) == pytest.approx(1.0)
    assert breakdown["kernel"] > breakdown["user"] > 0  # a system call loop
    assert [c["name"] for c in record["per_container"]] == ["c0", "c1", "c2"]
    for container in record["per_container"]:
        assert container["ops"] == CALLS and container["ops_per_second"] > 0
        assert "p50_us" in container and "p99_us" in container
    assert record["throughput_total"] == pytest.approx(
        sum(c["ops_per_second"] for c in record["per_container"]))
    assert record["machine"]["kernel"] == "linux" and record["config"]["seed"] == 0


def test_all_output_prints_every_container(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--containers", "2", "--all-output", "--", "@hello"]) == 0
    assert capfd.readouterr().out.count("hello from a coffer") == 2


def test_cost_override_reaches_the_functional_run(tmp_path: Path) -> None:
    plain, costly = tmp_path / "plain.json", tmp_path / "costly.json"
    assert main(["run", "--stats", str(plain), "--", "@nullsys", str(CALLS)]) == 0
    assert main(["run", "--cost", "call.getppid=100_000", "--stats", str(costly),
                 "--", "@nullsys", str(CALLS)]) == 0
    extra = (json.loads(costly.read_text())["kernel_cycles"]
             - json.loads(plain.read_text())["kernel_cycles"])
    assert extra >= CALLS * (100_000 - 1_000)
    assert json.loads(costly.read_text())["config"]["kernel_costs"]["call_work"]["getppid"] \
        == 100_000


def test_compare_writes_rows_manifest_and_plot(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out_dir, png = tmp_path / "run", tmp_path / "fig.png"
    assert main(["compare", "@nullsys", "--kernels", "linux,cofferos", "--containers", "1,2",
                 "--cores", "2", "--op-syscall", "getppid", "--json", "--out", str(out_dir),
                 "--plot", str(png), "--", str(CALLS)]) == 0
    captured = capfd.readouterr()
    rows = json.loads(captured.out)
    assert [(r["kernel"], r["containers"]) for r in rows] == [
        ("linux", 1), ("linux", 2), ("cofferos", 1), ("cofferos", 2)]
    for row in rows:
        assert row["throughput_per_container"] > 0 and row["failed_containers"] == 0
        assert row["throughput_total"] == pytest.approx(
            row["containers"] * row["throughput_per_container"])
    assert "[1/4] linux x 1 ..." in captured.err and "[4/4] cofferos x 2 ..." in captured.err
    # the one result-directory format: a point record per run, with the run's row as printed
    reports = {p["id"]: p["report"] for p in map(json.loads, map(
        Path.read_text, (out_dir / "points").glob("*.json")))}
    assert sorted(reports.values(), key=lambda r: (r["kernel"], r["containers"])) == sorted(
        rows, key=lambda r: (r["kernel"], r["containers"]))
    table = sweeps.load(out_dir)
    assert list(dict.fromkeys(zip(table["kernel"], table["containers"], strict=True))) == [
        (r["kernel"], r["containers"]) for r in rows]
    per_point = table[table["metric"] == "throughput_per_container"]
    assert per_point["value"].tolist() == [r["throughput_per_container"] for r in rows]
    with (out_dir / "results.csv").open() as handle:
        assert {r["point"] for r in csv.DictReader(handle)} == set(reports)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert {"kind", "command", "version", "git_commit", "host", "configuration"} <= set(manifest)
    assert manifest["kind"] == "compare"
    assert manifest["configuration"]["workload"]["args"] == [str(CALLS)]
    assert manifest["configuration"]["kernels"] == ["linux", "cofferos"]
    assert png.read_bytes()[:8] == PNG_SIGNATURE


def test_compare_prints_a_table_for_a_program_after_dashes(
        capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--kernels", "sandbox", "--containers", "1", "--cores", "1",
                 "--", "@nullsys", "50"]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["kernel", "containers"] and "idle %" in lines[0]
    assert lines[2].split()[:2] == ["sandbox", "1"]


def test_compare_takes_default_args_from_the_catalog(tmp_path: Path) -> None:
    assert main(["compare", "@hello", "--kernels", "vm", "--containers", "1", "--cores", "1",
                 "--out", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["configuration"]["workload"] == {
        "program": "@hello", "path": manifest["configuration"]["workload"]["path"], "args": []}
    assert main(["compare", "@exitcode", "--kernels", "vm", "--containers", "1",
                 "--cores", "1"]) == 1  # its default argument, 3, is a failing status


def test_calibrate_prints_every_operation(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--iterations", "10"]) == 0
    out = capfd.readouterr().out
    listed = [line.split()[0] for line in out.splitlines()[2:2 + len(CALIBRATION_OPS)]]
    assert listed == [op.name for op in CALIBRATION_OPS]
    assert "outside 30% of the reference" in out or "every operation is within 30%" in out
    assert main(["calibrate", "--kernel", "cofferos", "--iterations", "10", "--json"]) == 0
    result = json.loads(capfd.readouterr().out)
    assert [op["op"] for op in result["ops"]] == [op.name for op in CALIBRATION_OPS]
    assert all(op["simulated_us"] is not None for op in result["ops"])


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--kernel", "bogus", "--", "@nullsys", "10"], "unknown kernel 'bogus'"),
    (["run", "--kernel", "linux", "--cost", "bogus=1", "--", "@nullsys", "10"], "entry_exit"),
    (["run", "--cost", "call.nosuch=1", "--", "@nullsys", "10"], "no system call named"),
    (["run", "--cost", "entry_exit=lots", "--", "@nullsys", "10"], "not a whole number"),
    (["run", "--cost", "entry_exit", "--", "@nullsys", "10"], "expected NAME=VALUE"),
    (["run", "--cores", "0", "--", "@nullsys", "10"], "must be at least 1"),
    (["run", "--containers", "many", "--", "@nullsys", "10"], "not a whole number"),
    (["run", "--kernel", "vm", "--op-syscall", "nosuch", "--", "@nullsys", "10"],
     "no system call named"),
    (["compare", "@nullsys", "--kernels", "linux,xen"], "unknown kernel 'xen'"),
    (["compare", "@nullsys", "--containers", "1,x"], "not a whole number"),
    (["compare", "--kernels", "linux"], "no workload given"),
    (["calibrate", "--kernel", "qemu"], "unknown kernel 'qemu'"),
    (["calibrate", "--iterations", "-3"], "must be at least 1"),
])
def test_bad_options_are_one_line_errors(argv: list[str], message: str,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    assert _status(argv) == 2
    err = capfd.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_timing_doc_lists_every_cost_with_its_default() -> None:
    """docs/timing.md's cost table is the code's: a changed default must change the doc."""
    from cofferos.sim.costmodel import DEFAULT_KERNEL_COSTS
    from cofferos.sim.kernels import ARCHITECTURES
    from cofferos.timing import cost_fields

    doc = (Path(__file__).parent.parent / "docs" / "timing.md").read_text()
    table = {cells[1].strip("` "): cells[2].strip()
             for cells in (line.split("|") for line in doc.splitlines())
             if len(cells) > 3 and cells[1].strip().startswith("`")}
    for name in cost_fields():
        value = getattr(DEFAULT_KERNEL_COSTS, name)
        shown = ("on" if value else "off") if isinstance(value, bool) else f"{value:,}"
        assert table.get(name) == shown, f"docs/timing.md: {name} should read {shown}"
    assert f"| {' | '.join(ARCHITECTURES)} |" in doc  # the mechanisms table's columns


def test_mechanism_constants_can_be_overridden() -> None:
    """--cost reaches architecture and lock constants too, not only the kernel costs."""
    from cofferos.sim.experiment import run_containers
    from cofferos.timing import kernel_costs

    program = str(build("nullsys"))
    base = run_containers(program, ["500"], kernel="sandbox", containers=1, cores=1,
                          op_syscall="getppid")
    cheap = run_containers(program, ["500"], kernel="sandbox", containers=1, cores=1,
                           op_syscall="getppid",
                           base=CofferConfig(kernel_costs=kernel_costs(["arch.per_call=0"])))
    assert cheap.per_container_throughput > 3 * base.per_container_throughput
    assert main(["run", "--kernel", "linux", "--cost", "lock.nosuch=1", "--", "@hello"]) == 2
