"""The sweep commands of ``coffersim``: ``sweep`` runs a design space, ``results show`` reads it.

    coffersim sweep SPEC.toml [--out DIR] [--jobs N] [--executor local|dask://HOST:PORT]
                              [--timeout S]
    coffersim results show DIR

:mod:`cofferos.cli` owns the parser; this module adds the subcommands
(:func:`add_parsers`) and runs them (:func:`run`), calling
:mod:`cofferos.sim.sweeps.run` and :mod:`cofferos.results.sweeps` (docs/sweeps.md).
Progress goes to stderr (a tqdm bar with the points done, failed and an ETA),
tables to stdout: one line per point with every parameter, the headline metrics
(``failed_containers``; ``isolation_score`` when measured) and a failed point's
error (shortened). ``results show`` reads any result directory
(:mod:`cofferos.results.resultdir`): a compare's prints the compare table, an
experiment's its table and finding. Every user error is one line on stderr and
exit status 2; a result file that was skipped is a one-line warning on stderr; a
sweep with a failed point exits 1; an interrupted sweep exits 130.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cofferos.cli_args import bounded
from cofferos.errors import SimError

EXIT_FAILED_POINTS = 1
EXIT_INTERRUPTED = 130  #: 128 + SIGINT, as a shell reports Ctrl-C
DEFAULT_RESULTS_DIR = "results"
#: Headers the summary table gives the metrics of cofferos.results.sweeps.SUMMARY_METRICS.
METRIC_HEADERS = {"throughput_per_container": "ops/s per container", "p99_us": "p99 us",
                  "simulated_seconds": "sim s", "failed_containers": "failed containers",
                  "isolation_score": "isolation score"}
COUNT_METRICS = ("failed_containers",)  #: shown as whole numbers
SIGNIFICANT_DIGITS = 4  #: how many digits the summary table shows of a measurement
ERROR_WIDTH = 60  #: a failed point's error is cut to this many characters in the summary
ELLIPSIS = "..."


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text}")
    return value


def _default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``sweep`` and ``results show`` to the ``coffersim`` subcommands."""
    sweep = sub.add_parser(
        "sweep", help="run a design-space sweep described by a TOML spec",
        description="Run every point of SPEC.toml (docs/sweeps.md), each in its own process; "
                    "finished points are kept, so running the same command again resumes.")
    sweep.add_argument("spec", metavar="SPEC.toml", help="the sweep specification")
    sweep.add_argument("--out", metavar="DIR",
                       help=f"result directory (default {DEFAULT_RESULTS_DIR}/<spec name>)")
    sweep.add_argument("--jobs", type=bounded("jobs"), default=_default_jobs(), metavar="N",
                       help="points run at once by the local executor (default: usable CPUs)")
    sweep.add_argument("--executor", default="local", metavar="local|dask://HOST:PORT",
                       help="where points run: local processes (default) or a Dask cluster")
    sweep.add_argument("--timeout", type=_seconds, metavar="S",
                       help="host seconds allowed per point (default: the spec's timeout_s)")
    sweep.add_argument("--force", action="store_true",
                       help="run even when DIR holds the results of a different spec (its "
                            "points are added beside the other spec's)")

    results = sub.add_parser("results", help="inspect result directories",
                             description="Inspect what coffersim sweep, compare --out or "
                                         "experiment wrote.")
    actions = results.add_subparsers(dest="results_command", metavar="ACTION",
                                     parser_class=parser_class)
    show = actions.add_parser(
        "show", help="print a result directory (sweep, compare, experiment)",
        description="Print the result directory DIR: one line per point of a sweep, the "
                    "table of a compare, the table and finding of an experiment.")
    show.add_argument("directory", metavar="DIR",
                      help="a directory written by coffersim sweep, compare --out or experiment")
    show.add_argument("--json", action="store_true",
                      help="print one object per point, every digit kept, instead of the table")


def run(args: argparse.Namespace) -> int:
    """Run ``sweep`` or ``results show``; a SimError is one line on stderr and exit 2."""
    try:
        if args.command == "sweep":
            return cmd_sweep(args)
        if getattr(args, "results_command", None) == "show":
            return cmd_show(args)
        raise SimError("results: which action? coffersim results show DIR")
    except SimError as err:
        print(f"coffersim: error: {err}", file=sys.stderr)
        return err.exit_status


