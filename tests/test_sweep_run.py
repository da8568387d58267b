"""Running sweeps (cofferos.sim.sweeps.run): user probes on Dask, the executor's checks before
anything is created, Ctrl-C at any time, and what records and the manifest keep of every run."""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cofferos import cli_sweep
from cofferos.errors import ConfigError
from cofferos.sim.sweeps import dask_executor as sweep_dask
from cofferos.sim.sweeps import point as sweep_point
from cofferos.sim.sweeps.run import check_options, run_sweep
from cofferos.sim.sweeps.spec import parse_text

ROOT = Path(__file__).resolve().parent.parent
#: Two quick points (each well under a second of host time).
TINY = '[base]\nworkload = "@nullsys"\nargs = ["100"]\ncores = 1\n[vary]\ncontainers = [1, 2]\n'
PROBE_MODULE = "sweep_user_probe_mod"
PROBE_SOURCE = f'''
from cofferos.sim.sweeps.point import register_probe

def user_probe(config):
    return [{{"container": "all", "metric": "user_probe", "value": float(config["containers"])}}]

register_probe("{PROBE_MODULE}", user_probe)
'''
WAIT_S = 60  #: the longest a test waits for a child process to reach a state


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_user_probe_module_runs_on_dask(tmp_path, monkeypatch):
    """The point's process imports the probe's module by name (from PYTHONPATH) and finds
    the probe in the registry it registered into, not in a ``__main__`` copy."""
    distributed = pytest.importorskip("distributed")
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / f"{PROBE_MODULE}.py").write_text(PROBE_SOURCE)
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(modules), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setitem(sweep_point.POINT_PROBES, PROBE_MODULE, None)  # removed afterwards
    monkeypatch.delitem(sys.modules, PROBE_MODULE, raising=False)
    importlib.import_module(PROBE_MODULE)
    spec = parse_text(TINY + f'probes = [["{PROBE_MODULE}"]]\n', "probe.toml")
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp://", dashboard_address=None) as cluster:
        outcome = run_sweep(spec, out, jobs=5,
                            executor=f"dask://{cluster.scheduler_address}")
    records = list(outcome.records.values())
    assert [r["error"] for r in records] == ["", ""]
    assert sorted(row["value"] for r in records for row in r["rows"]
                  if row["metric"] == "user_probe") == [1.0, 2.0]
    assert all(r["git_commit"] == records[0]["git_commit"] and r["host"]["hostname"]
               for r in records)
    conf = json.loads((out / "manifest.json").read_text())["configuration"]
    assert conf["jobs"] is None and conf["dask_threads"] == 2 and conf["dask_workers"] == 1
    run = conf["runs"][-1]
    assert run["executor"].startswith("dask://tcp://") and run["point_overhead"]["points"] == 2
    assert not any(sweep_dask._BUSY.values()) and not any(sweep_dask._IDLE.values())


@pytest.mark.parametrize(("executor", "expected"), [
    ("dask://localhost", "'localhost' has no port"),
    ("dask://127.0.0.1:notaport", "Port could not be cast to integer"),
    ("dask://[::1", "Invalid IPv6 URL"),
    ("dask://inproc://x", "not an in-process scheduler address"),
    ("dask://inproc://127.0.0.1/1/1", "a scheduler inside another process"),
    ("dask://udp://host:8786", "protocol 'udp' is not one of tcp, tls, ws, wss"),
    ("dask://host:8786/path", "is not HOST:PORT"),
    ("dask://host:99999", "Port out of range"),
    ("dask://", "no scheduler address given"),
])
def test_malformed_scheduler_addresses_are_one_line(executor, expected):
    with pytest.raises(ConfigError) as info:
        check_options(1, executor)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_an_unreachable_scheduler_fails_fast_before_anything_is_made(tmp_path, capsys):
    executor = f"dask://127.0.0.1:{_free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:"):
        run_sweep(parse_text(TINY), tmp_path / "out", executor=executor)
    assert time.monotonic() - started < sweep_dask.DASK_REACH_TIMEOUT_S
    assert not (tmp_path / "out").exists()
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    from cofferos.cli import _Parser

    parser = _Parser(prog="coffersim")
    cli_sweep.add_parsers(parser.add_subparsers(dest="command"), _Parser)
    args = parser.parse_args(["sweep", str(spec), "--out", str(tmp_path / "o"), "--executor",
                              executor])
    assert cli_sweep.run(args) == 2
    err = capsys.readouterr().err  # one line: checked before the progress bar is drawn
    assert err.startswith("coffersim: error: cannot reach") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("timeout", [math.inf, math.nan, 0.0, -1.0, 1e300])
