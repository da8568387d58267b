"""Result directories: the one format of everything ``compare``, ``experiment`` and ``sweep`` write.

Every command that writes results writes the same kind of directory::

    DIR/results.parquet  the tidy table (sweep and compare: one row per point x container x
                         metric, the columns of cofferos.results.sweeps.COLUMNS; an
                         experiment: one row per row of its table)
    DIR/results.csv      the same table as CSV, for diff, grep and spreadsheets
    DIR/manifest.json    how it was made: ``kind``, the command, the resolved configuration,
                         the simulator's version, git commit and the host
    DIR/points/*.json    one record per point (an experiment: per row of its table)

``kind`` is ``sweep``, ``compare`` or ``experiment:NAME``; it says which figures
``coffersim plot`` can draw from the directory (:func:`figure_kinds`) and how
``coffersim results show`` prints it. :func:`kind_of` reads it back, and is the one
place that says what is not a result directory (a one-line ConfigError). Every JSON
file goes through :func:`cofferos.results.records.write_json` (atomic), every table
through :func:`write_table` (atomic). Nothing here imports matplotlib or the simulator.

    >>> figure_kinds("compare")
    ('throughput', 'speedup', 'breakdown', 'latency')
    >>> figure_kinds(experiment_kind("fault"))
    ('figure',)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cofferos.errors import ConfigError
from cofferos.results.outputs import make_directory, open_output
from cofferos.results.records import write_json

if TYPE_CHECKING:
    import pandas

PARQUET, CSV = "results.parquet", "results.csv"
MANIFEST = "manifest.json"
POINTS_DIR = "points"
KIND_KEY = "kind"  #: the manifest's field that names the kind of directory
SWEEP, COMPARE = "sweep", "compare"
EXPERIMENT_PREFIX = "experiment:"  # + the experiment's name
#: The figures ``coffersim plot`` draws from each kind of directory; the first is the default.
SWEEP_FIGURES = ("throughput", "speedup", "breakdown", "latency", "tradeoff", "density")
COMPARE_FIGURES = ("throughput", "speedup", "breakdown", "latency")
OWN_FIGURE = "figure"  #: an experiment's own figure (the one ``coffersim experiment`` draws)
TRADEOFF = "tradeoff"  #: the experiment whose own figure is the trade-off figure
ROW_ID_DIGITS = 5  #: an experiment row's record is points/<its index, zero-padded>.json


def experiment_kind(name: str) -> str:
    """The ``kind`` of the directory of experiment ``name``."""
    return f"{EXPERIMENT_PREFIX}{name}"


def experiment_name(kind: str) -> str | None:
    """The experiment a ``kind`` names (None: not an experiment's)."""
    return kind[len(EXPERIMENT_PREFIX):] if kind.startswith(EXPERIMENT_PREFIX) else None


def figure_kinds(kind: str) -> tuple[str, ...]:
    """The ``--kind`` values of ``coffersim plot`` that fit a directory of ``kind``."""
    if kind == SWEEP:
        return SWEEP_FIGURES
    if kind == COMPARE:
        return COMPARE_FIGURES
    return (TRADEOFF, OWN_FIGURE) if experiment_name(kind) == TRADEOFF else (OWN_FIGURE,)


def describe(kind: str) -> str:
    """A kind in words, for messages: ``a compare directory``, ``the fault experiment's``."""
    name = experiment_name(kind)
    return f"the {name} experiment's directory" if name else f"a {kind} directory"


# -- writing -------------------------------------------------------------------------------
def write_table(directory: str | os.PathLike[str], table: pandas.DataFrame) -> list[Path]:
    """Write ``table`` as results.parquet and results.csv, each by the output rules
    (:func:`cofferos.results.outputs.open_output`: atomic for a regular file); return the
    paths."""
    out = make_directory(directory)
    paths = []
    for name, binary, write in ((PARQUET, True, lambda f: table.to_parquet(f, index=False)),
                                (CSV, False, lambda f: table.to_csv(f, index=False))):
        target = out / name
        with open_output(target, binary=binary) as handle:
            write(handle)
        paths.append(target)
    return paths


def write_point(directory: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write one point record as ``points/<record["id"]>.json`` (atomically)."""
    path = Path(directory, POINTS_DIR, f"{record['id']}.json")
    write_json(path, record)
    return path


def write_manifest(directory: str | os.PathLike[str], kind: str,
                   run_manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` with ``kind`` as its first field."""
    path = Path(directory, MANIFEST)
    write_json(path, {KIND_KEY: kind, **{k: v for k, v in run_manifest.items()
                                         if k != KIND_KEY}})
    return path


def write_result_dir(directory: str | os.PathLike[str], kind: str, table: pandas.DataFrame,
                     records: Iterable[dict[str, Any]],
                     run_manifest: dict[str, Any]) -> list[Path]:
    """Write a whole result directory: the points, the table and the manifest (last, so a
    directory with a manifest is complete). Point records an earlier run left in
    ``points/`` are removed: the directory holds this result only (a sweep, which resumes,
    writes its points itself). Returns the paths (the points as their folder)."""
    out = Path(directory)
    ids = set()
    for record in records:
        write_point(out, record)
        ids.add(str(record["id"]))
    for stale in out.joinpath(POINTS_DIR).glob("*.json"):  # an earlier run's: not this result
        if stale.stem not in ids:
            stale.unlink()
    paths = [out / POINTS_DIR] if ids else []
    paths += write_table(out, table)
    paths.append(write_manifest(out, kind, run_manifest))
    return paths


# -- an experiment's rows as a table ------------------------------------------------------
def _column(values: Sequence[Any]) -> list[Any]:
    """One column of an experiment's rows, as Parquet can store it: numbers and booleans
    as they are, anything else (or a column that mixes kinds) as text; lists and mappings
    as JSON; None stays missing."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, bool) for v in present):
        return list(values)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return list(values)
    return [None if v is None else v if isinstance(v, str)
            else json.dumps(v) if isinstance(v, (list, dict)) else str(v) for v in values]


def rows_frame(rows: Sequence[dict[str, Any]]) -> pandas.DataFrame:
    """An experiment's rows as its tidy table: one row per row, one column per key (in the
    order they first appear)."""
    import pandas

    columns = list(dict.fromkeys(key for row in rows for key in row))
    return pandas.DataFrame({c: _column([row.get(c) for row in rows]) for c in columns},
                            columns=columns)


def row_records(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """An experiment's rows as point records: ``{"id": "00003", "row": {...}}``."""
    return [{"id": f"{index:0{ROW_ID_DIGITS}d}", "row": row} for index, row in enumerate(rows)]


# -- reading -------------------------------------------------------------------------------
def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of ``directory`` (None: missing or not a JSON object)."""
    try:
        manifest = json.loads(Path(directory, MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _is_point_record(file: Path) -> bool:
    try:
        record = json.loads(file.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and {"id", "status", "config"} <= record.keys()


def _looks_like_sweep(path: Path) -> bool:
    """A sweep that has not written its manifest yet (killed), or one written before
    manifests had a kind: a table, or a point record as a sweep writes it."""
    return (any((path / name).is_file() for name in (PARQUET, CSV))
            or any(map(_is_point_record, path.joinpath(POINTS_DIR).glob("*.json"))))


def kind_of(directory: str | os.PathLike[str]) -> str:
    """The kind of the result directory ``directory``; a one-line ConfigError when it is
    missing or not a result directory.

    A manifest's ``kind`` says it; a directory without one (a sweep written before kinds,
    or killed before its manifest) is a sweep when it has point records or a table.
    """
    path = Path(directory)
    if not path.is_dir():
        raise ConfigError(f"{directory}: no such directory")
    manifest = read_manifest(path) or {}
    kind = manifest.get(KIND_KEY)
    if isinstance(kind, str) and (kind in (SWEEP, COMPARE) or experiment_name(kind)):
        return kind
    if _looks_like_sweep(path):
        return SWEEP
    raise ConfigError(f"{directory}: not a result directory (no {MANIFEST} with a kind, no "
                      f"{PARQUET}, no {POINTS_DIR}/*.json); coffersim compare, experiment "
                      f"and sweep write one with --out")


def experiment_rows(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of an experiment's directory, exactly as written: from its point records,
    else (none readable) from results.parquet; a ConfigError when neither is there."""
    path = Path(directory)
    records = []
    files = path.joinpath(POINTS_DIR).glob("*.json")
    for file in sorted(files, key=lambda f: (len(f.stem), f.stem)):  # by row number
        try:
            record = json.loads(file.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("row"), dict):
            records.append(record["row"])
    if records:
        return records
    if not (path / PARQUET).is_file():
        raise ConfigError(f"{directory}: no experiment rows here (no {POINTS_DIR}/*.json, "
                          f"no {PARQUET})")
    import pandas

    try:
        table = pandas.read_parquet(path / PARQUET)
    except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds; one line for all
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"{path / PARQUET}: not a readable table: {reason}") from None
    table = table.astype(object).where(table.notna(), None)
    return table.to_dict("records")
