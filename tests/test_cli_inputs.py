"""Every command, fed bad input: one line on stderr, ``coffersim: error:``, exit 2, no work.

The table below gives each command (run, compare, calibrate, experiment, sweep,
results show, plot, workloads, personalities, demo) missing files, wrong types,
out-of-range and non-finite numbers, bad kernels, personalities and settings.
Each case runs :func:`cofferos.cli.main` in-process with the simulation itself
replaced by a tripwire (a coffer's scheduler, the timing machine, an
experiment, a sweep, a figure), so a case also proves the error came *before*
the work. A few cases go through the real entry point in a subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cofferos import memory
from cofferos.cli import main

EXIT_USAGE = 2
PREFIX = "coffersim: error: "


class WorkBegan(AssertionError):
    """A bad input got as far as the simulation."""


def _tripwire(*_args: object, **_kwargs: object) -> None:
    raise WorkBegan("the work began before the input was refused")


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every way of doing the work fail loudly."""
    from cofferos.coffers.sched import Scheduler
    from cofferos.results import figures
    from cofferos.sim import isolation
    from cofferos.sim.machine import Machine
    from cofferos.sim.sweeps import run as sweep_run

    monkeypatch.setattr(Scheduler, "run", _tripwire)
    monkeypatch.setattr(Machine, "run", _tripwire)
    monkeypatch.setattr(isolation, "run_experiment", _tripwire)
    monkeypatch.setattr(sweep_run, "run_sweep", _tripwire)
    monkeypatch.setattr(figures, "plot_sweep", _tripwire)
    from cofferos.sim.isolation import report
    monkeypatch.setattr(report, "write_report", _tripwire)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Paths the table refers to: a binary file, a text file, a sweep spec out of range."""
    root = tmp_path_factory.mktemp("inputs")
    binary = root / "binary"
    binary.write_bytes(bytes(range(256)) * 4)
    text = root / "notes.txt"
    text.write_text("not a directory\n")
    spec = root / "big.toml"
    spec.write_text('[base]\nworkload = "@hello"\ncores = 100000\n')
    nan_spec = root / "nan.toml"
    nan_spec.write_text('[base]\nworkload = "@hello"\nduration_ms = nan\n')
    empty = root / "empty"
    empty.mkdir()
    return {"BINARY": str(binary), "TEXT": str(text), "SPEC": str(spec),
            "NANSPEC": str(nan_spec), "EMPTY": str(empty)}


HELLO = ["--", "@hello"]
#: (argv, a piece of the message). FILE placeholders come from the ``files`` fixture.
BAD_INPUTS: list[tuple[list[str], str]] = [
    # the command itself
    (["nosuchcommand"], "invalid choice"),
    (["--bogus"], "unrecognized arguments"),
    # run: types, ranges, non-finite values
    (["run", "--cores", "x", *HELLO], "not a whole number: 'x'"),
    (["run", "--cores", "1.5", *HELLO], "not a whole number"),
    (["run", "--cores", "0", *HELLO], "must be at least 1, got 0"),
    (["run", "--cores", "-1", *HELLO], "must be at least 1, got -1"),
    (["run", "--cores", "100000", *HELLO], "must be at most 4,096, got 100,000"),
    (["run", "--containers", "nan", *HELLO], "not a whole number: 'nan'"),
    (["run", "--containers", "inf", *HELLO], "not a whole number: 'inf'"),
    (["run", "--containers", "1000000", *HELLO], "must be at most 100,000"),
    (["run", "--seed", "-1", *HELLO], "must be at least 0, got -1"),
    (["run", "--seed", str(1 << 64), *HELLO], "must be at most"),
    (["run", "--seed", "x", *HELLO], "not a whole number"),
    (["run", "--max-instructions", "0", *HELLO], "must be at least 1"),
    (["run", "--max-instructions", "1e999", *HELLO], "not a whole number"),
    (["run", "--kernel", "xen", *HELLO], "unknown kernel 'xen'"),
    (["run", "--kernel", "linux:1.0", *HELLO], "unknown linux version '1.0'"),
    (["run", "--kernel", "sandbox:2.6.35", *HELLO], "kernel 'sandbox' has no versions"),
    (["compare", "@hello", "--kernels", "linux,linux:9"], "unknown linux version '9'"),
    (["run", "--cost", "entry_exit=nan", *HELLO], "entry_exit"),
    (["run", "--env", "NOEQUALS", *HELLO], "expected K=V"),
    (["run"], "no program given"),
    (["run", "--", "/no/such/program"], "no such file"),
    (["run", "--", "BINARY"], "not an ELF"),
    (["run", "--", "@nosuchworkload"], "unknown workload"),
    # run: files and directories of the coffer
    (["run", "--cwd", "/nonexistent", *HELLO], "working directory /nonexistent"),
    (["run", "--rootfs", "/nonexistent", *HELLO], "--rootfs /nonexistent: no such directory"),
    (["run", "--rootfs", "TEXT", *HELLO], "not a directory"),
    (["run", "--image", "/nonexistent.tar", "--", "sh"],
     "--image /nonexistent.tar: no such file or directory"),
    (["run", "--image", "TEXT", "--", "sh"], "--image TEXT: archive: not a tar archive"),
    (["run", "--image", "EMPTY", "--rootfs", "EMPTY", "--", "sh"],
     "--image and --rootfs both give the root filesystem"),
    (["run", "--image", "EMPTY", "--", "sh"], "sh: no such file in the image"),
    (["run", "--image", "EMPTY", "--", "/bin/sh"],
     "/bin/sh: no such file in the image"),
    # run: personalities
    (["run", "--personality", "nosuch", *HELLO], "nosuch"),
    (["run", "--kernel", "linux", "--cost", "lock.sockets=0", *HELLO],
     "--cost lock.sockets must be at least 1, got 0"),
    (["run", "--kernel", "linux:2.6.35", "--cost", "lock.ticket_reread=-40", *HELLO],
     "--cost lock.ticket_reread: must be >= 0, got -40"),
    (["run", "--kernel", "linux", "--cost", "profile=nosuch", *HELLO],
     "unknown cost profile 'nosuch'"),
    (["run", "--personality", "hardened:profile=file:BINARY", *HELLO], "not a text file"),
    (["run", "--personality", "hardened:profile=file:/nonexistent", *HELLO],
     "cannot read profile"),
    (["run", "--personality", "agent:max_cycles=x", *HELLO], "max_cycles"),
    (["run", "--personality-change", "when=1:agent", *HELLO],
     "or at=SECONDS:S"),
    (["run", "--personality-change", "after=nosuchcall:1:agent", *HELLO],
     "no system call named 'nosuchcall'"),
    (["run", "--personality-change", "after=getppid:0:agent", *HELLO],
     "needs a positive whole N, got '0'"),
    (["run", "--personality-change", "at=nan:agent", *HELLO],
     "a finite number of simulated seconds >= 0, got 'nan'"),
    (["run", "--personality-change", "at=-1:agent", *HELLO], "got '-1'"),
    (["run", "--personality-change", "after=getppid:3", *HELLO],
     "no personality after the trigger"),
    (["run", "--personality-change", "after=getppid:3:nosuch", *HELLO],
     "unknown personality 'nosuch'"),
    (["run", "--personality-change", "at=1:agent:max_cycles=x", *HELLO], "max_cycles"),
    # compare
    (["compare", "@hello", "--containers", "0"], "must be at least 1"),
    (["compare", "@hello", "--containers", "1,inf"], "not a whole number"),
    (["compare", "@hello", "--cores", "100000"], "must be at most 4,096"),
    (["compare", "@hello", "--kernels", "linux,xen"], "unknown kernel 'xen'"),
    (["compare", "@hello", "--personality", "nosuch"], "nosuch"),
    (["compare", "--kernels", "linux"], "no workload given"),
    # --timeline (run timed, compare, experiment): a path that cannot take the file
    (["compare", "@hello", "--kernels", "linux", "--timeline", "EMPTY"],
     "--timeline EMPTY: is a directory"),
    (["compare", "@hello", "--kernels", "linux", "--timeline", "/proc/t.json"],
     "--timeline /proc/t.json: cannot create files in /proc"),
    (["compare", "@hello", "--kernels", "linux", "--timeline", "TEXT/t.json"],
     "a parent of it is not a directory"),
    (["compare", "@hello", "--timeline", "-"], "--timeline cannot be standard output"),
    (["compare", "@hello", "--timeline-limit", "5"], "--timeline-limit needs --timeline"),
    (["compare", "@hello", "--timeline", "t.json", "--timeline-limit", "0"],
     "must be positive: 0"),
    (["run", "--timeline", "t.json", *HELLO], "--timeline need --kernel, --cores or"),
    (["run", "--containers", "2", "--timeline", "EMPTY", *HELLO], "is a directory"),
    (["experiment", "fault", "--timeline", "EMPTY"], "--timeline EMPTY: is a directory"),
    (["experiment", "report", "--timeline", "t.json"], "report runs every experiment"),
    (["compare", "@hello", "--cost", "profile=nosuch"], "unknown cost profile 'nosuch'"),
    (["compare", "--image", "BINARY", "--kernels", "linux", "--", "sh"],
     "--image BINARY: archive: not a tar archive"),
    # calibrate
    (["calibrate", "--iterations", "0"], "must be at least 1"),
    (["calibrate", "--iterations", "-1"], "must be at least 1"),
    (["calibrate", "--kernel", "qemu"], "unknown kernel 'qemu'"),
    (["calibrate", "--cost", "bogus=1"], "bogus"),
    (["calibrate", "--cost", "profile=nosuch"], "unknown cost profile 'nosuch'; known: "),
    (["calibrate", "--fit", "null,nosuch"], "--fit: unknown op(s) nosuch"),
    (["calibrate", "--fit", "null,read,mmap,pagefault,pipe,ctx,fork,poll"], "none held out"),
    (["calibrate", "--cost", "profile=current-nomitig", "--cost", "profile=skylake-2018-kpti"],
     "profile= given twice"),
    # experiment
    (["experiment", "nosuch"], "invalid choice: 'nosuch'"),
    (["experiment", "fault", "--containers", "1000000"], "must be at most 100,000"),
    (["experiment", "fault", "--containers", "1"], "--containers must be at least 2"),
    (["experiment", "fault", "--cores", "x"], "not a whole number"),
    (["experiment", "fault", "--seed", "-1"], "must be at least 0"),
    (["experiment", "fault", "--kernels", "xen"], "unknown kernel 'xen'"),
    (["experiment", "agents", "--misbehave", "sneeze"], "unknown kind 'sneeze'"),
    (["experiment", "agents", "--agents", "2", "--misbehave", "probe:3"],
     "3 misbehaving agents but only 2 agents"),
    (["experiment", "agents", "--policy", "lax"], "--policy lax: no such policy"),
    (["experiment", "fault", "--misbehave", "probe"], "only the agents experiment"),
    (["experiment", "fault", "--personality", "nosuch"], "nosuch"),
    (["experiment", "fault", "--set", "noequals"], "expected KEY=VALUE"),
    (["experiment", "fault", "--set", "memory_mb=inf"], "memory_mb"),
    (["experiment", "fault", "--set", "memory_mb=100000000"], "must be at most"),
    (["experiment", "fault", "--set", "at_us=nan"], "finite"),
    (["experiment", "fault", "--set", "nosuch=1"], "unknown setting"),
    (["experiment", "infoflow", "--set", "cores=100000"], "must be at most 4,096"),
    (["experiment", "agents", "--hosting", "processes,xen"], "unknown hosting model 'xen'"),
    (["experiment", "agents", "--set", "hosting=lxc"], "unknown hosting model 'lxc'"),
    (["experiment", "fault", "--cost", "bogus=1"], "unknown --cost 'bogus'"),
    (["experiment", "fault", "--cost", "profile=nosuch"], "unknown cost profile 'nosuch'"),
    (["experiment", "fault", "--repeats", "0"], "must be at least 1"),
    (["experiment", "report", "--cost", "entry_exit=1"], "report runs the default"),
    (["experiment", "report", "--repeats", "2"], "report runs the default"),
    (["experiment", "fault", "--image", "/nonexistent.tar"],
     "--image /nonexistent.tar: no such file or directory"),
    (["experiment", "fault", "--image", "TEXT"], "--image TEXT: archive: not a tar archive"),
    (["experiment", "agents", "--image", "EMPTY"],
     "--image: the agents experiment builds its containers' whole root filesystem itself"),
    (["experiment", "report", "--image", "EMPTY"], "report runs the default"),
    (["experiment", "report", "--docs", "/proc/x.md", "--out", "EMPTY"], "--docs"),
    (["experiment", "report", "--docs", "EMPTY", "--out", "EMPTY"], "is a directory"),
    # sensitivity
    (["sensitivity", "nosuch"], "invalid choice: 'nosuch'"),
    (["sensitivity", "noisy-neighbor", "--vary", "bogus"], "unknown --cost 'bogus'"),
    (["sensitivity", "noisy-neighbor", "--vary", "wakeup=x2"], "expected NAME=LOW:HIGH"),
    (["sensitivity", "noisy-neighbor", "--vary", "wakeup=x-1:x2"], "level 'x-1'"),
    (["sensitivity", "noisy-neighbor", "--cost", "bogus=1"], "unknown --cost 'bogus'"),
    (["sensitivity", "tradeoff", "--cost", "profile=nosuch"], "unknown cost profile 'nosuch'"),
    (["sensitivity", "noisy-neighbor", "--set", "nosuch=1"], "unknown setting"),
    (["sensitivity", "noisy-neighbor", "--set", "storms=rain"], "unknown rain"),
    (["sensitivity", "noisy-neighbor", "--jobs", "0"], "must be at least 1"),
    (["sensitivity", "noisy-neighbor", "--containers", "1"], "--containers must be at least 2"),
    (["sensitivity", "noisy-neighbor", "--out", "TEXT"], "TEXT"),
    # sweep
    (["sweep", "/nonexistent.toml"], "nonexistent.toml"),
    (["sweep", "SPEC"], "must be at most 4,096, got 100,000"),
    (["sweep", "NANSPEC"], "finite"),
    (["sweep", "SPEC", "--jobs", "0"], "must be at least 1"),
    (["sweep", "SPEC", "--timeout", "nan"], "seconds"),
    # results show, plot
    (["results"], "which action"),
    (["results", "show", "/nonexistent"], "no such directory"),
    (["results", "show"], "required"),
    (["plot", "/nonexistent", "--kind", "throughput"], "no such directory"),
    (["plot", "EMPTY", "--kind", "bogus"], "invalid choice: 'bogus'"),
    (["plot", "EMPTY"], "not a result directory"),
    (["plot", "EMPTY", "--kind", "throughput"], "EMPTY"),
    (["plot", "--kind", "timeline", "/nonexistent.json"], "/nonexistent.json: no such file"),
    (["plot", "--kind", "timeline", "EMPTY"], "a directory, not a timeline"),
    (["plot", "--kind", "timeline", "BINARY"], "BINARY: not a timeline"),
    (["plot", "--kind", "timeline", "TEXT", "--x", "kernel"], "--x and --hue apply to"),
    (["plot", "--kind", "timeline", "TEXT", "-o", "t.gif"], "t.gif"),
    # listings and demo
    (["workloads", "extra"], "unrecognized arguments"),
    (["personalities", "--bogus"], "unrecognized arguments"),
    (["demo", "--libc", "bogus"], "invalid choice: 'bogus'"),
    (["validate", "--workers", "0,8"], "worker counts must be at least 1"),
    (["validate", "--kernels", "linux:9.9"], "unknown linux version '9.9'"),
    (["validate", "--workloads", "fxmark:NOPE"], "unknown validation workload 'fxmark:NOPE'"),
    (["validate", "--placements", "both"], "unknown placement 'both'"),
    (["validate", "--cost", "bogus=1"], "unknown --cost 'bogus'"),
    (["validate", "--cost", "profile=nosuch"], "unknown cost profile 'nosuch'"),
    (["validate", "--cores", "8", "--workers", "1,8"], "choose one"),
    (["fuzz", "--calls", "0"], "--calls"),
    (["fuzz", "--seed", "-1"], "must be at least 0"),
    (["fuzz", "--cores", "100000"], "must be at most 4,096"),
    (["fuzz", "--kernel", "bogus"], "unknown kernel 'bogus'"),
    (["fuzz", "--victim", ""], "--victim"),
    (["conformance", "--timeout", "0"], "--timeout"),
    (["conformance", "--python", "/nonexistent"], "not an executable file"),
    (["conformance", "no;such"], "is not a module name"),
    # lab
    (["lab"], "which action"),
    (["lab", "list", "extra"], "unrecognized arguments"),
    (["lab", "start", "9", "EMPTY"], "no lab 9: choose 1 to 5"),
    (["lab", "start", "1", "TEXT"], "not a directory"),
    (["lab", "start", "1", "EMPTY/../.."], "is not empty"),
    (["lab", "check", "x", "EMPTY"], "not a lab number: 'x'"),
    (["lab", "check", "1", "/nonexistent"], "/nonexistent: no such directory"),
]


PLACEHOLDER = re.compile(r"\b(BINARY|TEXT|SPEC|NANSPEC|EMPTY)\b")


def _fill(argv: list[str], files: dict[str, str]) -> list[str]:
    return [PLACEHOLDER.sub(lambda found: files[found.group(1)], arg) for arg in argv]


def _status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as leaving:
        return int(leaving.code or 0)


def _assert_one_error_line(status: int, err: str, message: str) -> None:
    assert "Traceback" not in err, err
    assert status == EXIT_USAGE, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), err
    assert message in lines[0], err


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS,
                         ids=[" ".join(a)[:60] for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_before_the_work(
        argv: list[str], message: str, files: dict[str, str], no_work: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = _fill(argv, files)
    message = _fill([message], files)[0]
    status = _status(argv)
    captured = capsys.readouterr()
    _assert_one_error_line(status, captured.err, message)
    assert "Traceback" not in captured.out


def test_every_command_is_in_the_table() -> None:
    from cofferos.cli import build_parser
    from cofferos.cli_examples import commands

    tried = {" ".join(a for a in argv if not a.startswith("-"))[:len(name)]
             for argv, _ in BAD_INPUTS for name, _ in commands(build_parser())}
    for name, _ in commands(build_parser()):
        if name:
            assert any(t == name for t in tried), f"no bad input for {name}"


# -- one value, one answer -------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["run", "--cores", "100000", *HELLO],
    ["compare", "@hello", "--cores", "100000"],
    ["experiment", "fault", "--cores", "100000"],
    ["experiment", "infoflow", "--set", "cores=100000"],
    ["sweep", "SPEC"],
])
def test_the_same_bad_value_gets_the_same_answer_everywhere(
        argv: list[str], files: dict[str, str], no_work: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert _status(_fill(argv, files)) == EXIT_USAGE
    assert "must be at most 4,096, got 100,000" in capsys.readouterr().err


def test_a_seed_a_sweep_refuses_run_refuses_too(files: dict[str, str], no_work: None,
                                                capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    spec = tmp_path / "seed.toml"
    spec.write_text('[base]\nworkload = "@hello"\nseed = -1\n')
    assert _status(["sweep", str(spec)]) == EXIT_USAGE
    sweep_says = capsys.readouterr().err
    assert _status(["run", "--seed", "-1", *HELLO]) == EXIT_USAGE
    run_says = capsys.readouterr().err
    assert "must be at least 0, got -1" in sweep_says and "must be at least 0, got -1" in run_says


# -- host memory ------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["run", "--kernel", "linux", "--containers", "10000", *HELLO],
    ["compare", "@hello", "--containers", "1,10000", "--kernels", "linux"],
    ["experiment", "fault", "--containers", "10000"],
])
def test_a_run_the_host_cannot_hold_is_refused_with_the_estimate(
        argv: list[str], no_work: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * 10**9)  # a 2 GB machine
    status = _status(argv)
    err = capsys.readouterr().err
    _assert_one_error_line(status, err, "10,000 containers need at least")
    assert "2.0 GB available" in err


def test_a_sweep_the_host_cannot_hold_is_refused(
        no_work: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "wide.toml"
    spec.write_text('[base]\nworkload = "@hello"\n[vary]\ncontainers = [1, 4096]\n')
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * 10**9)
    status = _status(["sweep", str(spec), "--jobs", "2", "--out", str(tmp_path / "out")])
    _assert_one_error_line(status, capsys.readouterr().err, "up to 4,096 containers need")


def test_the_estimate_grows_with_containers_and_the_program() -> None:
    one, many = memory.estimate_bytes(1), memory.estimate_bytes(100)
    assert many - one == 99 * (memory.COFFER_BYTES + memory.RUNNING_BYTES)
    assert memory.estimate_bytes(10, 10**6) == memory.estimate_bytes(10) + 10 * 2 * 10**6


def test_containers_waiting_for_a_core_are_estimated_without_an_engine() -> None:
    """A timed run starts each container when it first gets a core: only ``running`` of
    them hold an engine and a program at once, the others their kernel objects."""
    lazy = memory.estimate_bytes(10_000, 10**6, running=4)
    assert lazy == memory.estimate_bytes(4, 10**6) + 9_996 * memory.COFFER_BYTES
    assert lazy < memory.estimate_bytes(10_000, 10**6) / 2
    assert memory.estimate_bytes(2, running=8) == memory.estimate_bytes(2)


def test_a_timed_run_the_host_cannot_hold_is_refused_before_it_starts(
        no_work: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """100,000 containers grew to 22 GB before the OOM killer ended them: refused now."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 22 * 10**9)
    status = _status(["run", "--kernel", "linux", "--containers", "100000", *HELLO])
    _assert_one_error_line(status, capsys.readouterr().err, "100,000 containers need at least")
    assert memory.available_bytes() is None or memory.available_bytes() > 0


