"""Many containers in one timed simulation (issue #17: 10,000 coffers of @hello).

Runs ``coffersim run --kernel linux --containers N -- @hello`` as a child process
and reads its CPU time and peak resident memory from the kernel
(``getrusage(RUSAGE_CHILDREN)``, what ``/usr/bin/time -v`` prints), beside the
same command with one container in the same session: the difference over
``N - 1`` is the host memory and time each further container costs. Targets: N =
10,000 in <= 3 minutes and <= 16 GiB, an idle container <= 1 MB.
``COFFERSIM_BENCH_CONTAINERS`` sets N (10,000 by default).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import pytest

from benchmarks.conftest import report

CONTAINERS = int(os.environ.get("COFFERSIM_BENCH_CONTAINERS", "10000"))
TARGET_SECONDS = 180
TARGET_BYTES = 16 << 30
KIB, MIB = 1024, 1 << 20
COFFERSIM = [sys.executable, "-m", "cofferos"]


def _child(containers: int) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS bytes) of one ``coffersim run`` of @hello containers."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([*COFFERSIM, "run", "--kernel", "linux", "--containers",
                           str(containers), "--", "@hello"],
                          capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout == b"hello from a coffer\nargc=1\n"
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss * KIB  # the largest child so far: run the small one first


@pytest.mark.parametrize("containers", [CONTAINERS])
def test_many_coffers_of_hello(benchmark: pytest.FixtureRequest, containers: int) -> None:
    one_wall, one_cpu, one_rss = _child(1)
    wall, cpu, rss = _child(containers)
    per_rss = (rss - one_rss) / max(containers - 1, 1)
    per_cpu = (cpu - one_cpu) / max(containers - 1, 1)
    benchmark.extra_info.update(containers=containers, wall_s=wall, cpu_s=cpu, peak_bytes=rss,
                                bytes_per_container=per_rss, cpu_s_per_container=per_cpu,
                                one_container_cpu_s=one_cpu, one_container_peak_bytes=one_rss)
    report(f"{containers:,} coffers of @hello (linux, 4 cores): {cpu:.0f} CPU-s "
           f"({wall:.0f} s wall; target <= {TARGET_SECONDS} s), peak {rss / MIB:,.0f} MiB "
           f"(target <= {TARGET_BYTES / MIB:,.0f} MiB); over 1 container ({one_cpu:.2f} CPU-s, "
           f"{one_rss / MIB:.0f} MiB): {per_cpu * 1e3:.1f} ms and {per_rss / MIB:.2f} MiB each")
    benchmark.pedantic(lambda: None, rounds=1)
