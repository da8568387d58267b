"""Real programs beside qemu-user: host CPU time of the guest's own code (issue #17).

The three real programs of ``benchmarks/uarch/`` (Lua 5.4, SQLite and zlib, linked
statically against Debian's libraries) and jq 1.8.2 (Debian ships no static
libjq: :mod:`benchmarks.jq_guest` builds it from the source bundled in an sdist of
the package index, once, and the row is skipped with the reason when it cannot),
each run by ``coffersim run`` (exact counting on, the default) and by
``qemu-x86_64`` on the same binary, at two sizes. A figure is the difference
between the large and the small run's CPU time (user + system, of the child), so
both start-ups cancel out and the ratio is that of running guest code; the whole
large run's ratio is printed beside it. Medians of several rounds, the two run
alternately so the load of the shared machine hits both alike (target: <= 6x).
The warm-up run's output must be the native run's, byte for byte.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks import jq_guest
from benchmarks.conftest import report
from benchmarks.test_bench_startup import _child_cpu_seconds
from benchmarks.uarch_validate import PROGRAMS, binary

QEMU = shutil.which("qemu-x86_64")
ROUNDS = 3
TARGET_RATIO = 6
#: (small, large) iterations (jq: records of its JSON document): the large run takes
#: seconds under coffersim, so the CPU time's resolution and qemu-user's start-up are
#: small beside the difference.
SIZES = {"lua": (20_000, 400_000), "sqlite": (2_000, 40_000), "zlib": (20, 400),
         "jq": jq_guest.RECORDS}
UNITS = {"jq": "records"}
NATIVE_TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 not installed "
                                "(apt-get install qemu-user)")


@dataclass(frozen=True)
class Guest:
    """One real program: how to run it at a size."""

    path: str
    arguments: Callable[[int], list[str]]  #: after the path
    stdin: Callable[[int], Path | None]  #: a file read on standard input, or none

    def command(self, size: int) -> list[str]:
        return [self.path, *self.arguments(size)]


def guest(name: str, work: Path) -> Guest:
    """Build (or find cached) the program ``name`` of :data:`SIZES`; its inputs go to
    ``work``. Raises when it cannot be built (jq: :class:`jq_guest.JqUnavailable`)."""
    if name == "jq":
        def document(records: int) -> Path:
            path = work / f"jq-{records}.json"
            if not path.exists():
                path.write_bytes(jq_guest.document(records))
            return path
        return Guest(str(jq_guest.build_jq()), lambda _size: jq_guest.arguments(), document)
    program = next(p for p in PROGRAMS if p.name == name)
    return Guest(str(binary(program, work)), lambda size: [str(size)], lambda _size: None)


def stdout_of(command: list[str], stdin: Path | None) -> bytes:
    """What ``command`` prints, run to a successful end with ``stdin`` as input."""
    with open(stdin or os.devnull, "rb") as source:
        return subprocess.run(command, stdin=source, capture_output=True, check=True,
                              timeout=NATIVE_TIMEOUT_S).stdout


@pytest.mark.parametrize("name", sorted(SIZES))
def test_real_program_beside_qemu(name: str, tmp_path: Path) -> None:
    try:
        program = guest(name, tmp_path)
    except Exception as err:  # noqa: BLE001 - a missing library or sdist skips the row
        pytest.skip(f"cannot build {name}: {err}")
    small, large = SIZES[name]
    ours = [sys.executable, "-m", "cofferos.cli", "run", "--"]
    # Warm (.pyc files, block costs, hooks), and the same output as the native run.
    native = stdout_of(program.command(small), program.stdin(small))
    assert stdout_of([*ours, *program.command(small)], program.stdin(small)) == native
    diffs, whole = [], []
    for _ in range(ROUNDS):
        sim = [_child_cpu_seconds([*ours, *program.command(n)], program.stdin(n))
               for n in (small, large)]
        emu = [_child_cpu_seconds([str(QEMU), *program.command(n)], program.stdin(n))
               for n in (small, large)]
        diffs.append((sim[1] - sim[0]) / max(emu[1] - emu[0], 1e-3))
        whole.append(sim[1] / max(emu[1], 1e-3))
    report(f"{name} {small:,} -> {large:,} {UNITS.get(name, 'iterations')}: coffersim / "
           f"qemu-user CPU time {statistics.median(diffs):.1f}x of the guest's code (the "
           f"difference), {statistics.median(whole):.1f}x of the whole large run "
           f"(target <= {TARGET_RATIO}x)")
