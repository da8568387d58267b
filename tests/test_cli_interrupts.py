"""Ctrl-C and concurrent sweeps: commands stop cleanly and keep what they finished.

SIGINT is sent from inside the simulator's ctypes callbacks (the CPUID hook, the
block-miss handler, the SYSCALL trap), where a raised KeyboardInterrupt used to be
printed and dropped: every command must then exit 130 with one line, and compare
must keep the rows it finished (cofferos.isa.interrupts). Sweeps lock their output
directory and refuse a different spec without --force (cofferos.sim.sweeps.dirlock).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cofferos.cli import main
from cofferos.coffers.syscalls.dispatch import SyscallDispatcher
from cofferos.isa import intercepts
from cofferos.isa.costs import BlockCoster

ROOT = Path(__file__).resolve().parent.parent
SPEC = """name = "tiny"
[base]
workload = "@nullsys"
args = ["50"]
[vary]
kernel = ["linux"]
"""
OTHER_SPEC = SPEC.replace('"50"', '"60"')
HOLD_LOCK = """
import sys
import time
from cofferos.sim.sweeps.dirlock import claim
with claim(sys.argv[1], "", ["holder-of-the-lock"]):
    print("held", flush=True)
    sys.stdin.read()
"""



def _compare_rows(directory: Path) -> list[dict[str, Any]]:
    """The rows a compare printed, from the point records of its result directory."""
    points = sorted((directory / "points").glob("*.json"))
    return [json.loads(point.read_text())["report"] for point in points]

def _interrupt_on_call(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, nth: int,
                       armed: Callable[[], bool] = lambda: True) -> list[int]:
    """Send this process SIGINT from inside ``owner.name`` on its ``nth`` call (while armed)."""
    original = getattr(owner, name)
    calls: list[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if armed():
            calls.append(1)
            if len(calls) == nth:
                os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


#: (where SIGINT lands, how to arm it there) - each one a ctypes callback of Unicorn's.
MOMENTS = {
    "cpuid hook": lambda mp: _interrupt_on_call(mp, intercepts, "cpuid", 1),
    "block-miss handler": lambda mp: _interrupt_on_call(mp, BlockCoster, "cost", 20),
    "syscall trap": lambda mp: _interrupt_on_call(mp, SyscallDispatcher, "trap", 5),
}


def _one_interrupted_line(capfd: pytest.CaptureFixture[str]) -> str:
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("coffersim: interrupted"), err
    return err


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("argv", [
    ["run", "--", "@nullsys", "200"],
    ["run", "--kernel", "linux", "--containers", "2", "--", "@nullsys", "200"],
    ["calibrate", "--iterations", "10"],
], ids=["run", "run-timed", "calibrate"])
def test_ctrl_c_inside_a_simulator_callback_stops_the_command(
        argv: list[str], moment: str, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    calls = MOMENTS[moment](monkeypatch)
    assert main(argv) == 130
    err = _one_interrupted_line(capfd)
    assert err.count("\n") == (2 if argv[0] == "calibrate" else 1)  # + calibrate's banner
    assert calls, "SIGINT was never sent"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_in_an_experiment_exits_130_without_its_results(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    MOMENTS["syscall trap"](monkeypatch)
    out = tmp_path / "fault"
    assert main(["experiment", "fault", "--kernels", "linux", "--out", str(out),
                 "--no-figure"]) == 130
    _one_interrupted_line(capfd)
    assert not (out / "manifest.json").exists()


def test_compare_interrupted_keeps_the_rows_it_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    argv = ["compare", "@nullsys", "--kernels", "linux,cofferos", "--containers", "1",
            "--cores", "2", "--json"]
    assert main([*argv, "--out", str(tmp_path / "clean"), "--", "100"]) == 0
    capfd.readouterr()
    import cofferos.timing

    runs: list[int] = []
    original = cofferos.timing.run_containers

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(cofferos.timing, "run_containers", counted)
    _interrupt_on_call(monkeypatch, SyscallDispatcher, "trap", 3,
                       armed=lambda: len(runs) == 2)
    out = tmp_path / "stopped"
    assert main([*argv, "--out", str(out), "--", "100"]) == 130
    err = _one_interrupted_line(capfd)
    assert err.splitlines()[-1] == f"coffersim: interrupted: 1 of 2 runs done, kept in {out}"
    kept, clean = _compare_rows(out), _compare_rows(tmp_path / "clean")
    assert len(kept) == 1
    simulated = ("kernel", "containers", "simulated_seconds", "throughput_total", "cpu_user")
    assert {k: kept[0][k] for k in simulated} == {k: clean[0][k] for k in simulated}
    assert json.loads((out / "manifest.json").read_text())["configuration"]["kernels"] == [
        "linux", "cofferos"]


def test_compare_interrupted_before_a_row_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    MOMENTS["block-miss handler"](monkeypatch)
    out = tmp_path / "stopped"
    assert main(["compare", "@nullsys", "--kernels", "linux", "--containers", "1",
                 "--out", str(out), "--", "100"]) == 130
    assert capfd.readouterr().err.splitlines()[-1] == "coffersim: interrupted"
    assert list(out.iterdir()) == []


# -- sweeps: one at a time per directory, one spec per directory ------------------------------
def test_a_second_sweep_into_a_locked_directory_is_refused(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    spec, out = tmp_path / "tiny.toml", tmp_path / "out"
    spec.write_text(SPEC)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert main(["sweep", str(spec), "--out", str(out), "--jobs", "1"]) == 2
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"coffersim: error: --out {out} is in "
                                                       f"use by another sweep (pid {holder.pid}")
        assert "holder-of-the-lock" in err
        assert not (out / "points").exists()
    finally:
        holder.communicate("")
    assert main(["sweep", str(spec), "--out", str(out), "--jobs", "1"]) == 0


def test_a_different_spec_is_refused_unless_forced(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    first, second, out = tmp_path / "a.toml", tmp_path / "b.toml", tmp_path / "out"
    first.write_text(SPEC)
    second.write_text(OTHER_SPEC)
    previous = os.umask(0o022)
    try:
        assert main(["sweep", str(first), "--out", str(out), "--jobs", "1"]) == 0
        points = sorted((out / "points").iterdir())
        capfd.readouterr()
        assert main(["sweep", str(second), "--out", str(out), "--jobs", "1"]) == 2
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and "holds the results of a different spec" in err
        assert (out / "spec.toml").read_text() == SPEC
        assert sorted((out / "points").iterdir()) == points
        assert main(["sweep", str(second), "--out", str(out), "--jobs", "1", "--force"]) == 0
        assert (out / "spec.toml").read_text() == OTHER_SPEC
        assert len(list((out / "points").iterdir())) == len(points) + 1
    finally:
        os.umask(previous)
    written = [out / "manifest.json", out / "spec.toml", out / "results.csv",
               *(out / "points").iterdir()]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {oct(0o644)}


def test_ctrl_c_from_outside_stops_compare_and_keeps_its_rows(tmp_path: Path) -> None:
    """A real Ctrl-C from another process, once the first run's line is printed."""
    out = tmp_path / "rows"
    compare = subprocess.Popen(
        [sys.executable, "-m", "cofferos", "compare", "@nullsys", "--kernels", "linux,cofferos",
         "--containers", "1,2", "--cores", "2", "--out", str(out), "--", "20000"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert compare.stderr is not None
    first = compare.stderr.readline()
    assert first.startswith("[1/4] linux x 1 ...") and first.endswith("simulated s\n"), first
    compare.send_signal(signal.SIGINT)
    _out, err = compare.communicate()
    assert compare.returncode == 130, err
    assert "Exception ignored" not in err and "Traceback" not in err, err
    last = err.splitlines()[-1]
    done = int(last.split("interrupted: ")[1].split(" of ")[0])
    assert last == f"coffersim: interrupted: {done} of 4 runs done, kept in {out}"
    assert 1 <= done < 4
    assert len(_compare_rows(out)) == done


def test_ctrl_c_that_lands_in_a_finalizer_is_not_lost() -> None:
    """The garbage collector runs finalizers (copy-on-write blocks, shared memory) at any
    moment; a KeyboardInterrupt raised inside one is printed and dropped, and a compare
    interrupted from outside then ran to its end with exit status 0."""
    import weakref

    from cofferos.isa import interrupts

    class Held:
        pass

    def interrupted_while_finalizing() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here, inside weakref.finalize's call

    with pytest.raises(KeyboardInterrupt):
        with interrupts.interruptible():
            held = Held()
            weakref.finalize(held, interrupted_while_finalizing)
            del held