def test_timeout_override_must_be_a_sane_number_of_seconds(timeout):
    with pytest.raises(ConfigError, match="--timeout must be more than 0"):
        check_options(1, "local", timeout)


def main_probe(config):
    return []


def test_a_probe_defined_in_main_is_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(main_probe, "__module__", "__main__")
    monkeypatch.setitem(sweep_point.POINT_PROBES, "in_main", main_probe)
    with pytest.raises(ConfigError, match="probe 'in_main' is defined in the running script"):
        run_sweep(parse_text(TINY + 'probes = [["in_main"]]\n'), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_records_and_the_manifest_keep_every_run(tmp_path):
    out = tmp_path / "out"
    spec = parse_text(TINY, "tiny.toml")
    first = run_sweep(spec, out, jobs=2, command=["coffersim", "first"])
    assert (first.ran, first.failed) == (2, 0)
    records = sorted((out / "points").glob("*.json"))
    for path in records:
        record = json.loads(path.read_text())
        assert {"git_commit", "git_dirty", "version", "host"} <= set(record)
        assert record["host"]["hostname"] == socket.gethostname()
    records[0].unlink()  # as if killed before it finished
    again = run_sweep(spec, out, jobs=2, command=["coffersim", "second"])
    assert (again.ran, again.skipped) == (1, 1)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == ["coffersim", "second"]  # the top level: the latest run
    runs = manifest["configuration"]["runs"]
    assert [r["command"] for r in runs] == [["coffersim", "first"], ["coffersim", "second"]]
    assert [len(r["points"]) for r in runs] == [2, 1] and runs[1]["points"] == [records[0].stem]
    assert runs[1]["created"] == manifest["created"] or runs[1]["created"] >= runs[0]["created"]
    for run in runs:
        assert {"git_commit", "git_dirty", "host", "wall_seconds", "started", "executor",
                "jobs", "point_overhead"} <= set(run)
        assert run["executor"] == "local" and run["jobs"] == 2
    assert manifest["configuration"]["wall_seconds"] == runs[1]["wall_seconds"]


def test_a_manifest_without_runs_becomes_the_first_run(tmp_path):
    out = tmp_path / "out"
    spec = parse_text(TINY, "tiny.toml")
    run_sweep(spec, out, jobs=2)
    manifest_path = out / "manifest.json"
    old = json.loads(manifest_path.read_text())
    del old["configuration"]["runs"]  # as an older version wrote it
    old.update(command=["coffersim", "old"], created="2020-01-01T00:00:00+00:00",
               git_commit="0" * 40)
    manifest_path.write_text(json.dumps(old))
    run_sweep(spec, out, jobs=1)
    runs = json.loads(manifest_path.read_text())["configuration"]["runs"]
    assert len(runs) == 2 and runs[0]["command"] == ["coffersim", "old"]
    assert runs[0]["created"] == "2020-01-01T00:00:00+00:00" and runs[0]["git_commit"] == "0" * 40
    assert sorted(runs[0]["points"]) == sorted(p["id"] for p in spec.points)
    assert runs[1]["points"] == []  # everything was done already


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append((int(entry.name), (entry / "cmdline").read_text()))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_ctrl_c_while_the_forkserver_imports_is_no_traceback(tmp_path):
    """Ctrl-C reaches every process of the terminal's group: the forkserver too, while it
    still imports the simulator (about a second after it starts)."""
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    child = subprocess.Popen([sys.executable, "-m", "cofferos", "sweep", str(spec), "--out",
                              str(tmp_path / "out"), "--jobs", "1"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    deadline = time.monotonic() + WAIT_S
    while not any("forkserver" in cmd for _, cmd in _children(child.pid)):
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(child.pid, signal.SIGINT)
    _, stderr = child.communicate(timeout=WAIT_S)
    assert child.returncode == cli_sweep.EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert stderr.splitlines()[-1].startswith("coffersim: interrupted"), stderr
