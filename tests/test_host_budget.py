"""--max-host-seconds: a coffer that stalls the run on the host is ended, in one line.

A guest can cost the host far more than its instruction count says: each system
call is served in Python, and some (mmap with thousands of mappings, clone with
thousands of threads) cost milliseconds each. The budget counts host CPU time in
guest code and in the kernel model, checked when a slice ends and after each
system call, and ends the coffer with SIGXCPU and a report on stderr.
"""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from tests.elf_variants import build_static
from tests.support import needs_gcc

pytestmark = needs_gcc
BUDGET_S = 0.3
CLI_TIMEOUT_S = 120
#: Instructions per slice so large that no slice ends by count: only the per-call check stops it.
ENDLESS_SLICE = 1 << 50

SPIN = r"""
void _start(void) { for (;;) {} }
"""

# Five million getppid calls: seconds of host time in the kernel model, few instructions.
CALLS = r"""
static long sys1(long n, long a) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a) : "rcx", "r11", "memory");
  return r;
}
void _start(void) {
  for (long i = 0; i < 5000000; i++) sys1(110, 0);  /* getppid */
  sys1(60, 0);  /* exit(0) */
}
"""


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("budget")
    return {name: build_static(source, root / name, "-nostdlib")
            for name, source in (("spin", SPIN), ("calls", CALLS))}


def _run(path: Path, **config: object) -> Coffer:
    coffer = Coffer(CofferConfig(**config), stdout=io.BytesIO(), stderr=io.BytesIO())  # type: ignore[arg-type]
    coffer.spawn(str(path), [path.name])
    coffer.run()
    return coffer


def test_guest_code_that_never_ends_is_stopped_at_a_slice_boundary(
        guests: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    coffer = _run(guests["spin"], max_host_seconds=BUDGET_S)
    status = coffer.result().exit_status
    assert status.signal == signal.SIGXCPU and status.end_reason == "host-time-limit"
    assert coffer.host_budget is not None and coffer.host_budget.used >= BUDGET_S
    assert status.detail.startswith("coffer0 used ") and status.detail.endswith("limit 0.3")
    assert capsys.readouterr().err == ""  # the kernel model prints nothing; the CLI does


def test_kernel_work_is_counted_and_checked_after_each_call(guests: dict[str, Path]) -> None:
    """One endless slice of system calls: only the check after each call can end it."""
    coffer = _run(guests["calls"], max_host_seconds=BUDGET_S,
                  slice_instructions=ENDLESS_SLICE)
    result = coffer.result()
    assert result.exit_status.signal == signal.SIGXCPU
    assert 0 < result.syscalls.get("getppid", 0) < 5_000_000


def test_without_a_budget_nothing_is_timed(guests: dict[str, Path]) -> None:
    coffer = Coffer(CofferConfig(), stdout=io.BytesIO())
    assert coffer.host_budget is None and coffer.dispatcher.host_deadline is None


def test_coffersim_run_reports_the_budget_in_one_line(guests: dict[str, Path]) -> None:
    proc = subprocess.run([sys.executable, "-m", "cofferos", "run", "--max-host-seconds",
                           str(BUDGET_S), "--", str(guests["spin"])],
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False)
    assert proc.returncode == 128 + signal.SIGXCPU
    assert proc.stderr.startswith("coffersim: the run ended by host-time-limit: ")
    assert "coffer0 used " in proc.stderr and f"limit {BUDGET_S:g}" in proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize("bad", ["0", "-1", "soon", "inf"])
def test_a_bad_budget_is_a_usage_error(bad: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "cofferos", "run", "--max-host-seconds", bad,
                           "--", "/bin/true"], capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
