"""``--timeline FILE.json``: the timed machine as a Chrome trace, checked and drawn.

The file is checked against the Trace Event Format's documented fields by
:func:`cofferos.results.timeline.problems` (Perfetto's trace processor would fetch a
binary at run time, which these machines cannot); the checker itself is tested on
documents that break each rule. The acceptance run is issue #19's
``compare @metadata --kernels linux,cofferos --containers 4 --cores 4`` at a small N:
lock waits between containers on linux, none between coffers; and recording a
timeline changes no number of the run.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cofferos.cli import main
from cofferos.results import timeline as read
from cofferos.sim import timeline
from cofferos.sim.experiment import run_containers
from cofferos.timing import compare

METADATA_ARGS = ["/tmp/shared", "50"]  #: a small N: a few seconds for both kernels
ACCEPTANCE = ["compare", "@metadata", "--kernels", "linux,cofferos", "--containers", "4",
              "--cores", "4", "--", *METADATA_ARGS]


def _x(ts: float, dur: float, tid: int = 0, **extra: Any) -> dict[str, Any]:
    return {"name": "read", "cat": "syscall", "ph": "X", "ts": ts, "dur": dur, "pid": 1,
            "tid": tid, "args": {}, **extra}


def _events(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text())
    assert read.problems(doc) == []
    return doc["traceEvents"]


def _process_names(events: list[dict[str, Any]]) -> dict[int, str]:
    return {e["pid"]: e["args"]["name"] for e in events
            if e["ph"] == "M" and e["name"] == "process_name"}


# -- the checker ------------------------------------------------------------------------------
def test_a_well_formed_trace_passes_nesting_included() -> None:
    doc = {"traceEvents": [
        {"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": "linux"}},
        _x(0.0, 10.0), _x(2.0, 3.0, cat="lock", name="lock wait"), _x(10.0, 1.0),
        _x(5.0, 20.0, tid=1),
        {"name": "IPI", "cat": "sched", "ph": "i", "s": "t", "ts": 4.0, "pid": 1, "tid": 1}]}
    assert read.problems(doc) == []


@pytest.mark.parametrize(("event", "says"), [
    ({"name": "read", "ph": "X", "ts": 0, "dur": 1, "pid": 1, "tid": 0}, "missing cat"),
    ({"name": "read", "cat": "c", "ph": "X", "ts": 0, "pid": 1, "tid": 0}, "missing dur"),
    (_x(-1.0, 1.0), "ts -1.0 is not a non-negative number"),
    (_x(0.0, -2.0), "dur -2.0"),
    (_x(float("nan"), 1.0), "ts nan"),
    (_x(0.0, 1.0, pid="one"), "pid and tid must be integers"),
    (_x(0.0, 1.0, args=[1]), "args must be an object"),
    ({"name": "x", "ph": "i", "s": "q", "ts": 0, "pid": 1, "tid": 0}, "scope 'q'"),
    ({"name": "thread_name", "ph": "M", "pid": 1, "tid": 0, "args": {}}, "without args.name"),
    ({"name": "x", "ph": "B", "ts": 0, "pid": 1, "tid": 0}, "phase 'B' is not X, i or M"),
])
def test_each_broken_rule_is_named(event: dict[str, Any], says: str) -> None:
    found = read.problems({"traceEvents": [event]})
    assert len(found) == 1 and says in found[0], found


def test_two_slices_of_one_core_that_cross_are_refused() -> None:
    crossing = {"traceEvents": [_x(0.0, 10.0), _x(5.0, 10.0)]}
    assert read.problems(crossing) == ["pid 1 tid 0: events 0 and 1 overlap without nesting"]
    apart = {"traceEvents": [_x(0.0, 10.0), _x(5.0, 10.0, tid=1)]}  # two cores
    assert read.problems(apart) == []


# -- the acceptance run -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def acceptance(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], str]:
    path = tmp_path_factory.mktemp("timeline") / "t.json"
    assert main([*ACCEPTANCE[:-3], "--timeline", str(path), *ACCEPTANCE[-3:]]) == 0
    return _events(path), path.read_text()


def test_compare_writes_one_process_per_kernel_with_a_track_per_core(
        acceptance: tuple[list[dict[str, Any]], str]) -> None:
    events, _text = acceptance
    names = _process_names(events)
    assert sorted(names.values()) == ["cofferos: 4 containers on 4 cores",
                                      "linux: 4 containers on 4 cores"]
    for pid in names:
        cores = {e["args"]["name"] for e in events if e["ph"] == "M" and e["pid"] == pid
                 and e["name"] == "thread_name"}
        assert cores == {"core 0", "core 1", "core 2", "core 3"}
        done = {(e["cat"], e["tid"]) for e in events if e["ph"] == "X" and e["pid"] == pid}
        assert {("user", core) for core in range(4)} <= done  # every core ran guests
        calls = {e["name"] for e in events if e["pid"] == pid and e.get("cat") == "syscall"}
        assert {"mkdir", "openat", "write", "read", "unlink", "exit_group"} <= calls
        assert "page fault" in calls  # the recorder's page-fault number, by its name
        assert not [name for name in calls if name.startswith("syscall ")]


def test_linux_waits_for_locks_other_containers_hold_and_coffers_never_do(
        acceptance: tuple[list[dict[str, Any]], str]) -> None:
    events, _text = acceptance
    pid = {name.split(":")[0]: p for p, name in _process_names(events).items()}
    waits = {kernel: [e for e in events if e["pid"] == p and e.get("cat") == "lock"]
             for kernel, p in pid.items()}
    across = [e for e in waits["linux"] if e["args"]["held_by"] != e["args"]["container"]]
    assert across, waits["linux"]
    for wait in across:  # a shared kernel's lock, which several containers take
        assert wait["args"]["kernel"] == "shared" and len(wait["args"]["users"]) > 1
        assert wait["args"]["lock"] and wait["args"]["object"]
        assert wait["dur"] > 0
    for wait in waits["cofferos"]:  # (a coffer's own threads may wait on its own locks)
        assert wait["args"]["kernel"] == wait["args"]["container"]
        assert wait["args"]["users"] == [wait["args"]["container"]]
    assert all(e["ts"] >= 0 for e in events if "ts" in e)


def test_a_lock_wait_sits_inside_the_call_that_waits(
        acceptance: tuple[list[dict[str, Any]], str]) -> None:
    events, _text = acceptance
    for wait in (e for e in events if e.get("cat") == "lock"):
        holders = [e for e in events if e.get("cat") == "syscall" and e["pid"] == wait["pid"]
                   and e["tid"] == wait["tid"] and e["ts"] <= wait["ts"] + 1e-6
                   and wait["ts"] + wait["dur"] <= e["ts"] + e["dur"] + 1e-6]
        assert len(holders) == 1, wait


# -- recording changes nothing ----------------------------------------------------------------
@pytest.mark.parametrize(("workload", "args"), [("@metadata", METADATA_ARGS),
                                                ("@pipeline", [])])
def test_a_timeline_changes_no_number_of_the_run(workload: str, args: list[str]) -> None:
    def rows() -> list[dict[str, Any]]:
        reports = compare(workload, args, kernels=["linux", "cofferos"], containers=[2],
                          cores=2)
        return [{**report.row(), "host_seconds": None,
                 "times": {k: vars(v) for k, v in report.machine.times.items()}}
                for report in reports]

    without = rows()
    out = io.StringIO()
    with timeline.recording(timeline.Timeline(out)):
        with_timeline = rows()
    assert with_timeline == without
    assert read.problems(json.loads(out.getvalue())) == []


# -- what else the machine records --------------------------------------------------------------
def test_sleeps_wake_ups_and_ipis_are_on_the_timeline() -> None:
    out = io.StringIO()
    from cofferos.api import resolve_program

    with timeline.recording(timeline.Timeline(out)):
        report = run_containers(resolve_program("@pipeline"), [], kernel="linux",
                                containers=2, cores=2)
    assert [c.exit_code for c in report.containers] == [0, 0]
    events = json.loads(out.getvalue())["traceEvents"]
    assert read.problems({"traceEvents": events}) == []
    names = {(e.get("cat"), e["name"], e["ph"]) for e in events}
    assert {("sleep", "sleep", "X"), ("sleep", "wake-up", "i"), ("sched", "IPI", "i"),
            ("sched", "IPI", "X"), ("sched", "context switch", "X")} <= names
    sleeps = [e for e in events if e.get("cat") == "sleep"]
    assert all(e["tid"] >= timeline.TASK_TID_BASE for e in sleeps)  # not on a core's track
    ipis = [e for e in events if e["name"] == "IPI" and e["ph"] == "i"]
    assert all(e["args"]["from_core"] != e["tid"] for e in ipis)  # from another core


def test_the_limit_bounds_the_file_and_says_so(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.json"
    assert main(["run", "--containers", "2", "--timeline", str(path), "--timeline-limit", "40",
                 "--", "@metadata", *METADATA_ARGS]) == 0
    events = _events(path)
    assert len(events) == 41  # the limit, then the note
    note = events[-1]
    assert note["name"] == "timeline truncated" and note["s"] == "g"
    assert note["args"]["limit"] == 40 and note["args"]["events_left_out"] > 0
    assert re.search(r"wrote .*t\.json: 40 events \([\d,]+ events past --timeline-limit 40 "
                     r"left out\)", capsys.readouterr().err)


def test_run_with_trace_and_timeline_traces_each_container(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.json"
    assert main(["run", "--trace", "--containers", "2", "--cores", "2", "--timeline",
                 str(path), "--", "@hello"]) == 0
    out, err = capfd.readouterr()
    assert out == "hello from a coffer\nargc=1\n"
    for name in ("c0", "c1"):
        assert re.search(rf"^{name} \[1\] exit_group\(0\) = \?", err, re.M), err
    events = _events(path)
    assert _process_names(events) == {1: "cofferos: 2 containers on 2 cores"}
    assert {e["args"]["container"] for e in events if e.get("cat") == "user"} == {"c0", "c1"}


def test_an_experiment_writes_every_kernel_run_into_one_file(tmp_path: Path) -> None:
    path = tmp_path / "fault.json"
    assert main(["experiment", "fault", "--kernels", "linux,cofferos", "--containers", "2",
                 "--set", "kinds=panic", "--no-figure", "--out", str(tmp_path / "out"),
                 "--timeline", str(path)]) == 0
    kernels = {name.split(":")[0] for name in _process_names(_events(path)).values()}
    assert kernels == {"linux", "cofferos"}


# -- plot --kind timeline -----------------------------------------------------------------------
def test_plot_draws_a_row_per_core(acceptance: tuple[list[dict[str, Any]], str],
                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "t.json"
    source.write_text(acceptance[1])
    assert main(["plot", "--kind", "timeline", str(source)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    rows = read.core_rows(read.load(source))
    assert [label for label, _ in rows] == [
        f"{kernel}: 4 containers on 4 cores | core {core}"
        for kernel in ("linux", "cofferos") for core in range(4)]
    svg = tmp_path / "t.svg"
    assert main(["plot", "--kind", "timeline", str(source), "-o", str(svg)]) == 0
    assert "<svg" in svg.read_text()[:400]


@pytest.mark.parametrize(("content", "says"), [
    (None, "no such file"),
    ("{", "not a timeline"),
    ('{"traceEvents": [{"ph": "X"}]}', "not a Trace Event timeline: event 0 (X): missing"),
])
def test_plot_refuses_what_is_not_a_timeline(content: str | None, says: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "t.json"
    if content is not None:
        source.write_text(content)
    assert main(["plot", "--kind", "timeline", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coffersim: error: ") and says in err and err.count("\n") == 1
    assert not (tmp_path / "t.png").exists()