def _cell(value: Any, whole: bool = False, digits: int | None = SIGNIFICANT_DIGITS) -> Any:
    """A table value as a plain Python value: NaN as None (shown ``-``), a float to
    ``digits`` significant digits (None: as it is), or an int when ``whole``."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if whole and value.is_integer():
            return int(value)
        return value if digits is None else float(f"{value:.{digits}g}")
    return value


def _short(error: Any) -> str:
    """A failed point's error on one line of at most ERROR_WIDTH characters."""
    text = " ".join(str(error).split()) if isinstance(error, str) else ""
    if len(text) <= ERROR_WIDTH:
        return text
    return text[:ERROR_WIDTH - len(ELLIPSIS)] + ELLIPSIS


def summary_table(table: Any) -> str:
    """The one-line-per-point table of a sweep's tidy results: every parameter, the headline
    metrics (``failed_containers``, and ``isolation_score`` when a probe measured it) and,
    last, the error of a failed point (shortened to ERROR_WIDTH characters)."""
    from cofferos.results import format_table
    from cofferos.results.repeat_means import has_repeats
    from cofferos.results.sweeps import PARAMETERS, summary, summary_metrics

    points = summary(table)
    metrics = summary_metrics(table)
    params = [p for p in PARAMETERS if p in points.columns]
    columns = ["point", "status", *params, *metrics]
    headers = [*columns[:-len(metrics)], *(METRIC_HEADERS.get(m, m) for m in metrics),
               "error"]
    errors = points["error"] if "error" in points.columns else [""] * len(points)
    rows = [(*(_cell(row[c], whole=c in COUNT_METRICS) for c in columns), _short(error))
            for (_, row), error in zip(points.iterrows(), errors, strict=True)]
    text = format_table(headers, rows)
    return text + ("\n\n" + means_table(table) if has_repeats(table) else "")


def means_table(table: Any) -> str:
    """One line per configuration of a sweep with repeats: the parameters that differ
    between configurations, the repeats that finished (n) and failed, and each headline
    metric's mean +- the half-width of its 95% confidence interval (Student t;
    :mod:`cofferos.results.repeat_means`)."""
    from cofferos.results import format_table
    from cofferos.results.repeat_means import CI_SUFFIX, COUNT, FAILED, means
    from cofferos.results.sweeps import summary_metrics

    found = means(table)
    metrics = summary_metrics(table)
    params = [c for c in found.columns if c not in (COUNT, FAILED) and c not in metrics
              and not c.endswith(CI_SUFFIX)]
    varying = [c for c in params if found[c].nunique(dropna=False) > 1]
    params = varying or params[:1]  # what tells the configurations apart (else the workload)
    headers = [*params, COUNT, FAILED, *(METRIC_HEADERS.get(m, m) for m in metrics)]
    rows = [(*(_cell(row[c]) for c in params), int(row[COUNT]), int(row[FAILED]),
             *(_mean_ci(row[m], row[m + CI_SUFFIX]) for m in metrics))
            for _, row in found.iterrows()]
    return (f"Means over each configuration's repeats (seed, repeat) {PLUS_MINUS} the "
            "half-width of their 95% confidence interval (Student t):\n"
            + format_table(headers, rows))


PLUS_MINUS = "+-"  #: between a mean and its interval's half-width (plain ASCII)


def _mean_ci(mean: Any, half: Any) -> str | None:
    from cofferos.results.tables import number_text

    mean, half = _cell(mean, digits=None), _cell(half, digits=None)
    if mean is None:
        return None
    return f"{number_text(mean)} {PLUS_MINUS} {number_text(half)}"


def compare_table(table: Any) -> str:
    """A compare directory's table as ``coffersim compare`` printed it."""
    from cofferos.cli_timing import TABLE_COLUMNS, table_row
    from cofferos.results import format_table
    from cofferos.results.sweeps import point_metrics

    rows = [defaultdict(lambda: None,  # a metric a run had no value of (no latency): "-"
                        {key: _cell(value, digits=None) for key, value in row.items()})
            for row in point_metrics(table).to_dict("records")]
    return format_table(TABLE_COLUMNS, [table_row(row) for row in rows])


