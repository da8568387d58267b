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

import statistics
from collections.abc import Callable

from benchmarks.sidebyside import (
    HERE,
    alternate,
    baseline_tree,
    before_after,
    comparison_parser,
    print_table,
    qemu_seconds,
)
from benchmarks.test_bench_qemu_programs import SIZES
from benchmarks.trap_compare import _coffer_seconds
from benchmarks.uarch_validate import PROGRAMS, binary


def main(argv: list[str] | None = None) -> None:
    parser = comparison_parser(__doc__, rounds=3)
    parser.add_argument("--programs", default=",".join(sorted(SIZES)),
                        help="comma-separated names of benchmarks/uarch programs")
    options = parser.parse_args(argv)
    names = options.programs.split(",")
    with baseline_tree(options.baseline) as (work, baseline):
        paths = {p.name: str(binary(p, work)) for p in PROGRAMS if p.name in names}
        runners = before_after(options.baseline, lambda c: _coffer_seconds(baseline, c),
                               lambda c: _coffer_seconds(HERE, c), qemu_seconds)

        def difference(name: str, run: Callable[[list[str]], float]) -> float:
            small, large = SIZES[name]
            small_s = run([paths[name], str(small)])
            return run([paths[name], str(large)]) - small_s

        figures = alternate(options.rounds, paths, runners, difference)

    def cells(name: str) -> list[str]:
        medians = {runner: statistics.median(figures[name, runner]) for runner in runners}
        qemu = medians.get("qemu-user")
        return [f"{seconds:.2f} s" + (f" ({seconds / qemu:.1f}x)" if qemu else "")
                for seconds in medians.values()]

    print_table("program", runners, ((f"{name} {SIZES[name][0]:,} -> {SIZES[name][1]:,}",
                                      cells(name)) for name in paths))


if __name__ == "__main__":
    main()
