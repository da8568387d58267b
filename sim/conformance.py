"""Conformance against a test suite nobody here wrote: CPython's own regression tests.

CPython's test package (Debian: ``libpython3.11-testsuite``) exercises the
operating system through ``os``, ``signal``, ``subprocess``, ``socket``, ``mmap``
and the rest, and it was written against Linux, not against this simulator. Each
chosen module runs twice with the same interpreter binary: natively, and in a
coffer whose root is the host's own tree (``--rootfs /``, read-only and
copy-on-write). A small runner (:data:`RUNNER`, run by the guest's python3) loads
the module with :mod:`unittest` and prints one marked line per test: its id and
outcome. The two runs are compared test by test; a test whose outcome differs is
a difference of the kernel model (or of the simulator's speed, for tests that
time themselves), to be fixed or explained in docs/kernel.md.

Resources are off as under regrtest's default (``test.support.use_resources`` is
an empty list), so tests that need the network or hours of CPU skip in both runs.
A module that outlives ``timeout_s`` of host time is stopped; the tests it
reported before that still count, and the module is marked as timed out.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: The OS-level modules issue #14 names (a subset is fine where one takes too long).
DEFAULT_MODULES = (
    "test_os", "test_posix", "test_signal", "test_subprocess", "test_socket", "test_select",
    "test_selectors", "test_mmap", "test_fcntl", "test_threading",
    "test_multiprocessing_fork", "test_shutil", "test_tempfile", "test_pty", "test_time",
)
DEFAULT_PYTHON = "/usr/bin/python3"
DEFAULT_TIMEOUT_S = 900.0
OUTCOMES = ("pass", "fail", "error", "skip", "xfail", "xpass")
MARK = "\x1econformance"
#: One marked line: the test's id, its outcome, and a short detail (repr of a string).
LINE = re.compile(rf"{MARK}\t([^\t\n]+)\t(\w+)\t([^\n]*)$", re.MULTILINE)
DETAIL_CHARS = 300

#: Run by the guest's python3 as ``python3 -c RUNNER MODULE``: each test's outcome on
#: the real stdout, marked, whatever the tests themselves print.
RUNNER = f"""
import sys, traceback, unittest
import test.support
test.support.use_resources = []  # regrtest's default: no network, no cpu/largefile
MARK = {MARK!r}
out = sys.__stdout__
def emit(test, outcome, detail=''):
    out.write('\\n%s\\t%s\\t%s\\t%r\\n' % (MARK, test.id(), outcome, detail[:{DETAIL_CHARS}]))
    out.flush()
def last(err):
    return traceback.format_exception_only(err[0], err[1])[-1].strip()
class Result(unittest.TestResult):
    def addSuccess(self, test): emit(test, 'pass')
    def addFailure(self, test, err): emit(test, 'fail', last(err))
    def addError(self, test, err): emit(test, 'error', last(err))
    def addSkip(self, test, reason): emit(test, 'skip', str(reason))
    def addExpectedFailure(self, test, err): emit(test, 'xfail')
    def addUnexpectedSuccess(self, test): emit(test, 'xpass')
    def addSubTest(self, test, subtest, err):
        if err is not None:
            emit(subtest, 'fail' if issubclass(err[0], test.failureException) else 'error',
                 last(err))
name = sys.argv[1] if '.' in sys.argv[1] else 'test.' + sys.argv[1]
try:
    suite = unittest.defaultTestLoader.loadTestsFromName(name)
except Exception as exc:
    out.write('\\n%s\\t%s\\t%s\\t%r\\n' % (MARK, name, 'error', 'import: %r' % exc))
    sys.exit(1)
suite.run(Result())
"""


@dataclass
class ModuleRun:
    """One module in one environment: each test's outcome, and how the run ended."""

    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (outcome, detail)
    timed_out: bool = False
    host_seconds: float = 0.0
    exit_status: int | None = None

    def counts(self) -> Counter[str]:
        return Counter(outcome for outcome, _ in self.outcomes.values())