def experiment_table(directory: str) -> str:
    """An experiment directory's table and finding as ``coffersim experiment`` printed them."""
    from cofferos.cli_experiment import table_text
    from cofferos.sim.isolation.common import load

    return table_text(load(directory))


def warnings_to_stderr(call: Callable[[], Any]) -> Any:
    """``call()``; each SweepWarning it gives is printed as one line on stderr (any other
    warning is shown as usual)."""
    from cofferos.results.sweeps import SweepWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SweepWarning)
        result = call()
    for warning in caught:
        if issubclass(warning.category, SweepWarning):
            print(f"coffersim: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    return result


def _progress_bar(total: int) -> tuple[Any, Any]:
    from tqdm import tqdm

    bar = tqdm(total=total, unit="point", file=sys.stderr, dynamic_ncols=True)
    failed = 0

    def advance(record: dict[str, Any]) -> None:
        nonlocal failed
        failed += record["status"] != "ok"
        bar.set_postfix(failed=failed, refresh=False)
        bar.update(1)
    return bar, advance


def cmd_sweep(args: argparse.Namespace) -> int:
    from cofferos.results.sweeps import frame
    from cofferos.sim.sweeps import dirlock as sweep_lock
    from cofferos.sim.sweeps import spec as sweep_spec
    from cofferos.sim.sweeps.run import check_options, run_sweep

    spec = sweep_spec.load(args.spec)
    check_options(args.jobs, args.executor, args.timeout)
    if args.executor == "local" and spec.points:  # (a Dask cluster's memory is its own)
        from cofferos.memory import check_sweep_fits

        check_sweep_fits([p["config"]["containers"] for p in spec.points], args.jobs)
    out = Path(args.out) if args.out else Path(DEFAULT_RESULTS_DIR, spec.name)
    sweep_lock.check(out, spec.text, args.force)  # one line, before the progress bar
    bar, advance = _progress_bar(len(spec.points))
    command = ["coffersim", *(getattr(args, "argv", None) or ["sweep", args.spec])]
    try:
        outcome = run_sweep(spec, out, jobs=args.jobs, executor=args.executor, progress=advance,
                            timeout_s=args.timeout, command=command, force=args.force)
    finally:
        bar.close()
    done = [r for r in outcome.records.values() if r is not None]
    if done:
        print(summary_table(frame(done)))
    total = len(outcome.records)
    if outcome.interrupted:
        print(f"coffersim: interrupted: {outcome.done} of {total} points done, kept in {out}; "
              f"run the same command again to finish", file=sys.stderr)
        return EXIT_INTERRUPTED
    for path in outcome.paths:
        print(f"wrote {path}", file=sys.stderr)
    if outcome.failed:
        first = next(r for r in done if r["status"] != "ok")
        print(f"coffersim: {outcome.failed} of {total} points failed (first: {first['id']}: "
              f"{first['error']})", file=sys.stderr)
        return EXIT_FAILED_POINTS
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print a result directory as the command that wrote it printed it: one line per point
    of a sweep, the table of a compare, the table and finding of an experiment."""
    from cofferos.results import resultdir
    from cofferos.results.sweeps import load

    kind = resultdir.kind_of(args.directory)
    if resultdir.experiment_name(kind):
        if args.json:  # the experiment's rows, every digit kept
            from cofferos.results.records import plain
            from cofferos.sim.isolation.common import load as load_experiment

            print(json.dumps(plain(load_experiment(args.directory).rows), indent=2))
        else:
            print(experiment_table(args.directory))
        return 0
    table = warnings_to_stderr(lambda: load(args.directory))
    if table.empty:
        print(f"coffersim: {args.directory} has no points", file=sys.stderr)
    if args.json:
        from cofferos.results.sweeps import summary

        print(summary(table).to_json(orient="records", indent=2) if not table.empty else "[]")
        return 0
    print(compare_table(table) if kind == resultdir.COMPARE and not table.empty
          else summary_table(table))
    return 0
