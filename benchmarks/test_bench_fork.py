"""Host cost of fork with 100 MiB of resident private memory (issue #14's target: <= 5 ms).

Two figures. The kernel's own fork of the address space
(:meth:`~cofferos.coffers.mm.AddressSpace.copy_into`), timed directly on an
address space whose 100 MiB were all written: the first fork after the writes
(every page is switched to copy-on-write) and a second one (only the pages
written since are copied). And a guest that writes 100 MiB and then forks N
children that exit at once, each waited for: the per-child figure (fork, the
child's exit, wait) is the difference between N=LARGE and N=SMALL runs divided by
the difference in N, so start-up and the 100 MiB memset are excluded.
"""

from __future__ import annotations

import io
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks.conftest import report, timed_run
from cofferos.coffers.coffer import Coffer, CofferConfig

RESIDENT = 100 << 20
RW = 3  # PROT_READ | PROT_WRITE
FORKER = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    size_t size = 100u << 20;
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 1, size);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(p[i * 4096] == 1 ? 0 : 1);
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    }
    return 0;
}
"""
SMALL, LARGE, ROUNDS = 2, 12, 3


def _copy_into_ms() -> tuple[float, float]:
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO())
    _cpu, parent = coffer.new_cpu()
    start = parent.map_anywhere(RESIDENT, RW)
    parent.pages.poke(start, bytes(range(256)) * (RESIDENT // 256))
    figures = []
    for _ in range(2):
        _child_cpu, child = coffer.new_cpu()
        began = time.process_time()  # CPU time of this process: less noisy when shared
        parent.copy_into(child)
        figures.append((time.process_time() - began) * 1e3)
        parent.pages.poke(start, b"a store after the fork")
    return figures[0], figures[1]


def test_fork_of_100_mib_host_cost(benchmark: pytest.FixtureRequest) -> None:
    _copy_into_ms()  # warm: a first fork in a process imports numpy (about 90 ms)
    first, second = _copy_into_ms()
    benchmark.extra_info.update(first_fork_ms=first, next_fork_ms=second)
    report(f"fork of 100 MiB resident (AddressSpace.copy_into): first {first:.1f} ms, "
           f"next {second:.1f} ms of host time (target <= 5 ms)")
    benchmark.pedantic(_copy_into_ms, rounds=1)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_fork_exit_wait_with_100_mib_host_cost(benchmark: pytest.FixtureRequest,
                                                tmp_path: Path) -> None:
    source, program = tmp_path / "forker.c", tmp_path / "forker"
    source.write_text(FORKER)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(program), str(source)], check=True)
    per_child = []
    for _ in range(ROUNDS):
        small, result = timed_run(str(program), [str(SMALL)])
        large, result = timed_run(str(program), [str(LARGE)])
        assert result.exit_code == 0
        per_child.append((large - small) / (LARGE - SMALL))
    best, median = min(per_child) * 1e3, statistics.median(per_child) * 1e3
    benchmark.extra_info.update(ms_per_fork_exit_wait_best=best, median=median)
    report(f"fork+exit+wait with 100 MiB resident: {best:.1f} ms best, {median:.1f} ms median "
           f"of host CPU time")
    benchmark.pedantic(timed_run, args=(str(program), [str(SMALL)]), rounds=1)
