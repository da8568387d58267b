"""Real programs beside qemu-user: host CPU time of the guest's own code (issue #17).

The three real programs of ``benchmarks/uarch/`` (Lua 5.4, SQLite and zlib, linked
statically against Debian's libraries; Debian ships no static libjq, so jq has no
equivalent here), each run by ``coffersim run`` (exact counting on, the default) and
by ``qemu-x86_64`` on the same binary, at two sizes. A figure is the difference
between the large and the small run's CPU time (user + system, of the child), so
both start-ups cancel out and the ratio is that of running guest code; the whole
large run's ratio is printed beside it. Medians of several rounds, the two run
alternately so the load of the shared machine hits both alike (target: <= 6x).
"""

from __future__ import annotations

import shutil
import statistics
import sys
from pathlib import Path

import pytest

from benchmarks.conftest import report
from benchmarks.test_bench_startup import _child_cpu_seconds
from benchmarks.uarch_validate import PROGRAMS, binary

QEMU = shutil.which("qemu-x86_64")
ROUNDS = 3
TARGET_RATIO = 6
#: (small, large) iterations: the large run takes seconds under coffersim, so the CPU
#: time's resolution and qemu-user's start-up are small beside the difference.
SIZES = {"lua": (20_000, 400_000), "sqlite": (2_000, 40_000), "zlib": (20, 400)}

pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 not installed "
                                "(apt-get install qemu-user)")


@pytest.mark.parametrize("name", sorted(SIZES))
def test_real_program_beside_qemu(name: str, tmp_path: Path) -> None:
    program = next(p for p in PROGRAMS if p.name == name)
    try:
        path = str(binary(program, tmp_path))
    except Exception as err:  # noqa: BLE001 - a missing static library skips the row
        pytest.skip(f"cannot build {name}: {err}")
    small, large = SIZES[name]
    ours = [sys.executable, "-m", "cofferos.cli", "run", "--", path]
    _child_cpu_seconds([*ours, str(small)])  # warm: .pyc files, block costs, hooks
    diffs, whole = [], []
    for _ in range(ROUNDS):
        sim = [_child_cpu_seconds([*ours, str(n)]) for n in (small, large)]
        emu = [_child_cpu_seconds([str(QEMU), path, str(n)]) for n in (small, large)]
        diffs.append((sim[1] - sim[0]) / max(emu[1] - emu[0], 1e-3))
        whole.append(sim[1] / max(emu[1], 1e-3))
    report(f"{name} {small:,} -> {large:,} iterations: coffersim / qemu-user CPU time "
           f"{statistics.median(diffs):.1f}x of the guest's code (the difference), "
           f"{statistics.median(whole):.1f}x of the whole large run "
           f"(target <= {TARGET_RATIO}x)")
