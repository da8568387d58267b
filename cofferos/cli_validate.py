"""``coffersim validate``: the lock model's scaling against published scalability results.

    coffersim validate [--quick] [--cores N | --workers 1,8,40] [--kernels K,...]
                       [--workloads W,...] [--iterations N] [--placements one,many]
                       [--jobs N] [--cost NAME=VALUE]... [--sensitivity] [--out DIR]
                       [--json]

Runs :func:`cofferos.sim.validate.run_validation` (progress on stderr), prints one row
per workload x kernel x placement (throughput at N workers as a fraction of linear,
the verdict, the bottleneck lock, the published verdict and whether they agree)
and a count of the judged rows that agree, and writes the result directory
(``results.parquet``/``.csv``, ``points/``, ``manifest.json`` of kind
``experiment:validate``) with ``validate.png``, the scaling curves. Exit status 0.

With ``--sensitivity`` it then runs each curve again with each lock constant it takes
x0.5 and x2 (sim/validate_sensitivity.py) and judges each again: it prints the rows
whose verdict, bottleneck or agreement flips, and each published gain both of whose
kernels ran (sim/validate_gain.py) as judged under each constant and factor, with the
unvaried figures beside them, and writes ``sensitivity.csv`` (every variation) and
``sensitivity-gains.csv`` (every re-judged gain, when there is one). With ``--json``
these are a second JSON document, ``{"variations": [...], "gains": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cofferos.errors import ConfigError

DEFAULT_OUT = "results/validate"
DEFAULT_JOBS = 2  #: the two cores of the development machine
FIGURE = "validate.png"
SENSITIVITY = "sensitivity.csv"
SENSITIVITY_GAINS = "sensitivity-gains.csv"
#: --cores N: the curve's worker counts, 1, N / CURVE_STEP and N (as FxMark's plots
#: sample 1 to 80 cores).
CURVE_STEP = 5


def add_parsers(sub: Any) -> None:
    from cofferos.cli_args import bounded, kernel_name, positive
    from cofferos.sim.validate_sizes import (
        DEFAULT_ITERATIONS,
        DEFAULT_KERNELS,
        DEFAULT_WORKERS,
        QUICK_ITERATIONS,
        QUICK_WORKERS,
    )

    parser = sub.add_parser(
        "validate", help="the lock model's scaling against published results (FxMark, "
                         "will-it-scale)",
        description="Run the FxMark microbenchmarks, will-it-scale loops and (when named) "
                    "an Exim-like MOSBENCH delivery loop with 1 to N "
                    "workers, in one container "
                    "and as N containers, under each kernel; print the predicted verdict "
                    "(scales / saturates / collapses) and bottleneck lock beside the "
                    "published finding (docs/timing.md, Validation).")
    parser.add_argument("--quick", action="store_true",
                        help="four workloads, linux:4.2 one container and cofferos N "
                             f"containers, {' and '.join(map(str, QUICK_WORKERS))} workers, "
                             f"{QUICK_ITERATIONS} operations: about a minute, for CI")
    parser.add_argument("--cores", type=bounded("cores"), metavar="N",
                        help=f"the largest worker count N; the curve is 1, N/{CURVE_STEP}, N "
                             f"(default {','.join(map(str, DEFAULT_WORKERS))})")
    parser.add_argument("--workers", type=_counts, metavar="1,8,40",
                        help="the worker counts of the curve, explicitly")
    parser.add_argument("--kernels", type=_kernels(kernel_name), metavar="K,...",
                        help="kernels, each in every placement (default: linux:4.2 and "
                             f"linux as one container, cofferos as N; with --placements: "
                             f"{','.join(DEFAULT_KERNELS)})")
    parser.add_argument("--workloads", type=_names, metavar="W,...",
                        help="validation workloads, e.g. fxmark:MWCM, wis:open3 or "
                             "mosbench:exim (default: all 18 FxMark and 7 will-it-scale)")
    parser.add_argument("--iterations", type=positive, metavar="N",
                        help=f"operations per worker (default {DEFAULT_ITERATIONS})")
    parser.add_argument("--placements", type=_placements, metavar="one,many",
                        help="one container of N workers and/or N containers of one, "
                             "under every kernel (default: as --kernels says)")
    parser.add_argument("--jobs", type=positive, default=DEFAULT_JOBS, metavar="N",
                        help=f"points run at once, each in its own process (default "
                             f"{DEFAULT_JOBS})")
    parser.add_argument("--cost", action="append", default=[], metavar="NAME=VALUE",
                        help="override a cost or lock constant, as for run (repeatable)")
    parser.add_argument("--sensitivity", action="store_true",
                        help="then run again with each lock constant the workloads take "
                             "x0.5 and x2 and report which verdicts, bottlenecks, "
                             "agreements and published gains flip (slow: see "
                             "docs/timing.md)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"the result directory (default {DEFAULT_OUT})")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of worker counts: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"worker counts must be at least 1: {text!r}")
    return tuple(sorted(set(counts)))


def _kernels(one: Any) -> Any:
    def convert(text: str) -> tuple[str, ...]:
        return tuple(one(part) for part in text.split(","))
    convert.__name__ = "kernel list"
    return convert


def _names(text: str) -> tuple[str, ...]:
    from cofferos.sim.validate import program

    names = tuple(part.strip() for part in text.split(","))
    try:
        for name in names:
            program(name)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return names


def _placements(text: str) -> tuple[str, ...]:
    from cofferos.sim.validate import PLACEMENTS

    parts = tuple(part.strip() for part in text.split(","))
    for part in parts:
        if part not in PLACEMENTS:
            raise argparse.ArgumentTypeError(
                f"unknown placement {part!r}; choose from {', '.join(PLACEMENTS)}")
    return parts


def config_from(args: argparse.Namespace) -> Any:
    """The ValidateConfig that the options describe (--quick first, options over it)."""
    from cofferos.sim import validate as v
    from cofferos.sim import validate_sizes as sizes
    from cofferos.timing import kernel_costs

    kernel_costs(args.cost)  # a bad --cost is a usage error now, not after the runs
    if args.workers and args.cores:
        raise ConfigError("--workers and --cores both give the curve: choose one")
    quick = args.quick
    workers = args.workers or (
        tuple(sorted({1, max(args.cores // CURVE_STEP, 1), args.cores})) if args.cores
        else sizes.QUICK_WORKERS if quick else sizes.DEFAULT_WORKERS)
    series = v.QUICK_SERIES if quick else v.DEFAULT_SERIES
    if args.kernels or args.placements:  # every kernel in every placement given
        series = tuple((k, p) for k in args.kernels or sizes.DEFAULT_KERNELS
                       for p in args.placements or v.PLACEMENTS)
    return v.ValidateConfig(
        workloads=args.workloads or (v.QUICK_WORKLOADS if quick else v.DEFAULT_WORKLOADS),
        series=series, workers=workers,
        iterations=args.iterations or (sizes.QUICK_ITERATIONS if quick
                                       else sizes.DEFAULT_ITERATIONS),
        costs=tuple(args.cost), jobs=args.jobs)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _spinning(row: dict[str, Any]) -> str:
    """The row's spinning share, and the published one beside it where a finding gives it."""
    published = row.get("published_spinning")
    own = _percent(row["spinning"])
    return own if published is None else f"{own} (published {_percent(published)})"


