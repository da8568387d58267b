"""``coffersim sensitivity``: which conclusions of an experiment hold across the cost model.

    coffersim sensitivity EXPERIMENT [--vary NAME[=LOW:HIGH]]... [--quick] [--list]
                                     [--kernels K,K] [--containers N] [--cores N] [--seed S]
                                     [--set KEY=VALUE]... [--cost NAME=VALUE]...
                                     [--jobs N] [--out DIR] [--json] [--docs FILE]

Reruns EXPERIMENT with each named constant at each of its levels (by default every
estimated constant of the cost model at x0.5 and x2: :mod:`cofferos.sim.sensitivity`)
and prints which isolation checks flip, whether the stated finding changes and which
headline numbers move, then the conclusions that hold across the whole range and those
that do not. Only what a level can change runs again: the base run records which
constants each of its parts reads, and a level reruns the parts that read a value it
changes (:mod:`cofferos.sim.sensitivity_runs`). Levels are ``xFACTOR`` (of the
constant's value) or a value. An experiment runs at the size of :data:`SIZES`
(stated in the output), each part of which ``--kernels``, ``--containers``,
``--cores`` and ``--set`` replace; ``--quick`` is a few constants at a tiny size (for
tests). Writes ``sensitivity.json``,
``sensitivity.txt`` and ``manifest.json`` under ``--out`` (default
``results/runs/sensitivity-EXPERIMENT``, git-ignored); ``--docs FILE`` also rewrites
the experiment's sensitivity section of FILE (docs/isolation.md:
:mod:`cofferos.sim.sensitivity_report`), the only way the command touches the docs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from cofferos.cli_args import bounded, kernel_list
from cofferos.cli_experiment import DEFAULT_OUT, _key_value
from cofferos.errors import ConfigError

DEFAULT_JOBS = 2  #: the two cores of the development machine
#: The size each experiment runs at unless the command line says otherwise: the
#: shared kernel and CofferOS (vm and sandbox keep private state as CofferOS does),
#: small machines, so that the default set of constants runs in <= 15 minutes on 2 cores.
SIZES: dict[str, dict[str, Any]] = {
    "noisy-neighbor": {"kernels": ("linux", "cofferos"), "containers": 4, "cores": 8},
    "tradeoff": {"kernels": ("linux", "cofferos"), "containers": 2, "cores": 2,
                 "options": {"storms": "pagecache,fork,create", "victim_iterations": "100"}},
}
#: ``--quick``: a tiny size and a few constants, for tests.
QUICK_SIZES: dict[str, dict[str, Any]] = {
    "noisy-neighbor": {"kernels": ("linux", "cofferos"), "containers": 3, "cores": 4,
                       "options": {"storms": "pagecache,fork", "victim_iterations": "20",
                                   "cache_pages": "64"}},
}
UNCHANGED = "unread"  #: a level no part of the base run reads: the run is the base's
QUICK_DEFAULT = {"kernels": ("linux", "cofferos"), "containers": 2, "cores": 2}
QUICK_CONSTANTS = ("page_cache_miss", "lock.tasklist_lock")


def add_parsers(sub: Any) -> None:
    from cofferos.sim.isolation import EXPERIMENTS, OTHER_EXPERIMENTS

    names = [*EXPERIMENTS, *OTHER_EXPERIMENTS]
    parser = sub.add_parser(
        "sensitivity", help="which conclusions of an experiment survive its cost constants",
        description="Rerun an experiment with each estimated constant of the cost model "
                    "(or those --vary names) at x0.5 and x2, and report which checks flip, "
                    "which numbers move and which conclusions hold across the range. "
                    f"Default size (--kernels, --containers, --cores and --set each "
                    f"replace their part): {_sizes_text()}; other experiments: their own "
                    "defaults.")
    parser.add_argument("name", metavar="EXPERIMENT", choices=names,
                        help=f"one of {', '.join(names)}")
    parser.add_argument("--vary", metavar="NAME[=LOW:HIGH]", action="append", default=[],
                        help="a constant (a --cost key or a name --list shows) and its levels, "
                             "each xFACTOR or a value (default x0.5:x2; repeatable; default: "
                             "every estimated constant)")
    parser.add_argument("--list", action="store_true",
                        help="list the estimated constants and their values, run nothing")
    parser.add_argument("--quick", action="store_true",
                        help=f"a tiny size and {len(QUICK_CONSTANTS)} constants (for tests)")
    parser.add_argument("--kernels", type=kernel_list, metavar="K,K",
                        help="comma-separated kernels (default: the size above)")
    parser.add_argument("--containers", type=bounded("containers"), metavar="N",
                        help="containers on the machine (default: the size above)")
    parser.add_argument("--cores", type=bounded("cores"), metavar="N",
                        help="cores of the timing machine (default: the size above)")
    parser.add_argument("--seed", type=bounded("seed"), default=0,
                        help="seed of the first container (default 0)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        type=_key_value, dest="settings",
                        help="an experiment setting (repeatable; see docs/isolation.md)")
    parser.add_argument("--cost", metavar="NAME=VALUE", action="append", default=[],
                        help="the cost model every run starts from (as for run; repeatable)")
    parser.add_argument("--jobs", type=bounded("cores"), default=DEFAULT_JOBS, metavar="N",
                        help=f"parts of runs at once, each in a worker process "
                             f"(default {DEFAULT_JOBS})")
    parser.add_argument("--out", metavar="DIR",
                        help=f"output directory (default {DEFAULT_OUT}/sensitivity-EXPERIMENT)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--docs", metavar="FILE",
                        help="also rewrite this experiment's sensitivity section of FILE "
                             "(docs/isolation.md; the rest of the page is left alone)")


def _sizes_text() -> str:
    parts = []
    for name, size in SIZES.items():
        options = " ".join(f"{k}={v}" for k, v in size.get("options", {}).items())
        parts.append(f"{name}: {','.join(size['kernels'])}, {size['containers']} containers "
                     f"on {size['cores']} cores" + (f", {options}" if options else ""))
    return "; ".join(parts)


def params_of(args: argparse.Namespace) -> Any:
    """The experiment's parameters: the command line's, else the size of SIZES."""
    from cofferos.sim.isolation import check_option_names, experiment, options_of
    from cofferos.sim.isolation.common import ExperimentParams

    sizes = (QUICK_SIZES.get(args.name, QUICK_DEFAULT) if args.quick
             else SIZES.get(args.name, {}))
    fields = {"containers": None, "cores": None, **sizes, "seed": args.seed,
              "costs": tuple(args.cost)}
    fields["options"] = {**sizes.get("options", {}), **dict(args.settings)}
    for key in ("kernels", "containers", "cores"):
        if getattr(args, key):
            fields[key] = tuple(args.kernels) if key == "kernels" else getattr(args, key)
    params = ExperimentParams(**fields)
    module = experiment(args.name)
    check_option_names(params, options_of(module))
    if hasattr(module, "check"):
        module.check(params.resolved(getattr(module, "DEFAULTS", {})))
    return params


def plan_of(args: argparse.Namespace) -> list[tuple[Any, tuple[Any, ...]]]:
    from cofferos.sim import sensitivity as s

    if args.vary:
        return [s.parse_vary(text, args.cost) for text in args.vary]
    levels = tuple(s.Level(factor=f) for f in s.FACTORS)
    constants = s.estimated(args.cost)
    if args.quick:
        constants = [s.named(name, args.cost) for name in QUICK_CONSTANTS]
    return [(constant, levels) for constant in constants]


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from cofferos.results.manifest import manifest
    from cofferos.results.outputs import check_directory, check_file, write_text
    from cofferos.sim import sensitivity as s

    plan = plan_of(args)
    if args.list:
        for constant, levels in plan:
            base = "per architecture" if constant.base is None else f"{constant.base:g}"
            print(f"{constant.name}\t{base}\t{':'.join(level.label for level in levels)}")
        return 0
    params = params_of(args)
    if args.docs:
        check_file(args.docs, "--docs", stdout=False)
    out = check_directory(args.out or Path(DEFAULT_OUT) / f"sensitivity-{args.name}", "--out")
    runs = sum(len(levels) for _c, levels in plan) + 1
    print(f"[sensitivity] {args.name}: {len(plan)} constants, {runs} runs at most "
          "(only the parts of a run that read a constant run again), "
          f"kernels {','.join(params.kernels)}, containers {params.containers or 'default'}, "
          f"cores {params.cores or 'default'}, {args.jobs} at once", file=sys.stderr, flush=True)
    started, cpu_before = time.perf_counter(), _cpu_seconds()

    def progress(done: int, total: int, label: str) -> None:
        print(f"  [{done}/{total}] {label} ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr, flush=True)

    from cofferos.sim.sensitivity_runs import run_sensitivity

    base, rows, ran = run_sensitivity(args.name, params, plan, args.jobs, progress)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    lines = s.conclusions(args.name, base, rows)
    command = ["coffersim", *getattr(args, "argv", [])]
    setup = {"experiment": args.name, "kernels": list(params.kernels),
             "containers": base.configuration.get("containers"),
             "cores": base.configuration.get("cores"), "seed": params.seed,
             "options": dict(params.options), "cost": list(params.costs),
             "factors": list(s.FACTORS), "move_threshold": s.MOVE, "jobs": args.jobs,
             "parts": ran["parts"], "part_runs": ran["part_runs"],
             "base_part_cpu_seconds": ran["base_part_cpu_seconds"],
             "host_seconds": round(seconds, 1), "host_cpu_seconds": round(cpu, 1)}
    report = {"configuration": setup, "rows": rows, "conclusions": lines, "reads": ran["reads"],
              "base_finding": base.finding, "base_verdicts": s.verdicts(args.name, base),
              "base_table": s.plain_rows(base.shown)}
    text = report_text(report)
    try:
        write_text(out / "sensitivity.json", json.dumps(report, indent=2) + "\n",
                   option="--out")
        write_text(out / "sensitivity.txt", text + "\n", option="--out")
        write_text(out / "manifest.json",
                   json.dumps(manifest(command, setup), indent=2) + "\n", option="--out")
    except OSError as error:
        raise ConfigError(f"--out {out}: cannot write: {error.strerror or error}") from None
    print(f"wrote {out}/sensitivity.json, sensitivity.txt, manifest.json "
          f"({seconds:.0f} s of host time, {cpu:.0f} CPU-s)", file=sys.stderr)
    if args.docs:
        _write_docs(Path(args.docs), args.name, report, command)
    print(json.dumps(report, indent=2) if args.json else text)
    return 0


def _write_docs(docs: Path, name: str, report: dict[str, Any], command: list[str]) -> None:
    from cofferos.results.outputs import write_text
    from cofferos.sim.sensitivity_report import markdown, with_section

    page = docs.read_text() if docs.is_file() else ""
    write_text(docs, with_section(page, name, markdown(report, command)), option="--docs")
    print(f"wrote the {name} section of {docs}", file=sys.stderr)


def _cpu_seconds() -> float:
    """Host CPU seconds used so far by this process and its finished workers (what the
    runs cost, however busy the host: the time on idle cores is this over --jobs)."""
    import resource

    return sum(usage.ru_utime + usage.ru_stime for usage in (
        resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


def report_text(report: dict[str, Any]) -> str:
    """The tables the command prints: one line per constant x level, then conclusions."""
    from cofferos.results.tables import format_table, terminal_width

    setup = report["configuration"]
    head = (f"{setup['experiment']}: kernels {','.join(setup['kernels'])}, "
            f"{setup['containers']} containers on {setup['cores']} cores, "
            f"seed {setup['seed']}, options {setup['options'] or '-'}, "
            f"cost {' '.join(setup['cost']) or 'default'}; {len(report['rows'])} levels, "
            f"{len(setup['parts'])} parts per run, {setup['part_runs']} part runs beside "
            f"the base's; {setup['host_seconds']:.0f} s of host time, "
            f"{setup['host_cpu_seconds']:.0f} CPU-s")
    columns = ["constant", "base", "level", "flipped", "conclusion", "moved", "largest move"]
    cells = [[r["constant"], "-" if r["base"] is None else f"{r['base']:g}", r["level"],
              ", ".join(r["flipped"]) or "-",
              "changed" if r["conclusion_changed"] else "-",
              UNCHANGED if r["unused"] else len(r["moved"]),
              (f"{r['largest_move']}: {r['largest_change']:+.0%}"
               if r["largest_move"] and r["largest_change"] else "-")]
             for r in report["rows"]]
    width = terminal_width()
    held = [c for c in report["conclusions"] if c["holds"]]
    broken = [c for c in report["conclusions"] if not c["holds"]]
    parts = [head, "", format_table(columns, cells, width), "",
             f"Conclusions that hold across the whole range ({len(held)}):"]
    parts += [f"  {c['conclusion']} ({c['base']})" for c in held] or ["  none"]
    parts += ["", f"Conclusions that do not ({len(broken)}):"]
    parts += [f"  {c['conclusion']} ({c['base']}): flips under "
              f"{', '.join(c['flips_under'])}" for c in broken] or ["  none"]
    return "\n".join(parts)
