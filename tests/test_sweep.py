"""Sweeps (coffersim sweep): running points, failures, resume, Dask, the table and the CLI."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cofferos import cli_sweep
from cofferos.results import sweeps
from cofferos.sim.sweeps import point as sweep_point
from cofferos.sim.sweeps.run import run_sweep
from cofferos.sim.sweeps.spec import parse_text

ROOT = Path(__file__).resolve().parent.parent
#: 2 kernels x 2 container counts of a quick workload (each point well under 1 s of host time).
SMALL = """name = "small"
[base]
workload = "@nullsys"
args = ["500"]
cores = 2
[vary]
kernel = ["linux", "cofferos"]
containers = [1, 2]
"""
CONTAINER_METRICS = {"throughput", "ops", "exit_code"}
POINT_METRICS = {"throughput_total", "throughput_per_container", "simulated_seconds",
                 "host_seconds", "failed_containers", "cpu_user", "cpu_kernel", "cpu_idle"}


# Probes run inside a point's process; being module-level, they reach it by reference.
def boom_probe(config):
    raise RuntimeError("probe went boom")


def crash_probe(config):
    os._exit(3)


def segv_probe(config):
    import ctypes

    ctypes.string_at(0)  # a real segmentation fault in the point's process


def hang_probe(config):
    time.sleep(600)


def extra_probe(config):
    return [{"container": "all", "metric": "probe_cores", "value": float(config["cores"])}]


def noop_probe(config):
    return []


@pytest.fixture
def probes(monkeypatch):
    for name, probe in (("boom", boom_probe), ("crash", crash_probe), ("hang", hang_probe),
                        ("extra", extra_probe), ("segv", segv_probe)):
        monkeypatch.setitem(sweep_point.POINT_PROBES, name, probe)


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    seen = []
    outcome = run_sweep(parse_text(SMALL, "small.toml"), out, jobs=2, progress=seen.append)
    return out, outcome, seen


def test_small_sweep_table_and_manifest(small_sweep):
    out, outcome, seen = small_sweep
    assert (outcome.ran, outcome.skipped, outcome.failed, outcome.interrupted) == (4, 0, 0, False)
    assert len(seen) == 4 and all(not r["resumed"] for r in seen)
    table = sweeps.load(out)
    assert list(table.columns) == list(sweeps.COLUMNS)
    assert len(table) == len(sweeps.frame(sweeps.read_records(out)))  # parquet == records
    assert set(table["status"]) == {"ok"} and set(table["error"]) == {""}
    assert table.duplicated(["point", "container", "metric"]).sum() == 0
    assert set(table["personalities"]) == {"none"} and set(table["cost"]) == {""}
    for (kernel, containers), rows in table.groupby(["kernel", "containers"]):
        assert kernel in ("linux", "cofferos")
        assert set(rows["container"]) == {"all", *(f"c{i}" for i in range(containers))}
        for index in range(containers):
            assert CONTAINER_METRICS <= set(rows[rows["container"] == f"c{index}"]["metric"])
        assert POINT_METRICS <= set(rows[rows["container"] == "all"]["metric"])
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0] == ",".join(sweeps.COLUMNS) and len(csv) == len(table) + 1
    assert (out / "spec.toml").read_text() == SMALL
    manifest = json.loads((out / "manifest.json").read_text())
    conf = manifest["configuration"]
    assert conf["spec_text"] == SMALL and conf["spec"]["vary"]["containers"] == [1, 2]
    assert conf["jobs"] == 2 and conf["executor"] == "local" and conf["seeds"] == 1
    assert conf["counts"] == {"total": 4, "done": 4, "ran": 4, "skipped": 0, "failed": 0}
    assert [p["id"] for p in conf["points"]] == sorted(set(table["point"]), key=[
        p["id"] for p in conf["points"]].index)
    assert all(p["status"] == "ok" and p["host_seconds"] > 0 for p in conf["points"])
    assert conf["point_overhead"]["points"] == 4 and conf["wall_seconds"] > 0
    assert manifest["host"]["cpus"] and "git_commit" in manifest and "version" in manifest
    assert conf["project_version"]
    summary = sweeps.summary(table)
    assert len(summary) == 4 and (summary["throughput_per_container"] > 0).all()


def test_rerun_skips_done_points_and_finishes_deleted_ones(small_sweep, tmp_path):
    out, first, _ = small_sweep
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "points").mkdir()
    for path in (out / "points").glob("*.json"):
        (copy / "points" / path.name).write_text(path.read_text())
    removed = sorted((copy / "points").glob("*.json"))[:2]
    for path in removed:  # as if the sweep had been killed before these finished
        path.unlink()
    seen = []
    outcome = run_sweep(parse_text(SMALL, "small.toml"), copy, jobs=2, progress=seen.append)
    assert (outcome.ran, outcome.skipped, outcome.failed) == (2, 2, 0)
    assert sorted(r["id"] for r in seen if not r["resumed"]) == sorted(p.stem for p in removed)
    conf = json.loads((copy / "manifest.json").read_text())["configuration"]
    assert conf["counts"]["skipped"] == 2 and conf["counts"]["ran"] == 2
    assert sum(p["resumed"] for p in conf["points"]) == 2
    assert sweeps.load(copy)["value"].notna().all()
    (copy / sweeps.PARQUET).unlink()  # the table is rebuilt from the point records
    assert len(sweeps.load(copy)) == len(sweeps.load(out))
    again = run_sweep(parse_text(SMALL, "small.toml"), copy, jobs=2)
    assert (again.ran, again.skipped) == (0, 4)


def test_point_module_reads_json_on_stdin(small_sweep):
    config = parse_text(SMALL).points[0]["config"]
    done = subprocess.run([sys.executable, "-m", "cofferos.sim.sweeps.point"], cwd=ROOT,
                          input=json.dumps(config), capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result["run_seconds"] > 0
    rows = {(r["container"], r["metric"]): r["value"] for r in result["rows"]}
    table = sweeps.load(small_sweep[0])
    expected = table[(table["point"] == parse_text(SMALL).points[0]["id"])
                     & (table["metric"] == "simulated_seconds")]["value"].item()
    assert rows[("all", "simulated_seconds")] == expected


def _values(table):
    simulated = table[table["metric"] != "host_seconds"]
    return simulated.set_index(["point", "container", "metric"])["value"].sort_index()


def test_dask_executor_gives_the_same_values(small_sweep, tmp_path):
    distributed = pytest.importorskip("distributed")
    out, _, _ = small_sweep
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        outcome = run_sweep(parse_text(SMALL, "small.toml"), tmp_path, jobs=2,
                            executor=f"dask://{cluster.scheduler_address}")
    assert (outcome.ran, outcome.failed) == (4, 0)
    local, remote = _values(sweeps.load(out)), _values(sweeps.load(tmp_path))
    assert local.index.equals(remote.index)
    assert (local == remote).all()
    conf = json.loads((tmp_path / "manifest.json").read_text())["configuration"]
    assert conf["executor"].startswith("dask://")


FAILURES = """[base]
workload = "@nullsys"
args = ["200"]
cores = 1
[vary]
mode = "zip"
probes = [["extra"], ["boom"], ["crash"], ["hang"], ["segv"]]
timeout_s = [60, 60, 60, 1.5, 60]
"""


def test_raising_crashing_and_hanging_points_fail_alone(probes, tmp_path):
    outcome = run_sweep(parse_text(FAILURES), tmp_path, jobs=2)
    assert (outcome.ran, outcome.failed) == (5, 4)
    errors = {r["config"]["probes"][0]: r["error"] for r in outcome.records.values()}
    assert errors["extra"] == ""
    assert errors["boom"] == "RuntimeError: probe went boom"
    assert "exited with status 3" in errors["crash"]
    assert errors["hang"] == "timed out after 1.5 s of host time"
    assert "killed by SIGSEGV" in errors["segv"]
    table = sweeps.load(tmp_path)
    failed = table[table["status"] == "failed"]
    assert len(failed) == 4 and set(failed["metric"]) == {"failed"}
    assert set(failed["container"]) == {"all"} and set(failed["value"]) == {1.0}
    ok = table[table["status"] == "ok"]
    assert ok[ok["metric"] == "probe_cores"]["value"].tolist() == [1.0]
    record = json.loads(next((tmp_path / "points").glob("*.json")).read_text())
    assert set(record) >= {"id", "config", "status", "error", "host_seconds", "rows"}


SCRIPT = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from cofferos import cli_sweep
from cofferos.cli import _Parser
from cofferos.sim.sweeps.point import register_probe
from tests.test_sweep import hang_probe
register_probe("hang", hang_probe)
parser = _Parser(prog="coffersim")
cli_sweep.add_parsers(parser.add_subparsers(dest="command"), _Parser)
sys.exit(cli_sweep.run(parser.parse_args(sys.argv[1:])))
"""
INTERRUPTED = """[base]
workload = "@nullsys"
args = ["200"]
cores = 1
[vary]
mode = "zip"
containers = [1, 2, 3]
probes = [[], ["hang"], ["hang"]]
"""
WAIT_S = 60  #: the longest the interrupt test waits for the child sweep to reach a state