def format_rows(rows: list[dict[str, Any]]) -> str:
    from cofferos.results.tables import format_table

    header = ("workload", "kernel", "placement", "N", "of linear", "verdict", "bottleneck",
              "spinning", "published", "agrees")
    body = [(r["workload"], r["kernel"], r["placement"], r["workers"][-1],
             _percent(r["of_linear"]), r["verdict"], r["bottleneck"], _spinning(r),
             r["published"] + (f" ({r['published_bottleneck']})"
                               if r["published_bottleneck"] else ""), r["agrees"])
            for r in rows]
    return format_table(header, body)


def _print_gains(rows: list[dict[str, Any]], costs: tuple[str, ...]) -> None:
    """The published gains of one change (sim/validate_gain.py) both of whose kernels ran."""
    from cofferos.sim.validate_gain import format_gains, judge_gains

    gains = judge_gains(rows, costs)
    if gains:
        print(format_gains(gains))


def cmd_validate(args: argparse.Namespace) -> int:
    from cofferos.results import resultdir
    from cofferos.results.manifest import manifest
    from cofferos.results.outputs import check_directory
    from cofferos.results.validate_figure import plot_validation
    from cofferos.sim.validate import rows_for, run_validation, summary

    config = config_from(args)
    check_directory(args.out, "--out")

    def progress(index: int, total: int, label: str) -> None:
        print(f"[{index}/{total}] {label}", file=sys.stderr, flush=True)

    points = run_validation(config, progress)
    rows = rows_for(points)
    counts = summary(rows)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(format_rows(rows))
        print(f"agree with the published finding: {counts['agree']} of {counts['judged']} "
              "judged rows (the others have no finding for that kernel and placement)")
        _print_gains(rows, config.costs)
    command = ["coffersim", "validate", *sys.argv[2:]]
    written = resultdir.write_result_dir(
        args.out, resultdir.experiment_kind("validate"), resultdir.rows_frame(rows),
        resultdir.row_records(rows), manifest(command, {"validate": config}))
    written.append(plot_validation(points, f"{args.out}/{FIGURE}"))
    if args.sensitivity:
        written.extend(_sensitivity(config, points, args, progress))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _sensitivity(config: Any, points: Any, args: argparse.Namespace, progress: Any) -> list[Any]:
    """Run and print the sensitivity rows and gains; write them as ``sensitivity.csv`` and
    (when a published gain's two kernels ran) ``sensitivity-gains.csv``."""
    from pathlib import Path

    from cofferos.results import resultdir
    from cofferos.results.outputs import open_output
    from cofferos.sim.validate_sensitivity import run_sensitivity

    rows, gains = run_sensitivity(config, points, progress)
    if args.json:
        print(json.dumps({"variations": rows, "gains": gains}, indent=1))
    else:
        print(format_sensitivity(rows, gains))
    written = []
    for name, table in ((SENSITIVITY, rows), (SENSITIVITY_GAINS, gains)):
        if table or name == SENSITIVITY:
            written.append(Path(args.out, name))
            with open_output(written[-1]) as handle:
                resultdir.rows_frame(table).to_csv(handle, index=False)
    return written


