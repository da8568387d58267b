"""What bounds the timed @metadata rate: the kernel's traps against everything else (issue #17).

    .venv/bin/python -m benchmarks.rate_parts [ITERATIONS ...]   (default: 1 200 2000)

``benchmarks/test_bench_timing.py`` measures simulated seconds per host second for
@metadata in 64 containers on 64 cores (cofferos kernel, 200 files each; issue #17's
target: >= 0.004). This script splits that run's host time in two, for each
ITERATIONS given:

* **in the kernel's traps**: the time spent inside every system call trap (the
  kernel model's Python: dispatch, path walks, inodes, file tables, accounting),
  timed around :meth:`Cpu._on_native_trap` and :meth:`Cpu._on_touched_trap`
  (:func:`timed_traps`);
* **elsewhere**: the rest of the machine's run: the guests' code in Unicorn, and
  Unicorn translating it, starting and ending the 64 processes, the timed machine.

From the two it prints the rate with a kernel model that took no time at all (the
host time elsewhere only): an upper bound that no work on the kernel model alone can
pass. The timer around each trap costs a little host time, which lands in the trap
share, so the bound is if anything generous.

Then it times one coffer of @metadata (20 files) on a **fresh engine** and on a
**pooled engine** that ran the same program before and kept its translated code
(``isa/wipe.py``): their difference is what Unicorn spends translating the program
anew. In the rate case all 64 containers are alive at once, so each has a fresh
engine and each pays it: 64 engines, 64 translations of the same code.

Host time is the machine's own measure (``run.host_seconds``); every figure comes
from this process, so on a shared host only its own lines compare.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.engines import EnginePool
from cofferos.isa.cpu import Cpu
from cofferos.sim.experiment import run_containers
from cofferos.workloads import build

CONTAINERS = 64  #: containers and cores, as test_bench_timing.py's rate case
DEFAULT_ITERATIONS = (1, 200, 2000)  #: files per container; 200 is the benchmark's
ENGINE_FILES = "20"  #: files of the one-coffer engine comparison
ENGINE_ROUNDS = 5  #: runs of each kind in the engine comparison; medians printed
TRAP_HANDLERS = ("_on_native_trap", "_on_touched_trap")


@contextmanager
def timed_traps(spent: list[float]) -> Iterator[None]:
    """While inside, ``spent[0]`` sums the host time in the CPU's trap entries (the
    class's methods are wrapped, then restored)."""
    originals = {name: getattr(Cpu, name) for name in TRAP_HANDLERS}
    for name, inner in originals.items():

        def timed(cpu: Cpu, _inner: Callable[[Cpu], None] = inner) -> None:
            started = time.perf_counter()
            try:
                _inner(cpu)
            finally:
                spent[0] += time.perf_counter() - started

        setattr(Cpu, name, timed)
    try:
        yield
    finally:
        for name, inner in originals.items():
            setattr(Cpu, name, inner)


def rate_parts(program: str, iterations: int) -> str:
    """The benchmark's case at ``iterations`` files, its host time split (one line)."""
    spent = [0.0]
    with timed_traps(spent):  # (the run's engines are made inside: their traps timed)
        run = run_containers(program, ["/tmp/bench", str(iterations)], kernel="cofferos",
                             containers=CONTAINERS, cores=CONTAINERS)
    host, traps = run.host_seconds, spent[0]
    rest = host - traps
    return (f"{iterations:>5} files: {run.simulated_seconds * 1e3:.3f} ms simulated in "
            f"{host:.3f} s of host time: {traps:.3f} s ({traps / host:.0%}) in the kernel's "
            f"traps, {rest:.3f} s elsewhere; rate {run.simulated_seconds / host:.5f}, "
            f"with a kernel that took no time {run.simulated_seconds / rest:.5f} "
            f"sim-s per host-s")


def _one_coffer(program: str, pool: EnginePool) -> float:
    coffer = Coffer(CofferConfig(page_faults=True), stdin=io.BytesIO(),
                    stdout=io.BytesIO(), stderr=io.BytesIO())
    coffer.engines = pool
    coffer.spawn(program, [program, "/tmp/bench", ENGINE_FILES])
    started = time.process_time()
    coffer.run()
    return time.process_time() - started


def engine_warmup(program: str) -> str:
    fresh = [_one_coffer(program, EnginePool(size=0)) for _ in range(ENGINE_ROUNDS)]
    pool = EnginePool(size=1)
    _one_coffer(program, pool)  # (leaves its engine, with its code, in the pool)
    pooled = [_one_coffer(program, pool) for _ in range(ENGINE_ROUNDS)]
    new, kept = statistics.median(fresh), statistics.median(pooled)
    return (f"one coffer of @metadata ({ENGINE_FILES} files), medians of {ENGINE_ROUNDS}: "
            f"{new * 1e3:.2f} ms of host CPU on a fresh engine, {kept * 1e3:.2f} ms on a "
            f"pooled engine that kept its code: {(new - kept) * 1e3:.2f} ms translating "
            f"the program, paid once per fresh engine ({CONTAINERS} in the rate case: "
            f"{CONTAINERS * (new - kept):.2f} s)")


def main(argv: list[str]) -> int:
    try:
        counts = [int(arg) for arg in argv] or list(DEFAULT_ITERATIONS)
    except ValueError:
        print(f"usage: python -m benchmarks.rate_parts [ITERATIONS ...] "
              f"(whole numbers; default {' '.join(map(str, DEFAULT_ITERATIONS))})",
              file=sys.stderr)
        return 2
    if any(count < 1 for count in counts):
        print("rate_parts: ITERATIONS must be at least 1", file=sys.stderr)
        return 2
    program = str(build("metadata"))
    print(engine_warmup(program), flush=True)
    for count in counts:
        print(rate_parts(program, count), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
