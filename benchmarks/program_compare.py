"""Guest code speed, before and after a change, beside qemu-user (issue #17).

    .venv/bin/python -m benchmarks.program_compare BASELINE [--rounds 3]

``BASELINE`` is a commit of this repository; its tree is extracted (``git
archive``) to a temporary directory. Each round runs, alternately, the baseline
tree, this checkout and ``qemu-x86_64`` (when installed) on the real programs of
``benchmarks/uarch/`` (Lua, SQLite, zlib, linked statically) at the two sizes of
:mod:`benchmarks.test_bench_qemu_programs`. A figure is the difference between
the large and the small run's host CPU time (the coffer's run in its own
interpreter, exact counting on, as :mod:`benchmarks.trap_compare` measures it;
qemu-user's whole child), so start-up cancels out; the table gives medians over
the rounds and each tree's ratio to qemu-user. On a shared machine only figures
from the same rounds are comparable: the load hits all three alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from benchmarks.test_bench_qemu_programs import SIZES
from benchmarks.trap_compare import HERE, QEMU, _coffer_seconds, _qemu_seconds, extract
from benchmarks.uarch_validate import PROGRAMS, binary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", help="a commit to compare this checkout with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--programs", default=",".join(sorted(SIZES)),
                        help="comma-separated names of benchmarks/uarch programs")
    options = parser.parse_args(argv)
    names = options.programs.split(",")
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        baseline = extract(options.baseline, work / "baseline")
        paths = {p.name: str(binary(p, work)) for p in PROGRAMS if p.name in names}
        runners = {f"before ({options.baseline})": lambda c: _coffer_seconds(baseline, c),
                   "after (this checkout)": lambda c: _coffer_seconds(HERE, c)}
        if QEMU:
            runners["qemu-user"] = _qemu_seconds
        figures: dict[tuple[str, str], list[float]] = {}
        for _ in range(options.rounds):
            for name, path in paths.items():
                small, large = SIZES[name]
                for runner, run in runners.items():
                    small_s = run([path, str(small)])
                    large_s = run([path, str(large)])
                    figures.setdefault((name, runner), []).append(large_s - small_s)
    print("| program | " + " | ".join(runners) + " |")
    print("|---" * (len(runners) + 1) + "|")
    for name in paths:
        medians = {runner: statistics.median(figures[name, runner]) for runner in runners}
        qemu = medians.get("qemu-user")
        cells = [f"{seconds:.2f} s" + (f" ({seconds / qemu:.1f}x)" if qemu else "")
                 for seconds in medians.values()]
        print(f"| {name} {SIZES[name][0]:,} -> {SIZES[name][1]:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
