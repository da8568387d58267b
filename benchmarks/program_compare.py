"""Guest code speed, before and after a change, beside qemu-user (issue #17).

    .venv/bin/python -m benchmarks.program_compare BASELINE [--rounds 3]
        [--programs jq,lua,sqlite,zlib]

``BASELINE`` is a commit of this repository; its tree is extracted (``git
archive``) to a temporary directory. Each round runs, alternately, the baseline
tree, this checkout and ``qemu-x86_64`` (when installed) on the real programs of
:mod:`benchmarks.test_bench_qemu_programs` (Lua, SQLite and zlib from
``benchmarks/uarch/``, and jq built by :mod:`benchmarks.jq_guest`, all linked
statically) at its two sizes. A figure is the difference between the large and
the small run's host CPU time (the coffer's run in its own interpreter, exact
counting on, as :mod:`benchmarks.trap_compare` measures it; qemu-user's whole
child), so start-up cancels out; the table gives medians over the rounds and each
tree's ratio to qemu-user. Every run's output must be the native run's, byte for
byte, or the comparison stops. A program that cannot be built (jq without its
sdist) is left out with the reason. On a shared machine only figures from the
same rounds are comparable: the load hits all three alike.
"""

from __future__ import annotations

import hashlib
import resource
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.sidebyside import (
    HERE,
    LOAD_TREE,
    QEMU,
    alternate,
    baseline_tree,
    before_after,
    comparison_parser,
    print_table,
    python_child,
)
from benchmarks.test_bench_qemu_programs import SIZES, UNITS, Guest, guest, stdout_of

#: Run in a child: import TREE's layers from its folders, run the guest with the file
#: STDIN ("-": none) on its standard input, print CPU s, exit code and output digest.
CHILD = LOAD_TREE + """
import hashlib
stdin, program, *args = sys.argv[2:]
from cofferos.coffers.coffer import Coffer, CofferConfig
assert Path(sys.modules["cofferos.coffers.coffer"].__file__).is_relative_to(tree)
out = io.BytesIO()
coffer = Coffer(CofferConfig(), stdin=io.BytesIO(b"" if stdin == "-" else Path(stdin).read_bytes()),
                stdout=out, stderr=io.BytesIO())
coffer.spawn(program, [program, *args])
started = time.process_time()
result = coffer.run()
print(time.process_time() - started, result.exit_code, hashlib.sha256(out.getvalue()).hexdigest())
"""

#: A runner: (command, standard input) -> (CPU seconds, output digest).
Runner = Callable[[list[str], Path | None], tuple[float, str]]


def _digest(output: bytes) -> str:
    return hashlib.sha256(output).hexdigest()


def _coffer_run(tree: Path, command: list[str], stdin: Path | None) -> tuple[float, str]:
    seconds, status, digest = python_child(CHILD, tree, [str(stdin or "-"), *command]).split()[-3:]
    return float(seconds), digest if status == "0" else f"exit {status}"


def _qemu_run(command: list[str], stdin: Path | None) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = stdout_of([str(QEMU), *command], stdin)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), _digest(output)


def main(argv: list[str] | None = None) -> None:
    parser = comparison_parser(__doc__, rounds=3)
    parser.add_argument("--programs", default=",".join(sorted(SIZES)),
                        help="comma-separated names among " + ", ".join(sorted(SIZES)))
    options = parser.parse_args(argv)
    names = options.programs.split(",")
    with baseline_tree(options.baseline) as (work, baseline):
        programs: dict[str, Guest] = {}
        for name in names:
            try:
                programs[name] = guest(name, work)
            except Exception as err:  # noqa: BLE001 - a program that cannot be built
                print(f"{name}: left out, cannot build it: {err}", file=sys.stderr)
        native = {(name, n): _digest(stdout_of(program.command(n), program.stdin(n)))
                  for name, program in programs.items() for n in SIZES[name]}
        runners = before_after(options.baseline, lambda c, i: _coffer_run(baseline, c, i),
                               lambda c, i: _coffer_run(HERE, c, i), _qemu_run)

        def difference(name: str, run: Runner) -> float:
            """The large run's CPU seconds minus the small one's; every output checked."""
            seconds = []
            for n in SIZES[name]:
                cpu, digest = run(programs[name].command(n), programs[name].stdin(n))
                if digest != native[name, n]:
                    raise SystemExit(f"program_compare: {name} {n:,} printed other bytes "
                                     f"than natively ({digest})")
                seconds.append(cpu)
            return seconds[1] - seconds[0]

        figures = alternate(options.rounds, programs, runners, difference)

    def cells(name: str) -> list[str]:
        medians = {runner: statistics.median(figures[name, runner]) for runner in runners}
        qemu = medians.get("qemu-user")
        return [f"{seconds:.2f} s" + (f" ({seconds / qemu:.1f}x)" if qemu else "")
                for seconds in medians.values()]

    print_table("program", runners, (
        (f"{name} {SIZES[name][0]:,} -> {SIZES[name][1]:,} {UNITS.get(name, 'iterations')}",
         cells(name)) for name in programs))


if __name__ == "__main__":
    main()
