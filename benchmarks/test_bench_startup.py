"""Start-up and per-call system call cost beside qemu-user (issue #17).

Figures, each from the same run, as medians of several rounds (the machines are
shared: CPU time, not wall time, and never asserted on):

* start-up: host CPU seconds (user + system, of the child) for ``coffersim run``
  of ``@hello`` and of a static ``true``, and for ``qemu-x86_64`` on the same
  binaries (target: coffersim <= 0.25 s);
* host microseconds per ``getppid`` (target <= 1.5 us) and per small ``read`` or
  ``write`` on a pipe and on a tmpfs file (target <= 2.5 us), accounting on: the
  difference between a large and a small run, divided by the calls it adds; and
  the same difference for ``qemu-x86_64`` running the same binary, in the same
  rounds (its CPU time as a child process, so its start-up cancels out too).

Run the same file on two checkouts alternately to compare them (see
docs/accounting.md); start-up depends on cached ``.pyc`` files, so a first run
after an edit is slower.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.conftest import report, timed_run
from cofferos.workloads import build

GUESTS = Path(__file__).parent / "guests"
QEMU = shutil.which("qemu-x86_64")
STARTUP_ROUNDS = 5
CALL_ROUNDS = 5
NULLSYS_SMALL, NULLSYS_LARGE = 2_000, 102_000
RW_SMALL, RW_LARGE = 1_000, 26_000  #: write+read pairs: each pair is two calls
STATIC_TRUE = "int main(void) { return 0; }\n"
STARTUP_TARGET_S = 0.25
#: qemu-user's per-call figure is a difference of two CPU times read at 1-4 ms
#: resolution: below this it is noise, and a ratio against it would be meaningless.
QEMU_FLOOR_US = 0.05


def _child_cpu_seconds(command: list[str], stdin: Path | None = None) -> float:
    """User + system CPU seconds of one child process run to completion (reading the
    file ``stdin`` on its standard input, or nothing)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(stdin or os.devnull, "rb") as source:
        subprocess.run(command, stdin=source, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _compile(source: str, out: Path) -> Path:
    src = out.with_suffix(".c")
    src.write_text(source)
    result = subprocess.run(["gcc", "-static", "-O2", "-o", str(out), str(src)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot build a static guest: {result.stderr.strip()[:200]}")
    return out


def _static_true(tmp_path: Path) -> Path:
    return _compile(STATIC_TRUE, tmp_path / "true")


def _rwloop(tmp_path: Path) -> Path:
    return _compile((GUESTS / "rwloop.c").read_text(), tmp_path / "rwloop")


@pytest.mark.parametrize("guest", ["@hello", "static-true"])
def test_startup_beside_qemu(guest: str, tmp_path: Path) -> None:
    program = str(build("hello")) if guest == "@hello" else str(_static_true(tmp_path))
    ours_command = [sys.executable, "-m", "cofferos.cli", "run", "--", program]
    _child_cpu_seconds(ours_command)  # warm: .pyc files, block hook, workload build
    ours, qemu = [], []
    for _ in range(STARTUP_ROUNDS):  # interleaved, so noise hits both alike
        ours.append(_child_cpu_seconds(ours_command))
        if QEMU:
            qemu.append(_child_cpu_seconds([QEMU, program]))
    mine = statistics.median(ours)
    line = f"start-up {guest}: coffersim {mine:.3f} CPU-s median of {STARTUP_ROUNDS} " \
           f"(target <= {STARTUP_TARGET_S} s)"
    if qemu:
        theirs = statistics.median(qemu)
        line += f"; qemu-user {theirs:.3f} s -> {mine / max(theirs, 1e-3):.0f}x " \
                "(qemu below 1 ms counted as 1 ms)"
    else:
        line += "; qemu-x86_64 not installed (apt-get install qemu-user)"
    report(line)


def _per_call_us(program: str, args_small: list[str], args_large: list[str],
                 calls_added: int) -> tuple[float, float, float | None]:
    """(best, median) microseconds per added call in a coffer, and qemu-user's median
    from the same rounds (None without qemu-x86_64)."""
    timed_run(program, args_small)  # warm: block costs of the guest
    per_call, qemu = [], []
    for _ in range(CALL_ROUNDS):  # interleaved, so noise hits both alike
        small, _ = timed_run(program, args_small)
        large, _ = timed_run(program, args_large)
        per_call.append((large - small) / calls_added * 1e6)
        if QEMU:
            small_q = _child_cpu_seconds([QEMU, program, *args_small])
            large_q = _child_cpu_seconds([QEMU, program, *args_large])
            qemu.append((large_q - small_q) / calls_added * 1e6)
    return min(per_call), statistics.median(per_call), \
        statistics.median(qemu) if qemu else None


def _beside_qemu(median: float, qemu: float | None) -> str:
    if qemu is None:
        return "; qemu-x86_64 not installed (apt-get install qemu-user)"
    return f"; qemu-user {qemu:.2f} us -> {median / max(qemu, QEMU_FLOOR_US):.1f}x " \
        f"(qemu below {QEMU_FLOOR_US} us counted as {QEMU_FLOOR_US})"


def test_getppid_per_call() -> None:
    best, median, qemu = _per_call_us(str(build("nullsys")), [str(NULLSYS_SMALL)],
                                      [str(NULLSYS_LARGE)], NULLSYS_LARGE - NULLSYS_SMALL)
    report(f"getppid: {median:.2f} us per call median, {best:.2f} best, accounting on "
           f"(target <= 1.5 us){_beside_qemu(median, qemu)}")


@pytest.mark.parametrize("mode", ["pipe", "file"])
def test_small_read_write_per_call(mode: str, tmp_path: Path) -> None:
    program = str(_rwloop(tmp_path))
    best, median, qemu = _per_call_us(program, [mode, str(RW_SMALL)], [mode, str(RW_LARGE)],
                                      2 * (RW_LARGE - RW_SMALL))
    where = "a pipe" if mode == "pipe" else "a tmpfs file"
    report(f"16-byte read/write on {where}: {median:.2f} us per call median, {best:.2f} "
           f"best, accounting on (target <= 2.5 us){_beside_qemu(median, qemu)}")