def format_sensitivity(rows: list[dict[str, Any]], gains: list[dict[str, Any]]) -> str:
    """The rows that flip (verdict, bottleneck or agreement) and every re-judged gain,
    flagged where its agreement flips, each with a count of the flips."""
    from cofferos.results.tables import format_table

    flips = [r for r in rows if r["flips"]]
    lines = [format_table(
        ("workload", "kernel", "placement", "constant", "x", "verdict", "bottleneck",
         "agrees", "unvaried"),
        [(r["workload"], r["kernel"], r["placement"], r["constant"], r["factor"],
          r["verdict"], r["bottleneck"], r["agrees"],
          f"{r['base_verdict']} / {r['base_bottleneck']} / {r['base_agrees']}")
         for r in flips]),
        f"flipped: {len(flips)} of {len(rows)} variations (verdict, bottleneck or agreement)"]
    if gains:
        lines.append(format_table(
            ("gain", "constant", "x", "gain", "agrees", "unvaried", "published", "flips"),
            [(f"{g['workload']} {g['variant_kernel']} over {g['base_kernel']}",
              g["constant"], g["factor"], f"{g['gain']:+.1%}", g["agrees"],
              f"{g['unvaried_gain']:+.1%} / {g['unvaried_agrees']}",
              f"{g['published_gain']:+.1%}", "FLIPS" if g["flips"] else "")
             for g in gains]))
        flipped = sum(1 for g in gains if g["flips"])
        lines.append(f"gains flipped: {flipped} of {len(gains)} variations (agreement)")
    return "\n".join(lines)