@dataclass
class ModuleComparison:
    module: str
    native: ModuleRun
    coffer: ModuleRun

    def differences(self) -> list[tuple[str, str, str, str]]:
        """(test id, native outcome, coffer outcome, the coffer's detail) where they differ;
        a test one run never reported is 'missing' there."""
        found = []
        for test in sorted(set(self.native.outcomes) | set(self.coffer.outcomes)):
            native, _ = self.native.outcomes.get(test, ("missing", ""))
            coffer, detail = self.coffer.outcomes.get(test, ("missing", ""))
            if native != coffer:
                found.append((test, native, coffer, detail))
        return found


def parse(output: str) -> dict[str, tuple[str, str]]:
    """The runner's marked lines in ``output``: test id -> (outcome, detail)."""
    outcomes = {}
    for match in LINE.finditer(output):
        test, outcome, detail = match.groups()
        if outcome in OUTCOMES:
            outcomes[test] = (outcome, _unquote(detail))
    return outcomes


def _unquote(detail: str) -> str:
    quoted = detail.strip()
    if len(quoted) >= 2 and quoted[0] == quoted[-1] and quoted[0] in "'\"":
        quoted = quoted[1:-1]
    return quoted.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")


def default_signals() -> None:
    """Every signal at its default action and none blocked: how a coffer's first task
    starts. Run in the native run's child before exec, since exec keeps ignored
    signals ignored and the mask, and a shell starts its background jobs with SIGINT
    and SIGQUIT ignored (CPython's SIGINT tests then fail natively only)."""
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):  # libc's own real-time signals (SIGCANCEL, ...)
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def _run(command: list[str], env: dict[str, str], cwd: str, timeout_s: float,
         preexec: Callable[[], None] | None = None) -> ModuleRun:
    start = time.monotonic()
    with tempfile.TemporaryFile() as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                   start_new_session=True, preexec_fn=preexec)
        timed_out = False
        try:
            status = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, 9)
            status = process.wait()
        sink.seek(0)
        output = sink.read().decode("utf-8", "replace")
    return ModuleRun(parse(output), timed_out, time.monotonic() - start, status)


def guest_env() -> dict[str, str]:
    """The environment of the native run: what a coffer's first task gets."""
    from cofferos.coffers.coffer import DEFAULT_PATH
    from cofferos.coffers.config import CofferConfig

    return {"PATH": DEFAULT_PATH, "HOME": "/root", "HOSTNAME": CofferConfig().hostname}


def run_native(module: str, python: str, timeout_s: float) -> ModuleRun:
    with tempfile.TemporaryDirectory(prefix="conformance-") as cwd:
        env = {**guest_env(), "HOME": cwd}  # never the host's own home
        return _run([python, "-c", RUNNER, module], env, cwd, timeout_s,
                    preexec=default_signals)


def run_in_coffer(module: str, python: str, timeout_s: float,
                  extra: Iterable[str] = ()) -> ModuleRun:
    # The coffer's cwd is an empty directory, as the native run's is: python3 -c puts
    # its cwd first on sys.path, and a stray /tmp/nt.py once shadowed a module there.
    with tempfile.TemporaryDirectory(prefix="conformance-") as cwd:
        command = [sys.executable, "-m", "cofferos", "run", "--rootfs", "/", "--cwd", cwd,
                   *extra, "--", python, "-c", RUNNER, module]
        return _run(command, dict(os.environ), cwd, timeout_s)


def compare(modules: Iterable[str], python: str = DEFAULT_PYTHON,
            timeout_s: float = DEFAULT_TIMEOUT_S, extra: Iterable[str] = (),
            progress: Callable[[str], None] | None = None) -> list[ModuleComparison]:
    """Run each module natively and in a coffer; their test-by-test comparison."""
    results = []
    for module in modules:
        if progress is not None:
            progress(f"{module}: native")
        native = run_native(module, python, timeout_s)
        if progress is not None:
            progress(f"{module}: in a coffer")
        coffer = run_in_coffer(module, python, timeout_s, tuple(extra))
        results.append(ModuleComparison(module, native, coffer))
    return results
