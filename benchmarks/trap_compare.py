"""Host time per system call, before and after a change, beside qemu-user (issue #17).

    .venv/bin/python -m benchmarks.trap_compare BASELINE [--rounds 5]

``BASELINE`` is a commit of this repository; its tree is extracted (``git
archive``) to a temporary directory. Each round measures, alternately, the
baseline tree, this checkout and ``qemu-x86_64`` (when installed) on the same
static guests: ``getppid`` (``@nullsys``) and 16-byte write+read pairs on a pipe
and on a tmpfs file (``benchmarks/guests/rwloop.c``). A figure is the difference
between a large and a small run, in host CPU time, divided by the calls it adds,
so start-up cancels out; the table gives medians over the rounds, then the Python
calls per trap of each tree (cProfile's count over the same difference, builtins
such as ``len`` included, ctypes foreign calls not: ``--no-calls`` skips it). On a shared
machine only figures from the same rounds are comparable: the load hits both
trees alike. Each tree runs in its own interpreter, imported from its own folders
(the layer mapping of ``setup.py``), with accounting on as in a plain coffer.
"""

from __future__ import annotations

import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path

from benchmarks.sidebyside import (
    HERE,
    LOAD_TREE,
    alternate,
    baseline_tree,
    before_after,
    comparison_parser,
    print_table,
    python_child,
    qemu_seconds,
)

#: (guest arguments before the count, small count, large count, calls per count)
CASES = {"getppid": ((), 2_000, 102_000, 1),
         "pipe": (("pipe",), 1_000, 26_000, 2),
         "file": (("file",), 1_000, 26_000, 2)}

CALLS_SCALE = 6  #: the larger run of the call count: a profiled run is slow

#: Run in a child: import TREE's layers from its folders, run the guest, print CPU s.
CHILD = LOAD_TREE + """
count_calls, program, *args = sys.argv[2:]
from cofferos.coffers.coffer import Coffer, CofferConfig
assert Path(sys.modules["cofferos.coffers.coffer"].__file__).is_relative_to(tree)
coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO())
coffer.spawn(program, [program, *args])
if count_calls == "calls":
    import cProfile, pstats
    profile = cProfile.Profile()
    profile.enable()
    result = coffer.run()
    profile.disable()
    print(pstats.Stats(profile).total_calls, sum(result.syscalls.values()))
else:
    started = time.process_time()
    coffer.run()
    print(time.process_time() - started)
"""


def _child(tree: Path, mode: str, command: list[str]) -> list[str]:
    return python_child(CHILD, tree, [mode, *command]).split()


def _coffer_seconds(tree: Path, command: list[str]) -> float:
    return float(_child(tree, "time", command)[-1])


def _calls_per_trap(tree: Path, small: list[str], large: list[str]) -> float:
    """Python calls per system call added between the small and the large run."""
    (calls_small, traps_small), (calls_large, traps_large) = (
        map(int, _child(tree, "calls", command)[-2:]) for command in (small, large))
    return (calls_large - calls_small) / (traps_large - traps_small)


def _guests(work: Path) -> dict[str, str]:
    from cofferos.workloads import build

    rwloop = work / "rwloop"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(rwloop),
                    str(HERE / "benchmarks" / "guests" / "rwloop.c")], check=True)
    return {"getppid": str(build("nullsys")), "pipe": str(rwloop), "file": str(rwloop)}


def main(argv: list[str] | None = None) -> None:
    parser = comparison_parser(__doc__, rounds=5)
    parser.add_argument("--no-calls", action="store_true",
                        help="skip counting the Python calls per trap")
    options = parser.parse_args(argv)
    with baseline_tree(options.baseline) as (work, baseline):
        programs = _guests(work)
        runners = before_after(options.baseline, lambda c: _coffer_seconds(baseline, c),
                               lambda c: _coffer_seconds(HERE, c), qemu_seconds)

        def per_call_us(case: str, run: Callable[[list[str]], float]) -> float:
            args, small, large, per = CASES[case]
            small_s = run([programs[case], *args, str(small)])
            large_s = run([programs[case], *args, str(large)])
            return (large_s - small_s) / ((large - small) * per) * 1e6

        figures = alternate(options.rounds, CASES, runners, per_call_us)
        trees = {"before": baseline, "after": HERE}
        calls = {} if options.no_calls else {
            (case, tree_name): _calls_per_trap(tree, [programs[case], *args, str(small)],
                                               [programs[case], *args, str(small * CALLS_SCALE)])
            for case, (args, small, _large, _per) in CASES.items()
            for tree_name, tree in trees.items()}
    print_table("call", runners, (
        (case, [f"{statistics.median(figures[case, name]):.2f} us" for name in runners])
        for case in CASES))
    for (case, tree_name), per_trap in calls.items():
        print(f"{case}: {per_trap:.1f} Python calls per trap {tree_name}")


if __name__ == "__main__":
    main()
