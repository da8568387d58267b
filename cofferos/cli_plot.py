"""The ``coffersim plot`` command: a figure of a result directory.

    coffersim plot DIR [--kind throughput|speedup|breakdown|latency|tradeoff|density|figure]
                   [--x PARAM] [--hue PARAM] [-o FILE.png|.svg|.pdf]
    coffersim plot --kind timeline FILE.json [-o FILE.png|.svg|.pdf]

:mod:`cofferos.cli` owns the parser; this module adds the subcommand and its
handler. DIR is any result directory (:mod:`cofferos.results.resultdir`), and its
``kind`` says which figures fit it (the first is the default):

* a sweep's or a compare's: the tidy table (``cofferos.results.sweeps.load``) drawn
  by :mod:`cofferos.results.figures` (throughput, speedup, breakdown, latency; a
  sweep also tradeoff, and for an agents sweep density);
* an experiment's: its own figure (``figure``, drawn again from its rows by the
  experiment's ``redraw``; for the tradeoff experiment also ``tradeoff``).

With ``--kind timeline`` the argument is a ``--timeline FILE.json`` of run, compare or
experiment instead: one row per simulated core (:mod:`cofferos.results.timeline`).

Every user error (DIR missing or not a result directory, a kind that does not fit
it, a bad ``--x``/``--hue``, a bad suffix, an output that cannot be written) is one
line on stderr and exit status 2; a result file that was skipped (a corrupt
results.parquet when the point records are there) is a one-line warning.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cofferos.errors import ConfigError, SimError

if TYPE_CHECKING:
    import pandas

#: Kept in step with cofferos.results.figures.KINDS and resultdir.OWN_FIGURE (not imported:
#: matplotlib is slow to load).
KINDS = ("throughput", "speedup", "breakdown", "latency", "tradeoff", "density", "figure",
         "timeline")
TIMELINE = "timeline"  #: the kind that draws a --timeline file, not a result directory
DEFAULT_SUFFIX = ".png"
TABLE_FILES = ("results.parquet", "results.csv")
VALIDATE = "validate"  #: the experiment kind coffersim validate writes (cofferos.cli_validate)


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``plot`` to the ``coffersim`` subcommands (``sub`` from ``add_subparsers``).

    ``parser_class`` is the CLI's parser class (one-line errors, exit status 2), for nested
    subcommands; ``plot`` has none, and gets the class from ``sub`` like every subcommand.
    """
    plot = sub.add_parser(
        "plot", help="draw a figure of a result directory (sweep, compare, experiment)",
        description="Draw one figure from the result directory coffersim sweep, compare or "
                    "experiment wrote to DIR: throughput per container, speedup over linux, "
                    "CPU breakdown, latency CDFs, the isolation/performance trade-off, agent "
                    "density against isolation, or an experiment's own figure.")
    plot.add_argument("directory", metavar="DIR",
                      help="a result directory (coffersim sweep, compare --out, experiment); "
                           "for --kind timeline a --timeline FILE.json")
    plot.add_argument("--kind", choices=KINDS,
                      help="which figure to draw (default: throughput for a sweep or a "
                           "compare, an experiment's own figure, tradeoff for the tradeoff "
                           "experiment; timeline: one row per core of a --timeline file)")
    plot.add_argument("--x", metavar="PARAM",
                      help="parameter on the x axis, e.g. containers (default), kernel, args")
    plot.add_argument("--hue", metavar="PARAM",
                      help="parameter that makes one line or bar group per value "
                           "(default kernel)")
    plot.add_argument("-o", "--output", metavar="FILE",
                      help="the figure, .png, .svg or .pdf (default DIR/KIND.png)")


def load_table(directory: str | Path) -> pandas.DataFrame:
    """The tidy table of a sweep's or compare's ``directory``; ConfigError when it is
    missing or has none."""
    import pandas

    path = Path(directory)
    if not path.is_dir():
        raise ConfigError(f"{directory}: no such directory")
    try:
        try:
            from cofferos.results.sweeps import load
        except ImportError:
            table = _read_table(path)
        else:
            from cofferos.cli_sweep import warnings_to_stderr

            table = warnings_to_stderr(lambda: load(path))
    except (OSError, ValueError, KeyError, pandas.errors.ParserError) as err:
        raise ConfigError(f"{directory}: cannot read the sweep results: {err}") from err
    if table.empty:
        raise ConfigError(f"nothing to plot: {directory} has no points")
    return table


