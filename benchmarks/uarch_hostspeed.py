"""Host CPU time of long runs under the ``mca`` cycle model against ``simple`` (issue #16).

    .venv/bin/python -m benchmarks.uarch_hostspeed [--rounds 6]

``benchmarks/test_bench_cycle_model.py`` times short runs from cold costers, where
start-up (each model loading its disk cache of block costs) is most of the time. This
times runs long enough for the block hook's own work to show: @compute 20,000,000
(one block that ends with a conditional branch, run 20 million times: the branch
predictor's worst case) and Lua (``benchmarks/uarch/lua_loop.c``, 100,000 iterations,
a mix of blocks). Each run is a new process, as a ``coffersim`` command is, timed from
making the coffer to the end of the run (host CPU time, so waiting for a core on a
shared machine does not count); rounds alternate the models; best of the rounds. A
warm-up run of each model first fills the disk caches.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.uarch_validate import PROGRAMS, binary

RUNS = (("@compute", ("20000000",)), ("lua", ("100000",)))
MODELS = ("simple", "mca")
TIMEOUT_S = 600


def _child(path: str, model: str, args: list[str]) -> None:
    """Run ``path`` once in this process and print the host CPU seconds it took."""
    from cofferos.coffers.coffer import Coffer, CofferConfig

    started = time.process_time()
    coffer = Coffer(CofferConfig(cycle_model=model), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=io.BytesIO())
    coffer.spawn(path, [path, *args])
    coffer.run()
    print(f"{time.process_time() - started:.6f}")


def _timed(path: Path, model: str, args: tuple[str, ...]) -> float:
    done = subprocess.run([sys.executable, "-m", "benchmarks.uarch_hostspeed", "--child",
                           str(path), model, *args], capture_output=True, text=True,
                          check=True, timeout=TIMEOUT_S)
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        path, model, *args = options.child
        _child(path, model, args)
        return
    work = Path(tempfile.mkdtemp(prefix="uarch-hostspeed-"))
    try:
        by_name = {program.name: program for program in PROGRAMS}
        print("| program | simple, s | mca, s | mca against simple |")
        print("|---|---|---|---|")
        for name, args in RUNS:
            path = binary(by_name[name], work)
            for model in MODELS:
                _timed(path, model, args)  # warm the disk caches
            best = {model: float("inf") for model in MODELS}
            for _ in range(options.rounds):
                for model in MODELS:
                    best[model] = min(best[model], _timed(path, model, args))
            print(f"| {name} {' '.join(args)} | {best['simple']:.3f} | {best['mca']:.3f} | "
                  f"{best['mca'] / best['simple'] - 1:+.0%} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
