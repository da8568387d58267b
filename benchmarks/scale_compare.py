"""Many coffers of ``@hello`` in one timed run, before and after a change (issue #17).

    .venv/bin/python -m benchmarks.scale_compare BASELINE [--containers 10000] [--rounds 1]

``BASELINE`` is a commit of this repository, extracted as ``benchmarks.sidebyside``
extracts it. Each round runs, alternately, ``coffersim run --kernel linux --containers
N -- @hello`` from the baseline tree and from this checkout, each in a child
interpreter that loads its tree's layers (:data:`benchmarks.sidebyside.LOAD_TREE`); a
figure is the child's CPU time (user + system), median over the rounds.
``benchmarks/test_bench_scale.py`` measures this checkout alone, with its peak memory;
target: 10,000 coffers in <= 180 s.
"""

from __future__ import annotations

import statistics
import sys

from benchmarks.sidebyside import (
    HERE,
    LOAD_TREE,
    alternate,
    baseline_tree,
    before_after,
    child_cpu_seconds,
    comparison_parser,
    print_table,
)

CHILD = LOAD_TREE + """
from cofferos.cli import main
sys.exit(main(["run", "--kernel", "linux", "--containers", sys.argv[2], "--", "@hello"]))
"""


def main(argv: list[str] | None = None) -> None:
    parser = comparison_parser(__doc__, rounds=1)
    parser.add_argument("--containers", type=int, default=10_000)
    options = parser.parse_args(argv)
    count = str(options.containers)
    with baseline_tree(options.baseline) as (_work, baseline):
        def run(tree: object) -> float:
            return child_cpu_seconds([sys.executable, "-c", CHILD, str(tree), count])

        runners = before_after(options.baseline, lambda: run(baseline), lambda: run(HERE))
        figures = alternate(options.rounds, [f"{options.containers:,} coffers of @hello"],
                            runners, lambda _case, runner: runner())
    print_table("CPU s", runners, (
        (case, [f"{statistics.median(figures[case, name]):.1f}" for name in runners])
        for case in {case for case, _name in figures}))


if __name__ == "__main__":
    main()