def _read_table(path: Path) -> pandas.DataFrame:
    """results.parquet, else results.csv (used when cofferos.results.sweeps is missing)."""
    import pandas

    parquet, csv = (path / name for name in TABLE_FILES)
    if parquet.is_file():
        return pandas.read_parquet(parquet)
    if csv.is_file():
        return pandas.read_csv(csv, keep_default_na=False, na_values={"value": ["nan", ""]})
    raise ConfigError(f"{path}: no sweep results here (no {' or '.join(TABLE_FILES)})")


def figure_kind(kind: str, asked: str | None, directory: str) -> str:
    """The figure to draw of a directory of ``kind``: ``asked``, or its default; a
    ConfigError when ``asked`` does not fit the directory."""
    from cofferos.results import resultdir

    fitting = resultdir.figure_kinds(kind)
    if asked is None:
        return fitting[0]
    if asked not in KINDS:  # (argparse checks the command line; this, callers from Python)
        raise ConfigError(f"unknown plot kind {asked!r}; choose one of: {', '.join(fitting)}")
    if asked not in fitting:
        raise ConfigError(f"--kind {asked} does not fit {directory} "
                          f"({resultdir.describe(kind)}); choose one of: {', '.join(fitting)}")
    return asked


def _experiment_figure(directory: str, args: argparse.Namespace) -> Path:
    """An experiment's own figure, drawn again from the rows in its directory."""
    from cofferos.results.outputs import check_figure
    from cofferos.results.plot import draw_to, output_path
    from cofferos.sim.isolation import experiment
    from cofferos.sim.isolation.common import load

    if args.x or args.hue:
        raise ConfigError("--x and --hue apply to sweep and compare figures; an experiment's "
                          "figure has its own axes")
    result = load(directory)
    if result.name == VALIDATE:  # (coffersim validate's directory: not an isolation experiment)
        from cofferos.results.validate_figure import plot_validation, points_from_rows

        out = output_path(args.output or Path(directory, VALIDATE + DEFAULT_SUFFIX))
        check_figure(out, "")
        return plot_validation(points_from_rows(result.rows), out)
    module = experiment(result.name)
    if not hasattr(module, "redraw"):
        raise ConfigError(f"the {result.name} experiment cannot draw its figure from a "
                          f"directory (it has no redraw)")
    out = output_path(args.output or Path(directory, result.name + DEFAULT_SUFFIX))
    check_figure(out, "")
    return draw_to(lambda file: module.redraw(result, file), out)


def _timeline_figure(args: argparse.Namespace) -> Path:
    """``--kind timeline FILE.json``: the cores of a --timeline file, default FILE.png."""
    from cofferos.results import timeline
    from cofferos.results.outputs import check_figure

    if args.x or args.hue:
        raise ConfigError("--x and --hue apply to sweep and compare figures; a timeline's "
                          "axes are simulated time and the cores")
    source = Path(args.directory)
    out = args.output or source.with_suffix(DEFAULT_SUFFIX)
    check_figure(out, "")
    doc = timeline.load(source)
    return timeline.draw(doc, out, title=source.name)


def run(args: argparse.Namespace) -> int:
    """Draw the figure; print where it went. A user error: one line on stderr, status 2."""
    try:
        from cofferos.results import resultdir
        from cofferos.results.outputs import check_figure

        if args.kind == TIMELINE:
            print(_timeline_figure(args))
            return 0
        kind = resultdir.kind_of(args.directory)
        chosen = figure_kind(kind, args.kind, args.directory)
        if resultdir.experiment_name(kind):
            path = _experiment_figure(args.directory, args)
        else:
            from cofferos.results.figures import plot_sweep

            out = args.output or Path(args.directory, chosen + DEFAULT_SUFFIX)
            check_figure(out, "")  # "cannot write OUT: why", before the table is read
            table = load_table(args.directory)
            path = plot_sweep(table, chosen, x=args.x, hue=args.hue, out=out)
    except SimError as err:
        print(f"coffersim: error: {err}", file=sys.stderr)
        return err.exit_status
    print(path)
    return 0
