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

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
QEMU = shutil.which("qemu-x86_64")
#: (guest arguments before the count, small count, large count, calls per count)
CASES = {"getppid": ((), 2_000, 102_000, 1),
         "pipe": (("pipe",), 1_000, 26_000, 2),
         "file": (("file",), 1_000, 26_000, 2)}

CALLS_SCALE = 6  #: the larger run of the call count: a profiled run is slow

#: The start of a child's code: import the layers of the tree ``sys.argv[1]`` from its
#: folders (benchmarks.timed_compare's children start the same way).
LOAD_TREE = """
import ast, importlib.util, io, sys, time
from pathlib import Path
tree = Path(sys.argv[1])
source = (tree / "setup.py").read_text()
layers = next(ast.literal_eval(node.value) for node in ast.parse(source).body
              if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LAYERS")
specs = []
for name, folder in layers.items():
    spec = importlib.util.spec_from_file_location(
        name, tree / folder / "__init__.py", submodule_search_locations=[str(tree / folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    specs.append((spec, module))
for spec, module in specs:
    spec.loader.exec_module(module)
"""

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
    return subprocess.run([sys.executable, "-c", CHILD, str(tree), mode, *command],
                          check=True, capture_output=True, text=True).stdout.split()


def _coffer_seconds(tree: Path, command: list[str]) -> float:
    return float(_child(tree, "time", command)[-1])


def _calls_per_trap(tree: Path, small: list[str], large: list[str]) -> float:
    """Python calls per system call added between the small and the large run."""
    (calls_small, traps_small), (calls_large, traps_large) = (
        map(int, _child(tree, "calls", command)[-2:]) for command in (small, large))
    return (calls_large - calls_small) / (traps_large - traps_small)


def _qemu_seconds(command: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([str(QEMU), *command], check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def extract(commit: str, where: Path) -> Path:
    """The tree of ``commit`` of this checkout, unpacked at ``where`` (git archive)."""
    where.mkdir()
    archive = subprocess.run(["git", "-C", str(HERE), "archive", commit],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def _guests(work: Path) -> dict[str, str]:
    from cofferos.workloads import build

    rwloop = work / "rwloop"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(rwloop),
                    str(HERE / "benchmarks" / "guests" / "rwloop.c")], check=True)
    return {"getppid": str(build("nullsys")), "pipe": str(rwloop), "file": str(rwloop)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", help="a commit to compare this checkout with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-calls", action="store_true",
                        help="skip counting the Python calls per trap")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        baseline = extract(options.baseline, work / "baseline")
        programs = _guests(work)
        runners = {f"before ({options.baseline})": lambda c: _coffer_seconds(baseline, c),
                   "after (this checkout)": lambda c: _coffer_seconds(HERE, c)}
        if QEMU:
            runners["qemu-user"] = _qemu_seconds
        figures: dict[tuple[str, str], list[float]] = {}
        for _ in range(options.rounds):
            for case, (args, small, large, per) in CASES.items():
                for name, run in runners.items():
                    small_s = run([programs[case], *args, str(small)])
                    large_s = run([programs[case], *args, str(large)])
                    figures.setdefault((case, name), []).append(
                        (large_s - small_s) / ((large - small) * per) * 1e6)
        trees = {"before": baseline, "after": HERE}
        calls = {} if options.no_calls else {
            (case, tree_name): _calls_per_trap(tree, [programs[case], *args, str(small)],
                                               [programs[case], *args, str(small * CALLS_SCALE)])
            for case, (args, small, _large, _per) in CASES.items()
            for tree_name, tree in trees.items()}
    print("| call | " + " | ".join(runners) + " |")
    print("|---" * (len(runners) + 1) + "|")
    for case in CASES:
        cells = [f"{statistics.median(figures[case, name]):.2f} us" for name in runners]
        print(f"| {case} | " + " | ".join(cells) + " |")
    for (case, tree_name), per_trap in calls.items():
        print(f"{case}: {per_trap:.1f} Python calls per trap {tree_name}")


if __name__ == "__main__":
    main()
