"""The ``coffersim plot`` command: figures of a sweep's results directory.

    coffersim plot DIR --kind throughput|speedup|breakdown|latency|tradeoff
                   [--x PARAM] [--hue PARAM] [-o FILE.png|.svg|.pdf]

:mod:`cofferos.cli` owns the parser; this module adds the subcommand and its
handler, which reads DIR's tidy table (``cofferos.results.sweeps.load``) and
draws it with :mod:`cofferos.results.figures`. Every user error (DIR missing, not
a sweep or without points, an unreadable table, an unknown kind, a bad
``--x``/``--hue``, a bad suffix, an output that cannot be written) is one line on
stderr and exit status 2; a result file that was skipped (a corrupt
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

#: Kept in step with cofferos.results.figures.KINDS (not imported: matplotlib is slow to load).
KINDS = ("throughput", "speedup", "breakdown", "latency", "tradeoff")
DEFAULT_SUFFIX = ".png"
TABLE_FILES = ("results.parquet", "results.csv")


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``plot`` to the ``coffersim`` subcommands (``sub`` from ``add_subparsers``).

    ``parser_class`` is the CLI's parser class (one-line errors, exit status 2), for nested
    subcommands; ``plot`` has none, and gets the class from ``sub`` like every subcommand.
    """
    plot = sub.add_parser(
        "plot", help="draw a figure of a sweep's results directory",
        description="Draw one figure from the results coffersim sweep wrote to DIR: "
                    "throughput per container, speedup over linux, CPU breakdown, latency "
                    "CDFs or the isolation/performance trade-off.")
    plot.add_argument("directory", metavar="DIR", help="a coffersim sweep results directory")
    plot.add_argument("--kind", required=True, choices=KINDS, help="which figure to draw")
    plot.add_argument("--x", metavar="PARAM",
                      help="parameter on the x axis, e.g. containers (default), kernel, args")
    plot.add_argument("--hue", metavar="PARAM",
                      help="parameter that makes one line or bar group per value "
                           "(default kernel)")
    plot.add_argument("-o", "--output", metavar="FILE",
                      help="the figure, .png, .svg or .pdf (default DIR/KIND.png)")


def load_table(directory: str | Path) -> pandas.DataFrame:
    """The sweep table of ``directory``; ConfigError when it is missing or not a sweep."""
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


def run(args: argparse.Namespace) -> int:
    """Draw the figure; print where it went. A user error: one line on stderr, status 2."""
    try:
        from cofferos.results.outputs import check_figure

        out = args.output or Path(args.directory, args.kind + DEFAULT_SUFFIX)
        if Path(args.directory).is_dir():  # a missing DIR is load_table's error to report
            check_figure(out, "")  # "cannot write OUT: why"
        from cofferos.results.figures import plot_sweep

        table = load_table(args.directory)
        path = plot_sweep(table, args.kind, x=args.x, hue=args.hue, out=out)
    except SimError as err:
        print(f"coffersim: error: {err}", file=sys.stderr)
        return err.exit_status
    print(path)
    return 0