def test_ctrl_c_stops_cleanly_and_a_rerun_finishes(monkeypatch, tmp_path):
    spec, out = tmp_path / "int.toml", tmp_path / "out"
    spec.write_text(INTERRUPTED)
    child = subprocess.Popen([sys.executable, "-c", SCRIPT, "sweep", str(spec), "--out",
                              str(out), "--jobs", "1"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + WAIT_S
    while not list(out.glob("points/*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the second point is running (and hangs)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=WAIT_S)
    assert child.returncode == cli_sweep.EXIT_INTERRUPTED, stderr
    assert "interrupted: 1 of 3 points done" in stderr.splitlines()[-1]
    assert "Traceback" not in stderr
    assert len(sweeps.load(out)["point"].unique()) == 1
    monkeypatch.setitem(sweep_point.POINT_PROBES, "hang", noop_probe)
    outcome = run_sweep(spec, out, jobs=2)
    assert (outcome.ran, outcome.skipped, outcome.failed) == (2, 1, 0)


def _parser():
    from cofferos.cli import _Parser

    parser = _Parser(prog="coffersim")
    cli_sweep.add_parsers(parser.add_subparsers(dest="command"), _Parser)
    return parser


def test_cli_sweep_and_results_show(small_sweep, tmp_path, capsys):
    out, _, _ = small_sweep
    spec = tmp_path / "small.toml"
    spec.write_text(SMALL)
    copy = tmp_path / "out"
    (copy / "points").mkdir(parents=True)
    for path in (out / "points").glob("*.json"):  # done already: the CLI only resumes
        (copy / "points" / path.name).write_text(path.read_text())
    args = _parser().parse_args(["sweep", str(spec), "--out", str(copy), "--jobs", "2"])
    assert cli_sweep.run(args) == 0
    shown = capsys.readouterr()
    assert shown.out.count("@nullsys") == 4 and "4/4" in shown.err
    assert cli_sweep.run(_parser().parse_args(["results", "show", str(copy)])) == 0
    assert capsys.readouterr().out.count("\n") == 4 + 2


@pytest.mark.parametrize("argv", [["results", "show", "/nonexistent"], ["results"],
                                  ["sweep", "/nonexistent.toml"]])
def test_cli_user_errors_are_one_line(argv, capsys):
    assert cli_sweep.run(_parser().parse_args(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("coffersim: error: ") and err.count("\n") == 1


def test_cli_bad_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["sweep", "s.toml", "--jobs", "0"])
    assert info.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def test_cli_exit_status_1_when_a_point_failed(probes, tmp_path, capsys):
    spec = tmp_path / "f.toml"
    spec.write_text('[base]\nworkload = "@nullsys"\nargs = ["100"]\ncores = 1\n'
                    'probes = ["boom"]\n')
    args = _parser().parse_args(["sweep", str(spec), "--out", str(tmp_path / "o")])
    assert cli_sweep.run(args) == cli_sweep.EXIT_FAILED_POINTS
    assert "1 of 1 points failed" in capsys.readouterr().err.splitlines()[-1]


def _registered() -> bool:
    from cofferos.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return "sweep" in sub.choices


@pytest.mark.skipif(not _registered(), reason="sweep is not registered in cofferos.cli yet")
def test_coffersim_main_runs_sweep(small_sweep, tmp_path, capsys):
    from cofferos.cli import main

    out, _, _ = small_sweep
    spec = tmp_path / "small.toml"
    spec.write_text(SMALL)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--jobs", "2"]) == 0
    assert main(["results", "show", str(tmp_path / "o")]) == 0
    assert capsys.readouterr().out.count("@nullsys") == 8


def test_table_and_summary_carry_args_and_every_other_parameter(small_sweep, capsys):
    out, _, _ = small_sweep
    table = sweeps.load(out)
    assert set(table["args"]) == {"500"} and set(table["op_syscall"]) == {""}
    assert set(table["probes"]) == {""} and set(sweeps.PARAMETERS) <= set(table.columns)
    assert cli_sweep.run(_parser().parse_args(["results", "show", str(out)])) == 0
    header, _, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[2:4] == ["workload", "args"] and header.split()[-1] == "error"
    assert len(rows) == 4 and all(" @nullsys  500 " in row for row in rows)