def test_a_run_that_fits_is_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**12)
    memory.check_fits(4096, __file__)  # a terabyte holds it: no error


# -- the real entry point -----------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--cores", "x", "--", "@hello"], "not a whole number"),
    (["run", "--cwd", "/nonexistent", "--", "@hello"], "working directory /nonexistent"),
    (["experiment", "fault", "--containers", "1000000"], "must be at most 100,000"),
    (["results", "show", "/nonexistent"], "no such directory"),
])
def test_the_installed_command_behaves_the_same(argv: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "cofferos", *argv], capture_output=True,
                          text=True, timeout=120, check=False)
    _assert_one_error_line(done.returncode, done.stderr, message)


def test_every_help_ends_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    from cofferos.cli import build_parser
    from cofferos.cli_examples import commands

    for name, parser in commands(build_parser()):
        text = parser.format_help()
        tail = text[text.rindex("examples:"):] if "examples:" in text else ""
        examples = [line for line in tail.splitlines()[1:] if line.strip()]
        assert len(examples) >= 2, f"{name or 'coffersim'}: {tail!r}"
        assert all(line.strip().startswith("coffersim") for line in examples), name


def test_a_reader_that_leaves_is_not_a_traceback() -> None:
    """``coffersim workloads | head -1``: the table's writer finds the pipe closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "cofferos", "workloads"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""
