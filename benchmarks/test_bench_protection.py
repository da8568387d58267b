"""Host cost of page protection: mprotect, many threads, many mappings (issues #13, #14).

Figures:
* host microseconds for an mprotect of 4 KiB inside a 64 MiB mapping, at the
  engine (``Cpu.protect``) and as a guest's system call, kernel included (issue #14
  target: <= 50 us);
* host seconds for a guest that keeps N threads alive at once (each stack has a
  PROT_NONE guard page) and then joins them, at N = 2,000 and 10,000;
* host microseconds for the engine's part of one mmap + munmap when 10 and when
  5,000 mappings of alternating protection already exist (target: no growth).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from benchmarks.conftest import report, timed_run
from cofferos.isa.blockmap import PAGE_SIZE
from cofferos.isa.costs import BlockCoster
from cofferos.isa.cpu import Cpu
from tests.elf_variants import build_static

MAPPING = 64 << 20  #: the 64 MiB mapping of issue #14
BASE = 0x10000000
REPEATS = 2_000
PROT_RW, PROT_RO = 3, 1
FEW, MANY = 10, 5_000
THREADS = (2_000, 10_000)
FLIPS_FEW, FLIPS_MANY = 1_000, 21_000

#: mmap 64 MiB, touch it, then flip one page in its middle read-only and back N times.
FLIPPER = r"""
#include <stdlib.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]), size = 64L << 20;
    char *m = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (long i = 0; i < size; i += 4096) m[i] = 1;
    for (long i = 0; i < n; i++) {
        if (mprotect(m + size / 2, 4096, PROT_READ)) return 1;
        if (mprotect(m + size / 2, 4096, PROT_READ | PROT_WRITE)) return 1;
        m[size / 2] = 2;
    }
    return 0;
}
"""

#: N threads, all alive at once: each blocks on a mutex main holds until all exist.
THREADER = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static void *worker(void *arg) {
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    return arg;
}
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    pthread_t *ids = calloc(n, sizeof *ids);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 16384);
    pthread_mutex_lock(&gate);
    for (long i = 0; i < n; i++)
        if (pthread_create(&ids[i], &attr, worker, (void *)i)) return 1;
    pthread_mutex_unlock(&gate);
    long sum = 0;
    for (int i = 0; i < n; i++) { void *r; pthread_join(ids[i], &r); sum += (long)r; }
    printf("%ld\n", sum);
    return 0;
}
"""


def _cpu() -> Cpu:
    return Cpu(BlockCoster(), on_syscall=lambda _cpu: None, counting=False)


def _per_call_us(action: object, repeats: int = REPEATS) -> float:
    started = time.process_time()
    for _ in range(repeats):
        action()  # type: ignore[operator]
    return (time.process_time() - started) / repeats * 1e6


def test_mprotect_4k_in_64m(benchmark: pytest.FixtureRequest) -> None:
    cpu = _cpu()
    cpu.map(BASE, MAPPING, PROT_RW)
    middle = BASE + MAPPING // 2

    def flip() -> None:
        cpu.protect(middle, PAGE_SIZE, PROT_RO)
        cpu.protect(middle, PAGE_SIZE, PROT_RW)
    us = _per_call_us(flip) / 2
    benchmark.extra_info.update(us_per_mprotect=us)
    report(f"mprotect 4 KiB in a 64 MiB mapping: {us:.1f} us of host CPU time "
           f"(target <= 50 us)")
    benchmark.pedantic(flip, rounds=200)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_guest_mprotect_4k_in_64m(benchmark: pytest.FixtureRequest, tmp_path: Path) -> None:
    program = str(build_static(FLIPPER, tmp_path / "flipper"))
    few, result = timed_run(program, [str(FLIPS_FEW)])
    many, result = timed_run(program, [str(FLIPS_MANY)])
    assert result.exit_code == 0
    us = (many - few) / (FLIPS_MANY - FLIPS_FEW) / 2 * 1e6  # two calls a flip, and a store
    benchmark.extra_info.update(us_per_guest_mprotect=us)
    report(f"guest mprotect 4 KiB in a 64 MiB mapping, kernel included: {us:.1f} us of host "
           f"CPU time (target <= 50 us)")
    benchmark.pedantic(lambda: None, rounds=1)


@pytest.mark.parametrize("existing", [FEW, MANY])
def test_mmap_cost_with_many_mappings(benchmark: pytest.FixtureRequest, existing: int) -> None:
    cpu = _cpu()
    for i in range(existing):  # alternating protection: no two neighbours alike
        cpu.map(BASE + i * PAGE_SIZE, PAGE_SIZE, PROT_RW if i % 2 else PROT_RO)
    fresh = BASE + (existing + 1) * PAGE_SIZE

    def map_unmap() -> None:
        cpu.map(fresh, PAGE_SIZE, PROT_RO if existing % 2 else PROT_RW)
        cpu.unmap(fresh, PAGE_SIZE)
    us = _per_call_us(map_unmap, 200)
    regions = len(list(cpu.uc.mem_regions()))
    benchmark.extra_info.update(us_per_map_unmap=us, engine_regions=regions)
    report(f"mmap+munmap of a page next to {existing} alternating mappings: {us:.0f} us "
           f"({regions} engine regions)")
    benchmark.pedantic(map_unmap, rounds=20)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("threads", THREADS)
def test_many_threads(benchmark: pytest.FixtureRequest, tmp_path: Path, threads: int) -> None:
    program = str(build_static(THREADER, tmp_path / "threader", "-pthread"))
    seconds, result = timed_run(program, [str(threads)])
    assert result.exit_code == 0
    benchmark.extra_info.update(host_seconds=seconds)
    report(f"{threads} threads alive at once, then joined: {seconds:.1f} s of host CPU time")
    benchmark.pedantic(lambda: None, rounds=1)
