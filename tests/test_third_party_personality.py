"""A third-party personality, installed the way a user would: docs/examples/cofferos-counter.

The example package is pip-installed into this venv once for the module (its
entry point in ``cofferos.personalities`` is all cofferos needs to find it) and
uninstalled at the end, so no other test sees it. Then a C guest asks its own
kernel, through the personality's new call ``syscall(1000)``, how many calls were
counted, from the command line, from Python, stacked with ``fastpath`` in both
orders, and after a live change of the stack.
"""

from __future__ import annotations

import importlib
import io
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from cofferos import cli
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.errors import ConfigError
from cofferos.personalities.stack import available, parse_spec
from tests.support import compile_guest, run_in_coffer

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "cofferos-counter"
DISTRIBUTION = "cofferos-counter"
AUDIT = 1000  #: audit_cost used below: cycles added per counted call
CALLS = 12  #: getppid calls the guest makes before it asks

ASKS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
/* Make argv[1] getppid calls, then ask the kernel how many calls it counted. */
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 0;
    for (int i = 0; i < n; i++)
        syscall(SYS_getppid);
    printf("counted %ld\n", syscall(1000));
    return 0;
}
"""


def _installed() -> bool:
    try:
        distribution(DISTRIBUTION)
    except PackageNotFoundError:
        return False
    return True


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                          check=False)


@pytest.fixture(scope="module", autouse=True)
def counter_installed() -> Iterator[None]:
    """pip install the example (offline first; with build isolation if this venv's
    setuptools cannot build a wheel by itself), and uninstall it afterwards."""
    already = _installed()
    if not already:
        done = _pip("install", "--no-build-isolation", "--no-deps", "-q", str(EXAMPLE))
        if done.returncode != 0:  # e.g. setuptools < 70 without the wheel package
            done = _pip("install", "--no-deps", "-q", str(EXAMPLE))
        if done.returncode != 0:
            pytest.skip(f"cannot pip install the example (offline?):\n{done.stderr[-2000:]}")
        importlib.invalidate_caches()
    yield
    if not already:
        _pip("uninstall", "-y", "-q", DISTRIBUTION)
        sys.modules.pop("cofferos_counter", None)
        importlib.invalidate_caches()


@pytest.fixture(scope="module")
def asks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    folder = tmp_path_factory.mktemp("counter")
    source = folder / "asks.c"
    source.write_text(ASKS)
    return compile_guest(source, folder)


def _count(stdout: bytes) -> int:
    line = stdout.decode().strip()
    assert line.startswith("counted "), line
    return int(line.split()[1])


def _kernel_cycles(program: Path, *personalities: str) -> tuple[int, int]:
    """(count the guest printed, kernel cycles) of one run under ``personalities``."""
    outcome = run_in_coffer(program, [str(CALLS)], personalities=personalities)
    assert outcome.status == 0, outcome.stderr
    assert outcome.result is not None
    return _count(outcome.stdout), outcome.result.kernel_cycles


def test_found_through_its_entry_point() -> None:
    found = available()
    assert found["counter"].__module__ == "cofferos_counter"
    counter = parse_spec("counter:only=getppid,audit_cost=5", found)
    assert counter.config == {"only": "getppid", "audit_cost": 5}
    both = parse_spec("counter:only=getppid+getpid", found)
    assert isinstance(both, found["counter"])
    assert both.only == {"getppid", "getpid"}  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="unknown system calls"):
        parse_spec("counter:only=getppid+no_such_call", found)


def test_listed_by_the_cli(capfd: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["personalities"])
    out = capfd.readouterr().out
    assert status == 0
    line = next(line for line in out.splitlines() if line.startswith("counter "))
    assert "syscall(1000)" in line and "only=" in line and "audit_cost=0" in line


def test_run_from_the_cli(asks: Path, capfd: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["run", "--personality", "counter:only=getppid", "--", str(asks),
                       str(CALLS)])
    assert status == 0
    assert _count(capfd.readouterr().out.encode()) == CALLS


def test_bad_option_is_a_usage_error(asks: Path, capfd: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["run", "--personality", "counter:audit=1", "--", str(asks)])
    assert status == 2
    assert "unknown option 'audit'" in capfd.readouterr().err


def test_run_from_python(asks: Path) -> None:
    only, _ = _kernel_cycles(asks, "counter:only=getppid")
    every, _ = _kernel_cycles(asks, "counter")
    assert only == CALLS
    assert every > CALLS  # the C library's start-up calls too (never the query itself)
    plain = run_in_coffer(asks, [str(CALLS)])
    assert _count(plain.stdout) == -1  # without the personality, call 1000 is ENOSYS


def test_audit_cost_adds_kernel_cycles(asks: Path) -> None:
    _, free = _kernel_cycles(asks, "counter:only=getppid")
    _, audited = _kernel_cycles(asks, f"counter:only=getppid,audit_cost={AUDIT}")
    assert audited - free == CALLS * AUDIT


def test_stacking_order_composes_costs(asks: Path) -> None:
    """cost runs p1..pn: fastpath after counter overwrites the audit cost of getppid;
    counter after fastpath adds it to the fast call's cycles."""
    audited = f"counter:only=getppid,audit_cost={AUDIT}"
    free = "counter:only=getppid"
    count_first, counter_then_fast = _kernel_cycles(asks, audited, "fastpath")
    count_second, fast_then_counter = _kernel_cycles(asks, "fastpath", audited)
    _, fast_free = _kernel_cycles(asks, free, "fastpath")
    _, slow_free = _kernel_cycles(asks, free)
    assert count_first == count_second == CALLS
    assert counter_then_fast == fast_free  # the audit cost was overwritten
    assert fast_then_counter - counter_then_fast == CALLS * AUDIT
    assert fast_free < slow_free  # and fastpath still saves on getppid


def test_live_change_after_the_tenth_getppid(asks: Path) -> None:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    coffer.dispatcher.change_personalities([parse_spec("counter:only=getppid")],
                                           after=("getppid", 10))
    coffer.spawn(str(asks), ["asks", str(CALLS)], None)
    result = coffer.run()
    assert result.exit_code == 0, result.oopses
    assert _count(out.getvalue()) == CALLS - 10  # the stack changed after the tenth call
    assert result.syscalls["getppid"] == CALLS  # the kernel kept its state and counts
