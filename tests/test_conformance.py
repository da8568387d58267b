"""The conformance harness (``coffersim conformance``, :mod:`cofferos.sim.conformance`).

Its runner must report every outcome unittest can give, through whatever the tests
print; the comparison must name each test whose outcome differs; bad input is one
line. Running CPython's own modules in a coffer is the acceptance run of issue #14
(docs/kernel.md), too slow for the suite; here a small module of our own stands in.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cofferos.cli import main
from cofferos.sim import conformance
from cofferos.sim.conformance import ModuleComparison, ModuleRun, parse

PYTHON = shutil.which("python3") or sys.executable
SAMPLE = '''
import os, sys, unittest

class Sample(unittest.TestCase):
    def test_pass(self):
        print("noise without a newline", end="")
        self.assertGreater(os.getpid(), 0)
    def test_fail(self):
        self.assertEqual(1, 2)
    def test_error(self):
        raise OSError(22, "Invalid argument")
    @unittest.skip("not here")
    def test_skip(self):
        pass
    @unittest.expectedFailure
    def test_xfail(self):
        self.fail("expected")
    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertNotEqual(i, 1)
'''


def _runner(tmp_path: Path) -> str:
    (tmp_path / "conf_sample.py").write_text(SAMPLE)
    done = subprocess.run([PYTHON, "-c", conformance.RUNNER, "conf_sample.Sample"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    return done.stdout


def test_the_runner_reports_every_outcome_through_the_tests_own_output(
        tmp_path: Path) -> None:
    outcomes = parse(_runner(tmp_path))
    short = {test.rsplit(".", 1)[-1]: outcome for test, (outcome, _) in outcomes.items()}
    assert short["test_pass"] == "pass"
    assert short["test_fail"] == "fail"
    assert short["test_error"] == "error"
    assert short["test_skip"] == "skip"
    assert short["test_xfail"] == "xfail"
    assert outcomes["conf_sample.Sample.test_error"][1] == "OSError: [Errno 22] Invalid argument"
    assert [o for t, (o, _) in outcomes.items() if "(i=1)" in t] == ["fail"]


def test_parse_ignores_everything_but_marked_lines() -> None:
    text = (f"garbage{conformance.MARK}\tx.T.test_a\tpass\t''\nmore\n"
            f"{conformance.MARK}\tx.T.test_b\tskip\t'no \\'fork\\''\n"
            f"{conformance.MARK}\tx.T.test_c\tbogus\t''\n")
    assert parse(text) == {"x.T.test_a": ("pass", ""), "x.T.test_b": ("skip", "no 'fork'")}


def test_the_comparison_names_each_test_that_differs() -> None:
    native = ModuleRun({"a": ("pass", ""), "b": ("skip", "why"), "c": ("pass", "")})
    coffer = ModuleRun({"a": ("pass", ""), "b": ("error", "OSError"), "d": ("pass", "")})
    assert ModuleComparison("m", native, coffer).differences() == [
        ("b", "skip", "error", "OSError"), ("c", "pass", "missing", ""),
        ("d", "missing", "pass", "")]


@pytest.mark.parametrize(("argv", "message"), [
    (["--python", "/nonexistent/python3"], "--python /nonexistent/python3: not an executable"),
    (["--python", "/bin/sh"], "/bin/sh has no test suite: apt-get install"),
    (["--python", PYTHON, "test_os;rm"], "'test_os;rm' is not a module name"),
    # a module the suite lacks (or Debian's python3 without libpython3.11-testsuite, which
    # has test.support and no test modules) is refused, not reported as a matching error
    (["--python", PYTHON, "test_no_such_module"], "test suite has no test_no_such_module"),
])
def test_bad_input_is_one_line(argv: list[str], message: str,
                               capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", *argv]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_the_native_run_starts_with_default_signals_as_a_coffer_does() -> None:
    """A shell starts background jobs with SIGINT ignored, and exec keeps it ignored:
    the native run must not inherit that (a coffer's first task never does), or
    CPython's SIGINT tests fail natively only."""
    probe = subprocess.run([PYTHON, "-c", "import test.test_signal"], capture_output=True,
                           timeout=120, check=False)
    if probe.returncode != 0:
        pytest.skip("no CPython test suite")
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        run = conformance.run_native("test.test_signal.RaiseSignalTest.test_sigint", PYTHON,
                                     120)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(signal.SIGINT, old)
    assert run.outcomes == {"test.test_signal.RaiseSignalTest.test_sigint": ("pass", "")}


def test_the_coffer_starts_in_an_empty_directory_as_the_native_run_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """python3 -c puts its cwd first on sys.path: a coffer started in the host's /tmp
    (the rootfs is the host's tree) imported a stray /tmp/nt.py in test_multiprocessing's
    TestFlags, where the native run, in an empty directory, did not."""
    seen: list[tuple[list[str], str]] = []

    def fake_run(command: list[str], env: dict[str, str], cwd: str, timeout_s: float,
                 preexec: object = None) -> ModuleRun:
        seen.append((command, cwd))
        assert Path(cwd).is_dir() and not any(Path(cwd).iterdir())
        return ModuleRun({}, False, 0.0, 0)

    monkeypatch.setattr(conformance, "_run", fake_run)
    conformance.run_in_coffer("test_fcntl", PYTHON, 10.0)
    ((command, cwd),) = seen
    assert command[command.index("--cwd") + 1] == cwd
