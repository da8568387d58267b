"""The timed machine's speed, before and after a change, side by side (issue #17).

    .venv/bin/python -m benchmarks.timed_compare BASELINE [--rounds 3] [--only rate]

``BASELINE`` is a commit of this repository, extracted as ``benchmarks.sidebyside``
does. Each round runs, alternately from the baseline tree and from this checkout,
each in its own interpreter:

* ``rate``: @metadata (200 files) in 64 containers on 64 cores under the cofferos
  kernel, as ``benchmarks/test_bench_timing.py`` runs it: simulated seconds per
  host CPU second of the machine's run (issue #17: >= 10x the 0.0004-0.0006 of
  when it was filed), and the CPU time of the same 64 guests run functionally,
  one coffer after another: what the kernel model costs without the machine;
* ``overhead``: the timed machine (one core, page faults counted) against the
  functional run of the same guest, host CPU time, for @compute, @memtouch,
  @nullsys and @metadata, as ``test_bench_timing.py -k overhead`` (target <= +15%):
  after a warm-up of each, the best of 3 of each, alternately, in one child.

The lines give medians over the rounds. Each child also prints the simulated
result's fingerprint (elapsed time and every container's time split, exactly):
a change that moves it changed the model, and the script says so. On a shared
machine only figures from the same rounds are comparable.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.sidebyside import (
    HERE,
    LOAD_TREE,
    alternate,
    baseline_tree,
    comparison_parser,
    python_child,
)

CONTAINERS = 64  #: containers and cores of the rate case (issue #17)
RATE_ARGS = ["/tmp/bench", "200"]  #: @metadata's arguments in the rate case
BEST_OF = 3  #: an overhead child's runs of each kind after a warm-up: its figure is the best
OVERHEAD_CASES = {"compute": ["3000000"], "memtouch": ["128"], "nullsys": ["50000"],
                  "metadata": ["/tmp/bench", "1000"]}

#: A child: ``rate`` or ``overhead WORKLOAD ARGS...``; prints figures, then a fingerprint.
CHILD = LOAD_TREE + """
mode, *rest = sys.argv[2:]
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.sim import machine as machine_module
from cofferos.sim.machine import Machine, MachineConfig
from cofferos.workloads import build
assert Path(machine_module.__file__).is_relative_to(tree)

def fingerprint(result):
    times = sorted((name, t.user, t.kernel, t.lock_wait, t.virtualization)
                   for name, t in result.times.items())
    return repr((result.elapsed_ns, times))

if mode == "rate":
    from cofferos.sim.experiment import run_containers
    spent = []
    plain_run = Machine.run
    def timed_run(self):
        started = time.process_time()
        try:
            return plain_run(self)
        finally:
            spent.append(time.process_time() - started)
    Machine.run = timed_run
    containers = int(rest[0])
    program = str(build("metadata"))
    run = run_containers(program, rest[1:], kernel="cofferos",
                         containers=containers, cores=containers)
    functional = 0.0  # the same guests run functionally, one after another
    for _ in range(containers):
        alone = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                       stderr=io.BytesIO())
        alone.spawn(program, [program, *rest[1:]])
        started = time.process_time()
        alone.run()
        functional += time.process_time() - started
    print(run.simulated_seconds, spent[0], functional)
    print(fingerprint(run.machine))
else:
    rest_rounds, workload, *args = rest
    program = str(build(workload))
    def coffer(page_faults):
        made = Coffer(CofferConfig(page_faults=page_faults), stdin=io.BytesIO(),
                      stdout=io.BytesIO(), stderr=io.BytesIO())
        made.spawn(program, [program, *args])
        return made
    def functional():
        run = coffer(False)
        started = time.process_time()
        run.run()
        return time.process_time() - started
    def timed():
        machine = Machine(MachineConfig(cores=1, kernel="linux"), [coffer(True)])
        started = time.process_time()
        result = machine.run()
        return time.process_time() - started, result
    functional(), timed()  # warm: the hooks built or loaded, the caches filled
    best_functional, best_timed = [], []
    for _ in range(int(rest_rounds)):
        best_functional.append(functional())
        seconds, result = timed()
        best_timed.append(seconds)
    print(min(best_functional), min(best_timed))
    print(fingerprint(result))
"""


def _child(tree: Path, arguments: list[str]) -> tuple[list[float], str]:
    lines = python_child(CHILD, tree, arguments).splitlines()
    return [float(word) for word in lines[-2].split()], lines[-1]


def main(argv: list[str] | None = None) -> None:
    parser = comparison_parser(__doc__, rounds=3)
    parser.add_argument("--only", choices=["rate", "overhead"], help="one of the two cases")
    parser.add_argument("--containers", type=int, default=CONTAINERS)
    options = parser.parse_args(argv)
    cases = {}
    if options.only != "overhead":
        cases["rate"] = ["rate", str(options.containers), *RATE_ARGS]
    if options.only != "rate":
        cases.update({name: ["overhead", str(BEST_OF), name, *args]
                      for name, args in OVERHEAD_CASES.items()})
    with baseline_tree(options.baseline) as (_work, baseline):
        trees = {"before": baseline, "after": HERE}
        runs = alternate(options.rounds, cases, trees,
                         lambda case, tree: _child(tree, cases[case]))
    figures = {key: [numbers for numbers, _ in got] for key, got in runs.items()}
    prints = {key: {printed for _, printed in got} for key, got in runs.items()}
    for case in cases:
        cells = []
        for name in trees:
            rounds = figures[case, name]
            if case == "rate":
                rate = statistics.median(sim / host for sim, host, _ in rounds)
                cells.append(f"{name}: {rate:.5f} sim-s per host CPU-s "
                             f"({statistics.median(host for _, host, _ in rounds):.2f} CPU-s; "
                             "the same guests run functionally one by one "
                             f"{statistics.median(alone for _, _, alone in rounds):.2f} CPU-s)")
            else:
                over = statistics.median(timed / functional - 1 for functional, timed in rounds)
                cells.append(f"{name}: {over:+.0%} (functional "
                             f"{statistics.median(f for f, _ in rounds) * 1e3:.1f} ms, timed "
                             f"{statistics.median(t for _, t in rounds) * 1e3:.1f} ms)")
        same = prints[case, "before"] == prints[case, "after"]
        print(f"{case}: " + "; ".join(cells)
              + ("" if same else "; THE SIMULATED RESULT DIFFERS"))


if __name__ == "__main__":
    main()
