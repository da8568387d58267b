"""Sweep results: the tidy table of a ``coffersim sweep`` directory, written and read back.

The results layer of sweeps (docs/sweeps.md). A sweep directory holds one JSON
record per finished point (``points/<id>.json``) and, once the sweep stops,
``results.parquet`` and ``results.csv``: ONE tidy table with one row per point x
container x metric, columns :data:`COLUMNS`. Every parameter that can tell two
points apart is a column (:data:`PARAMETERS`: ``args`` as one shell-quoted
string, ``op_syscall``, ``probes`` ... ; only ``timeout_s``, which is not part of
a point's id, is left out). :func:`load` reads it back: the point records are the
source of truth for finished points (a sweep killed with ``kill -9`` leaves newer
records than its table), the table adds only points whose record is gone; a
corrupt table is skipped with a :class:`SweepWarning` when records exist.
:func:`summary` makes the one-row-per-point view ``coffersim results show``
prints (with ``failed_containers``, and ``isolation_score`` when a probe measured it),
and :func:`write_manifest` writes ``manifest.json`` (``kind: sweep``). The directory
is the one result format of :mod:`cofferos.results.resultdir`; ``coffersim compare``
writes its table in the same columns.

    >>> table = frame([{"id": "p", "status": "failed", "error": "boom", "config": {
    ...     "workload": "@hello", "kernel": "linux", "personalities": [], "cores": 1,
    ...     "containers": 1, "seed": 0, "repeat": 0, "duration_ms": 0, "cost": []},
    ...     "rows": []}])
    >>> table.iloc[0][["container", "metric", "args", "probes"]].tolist(), table.value.tolist()
    (['all', 'failed', '', ''], [1.0])
    >>> parameters({"workload": "@metadata", "args": ["/tmp/a b", "300"], "kernel": "vm",
    ...             "personalities": [], "cores": 1, "containers": 1, "seed": 0,
    ...             "repeat": 0, "duration_ms": 0, "cost": []})["args"]
    "'/tmp/a b' 300"
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cofferos import __version__
from cofferos.errors import ConfigError
from cofferos.results import resultdir
from cofferos.results.records import write_json

if TYPE_CHECKING:
    import pandas

#: Parameter columns: what distinguishes the points of a sweep. Every key of a point's
#: configuration (cofferos.sim.sweeps.spec.BASE_DEFAULTS and ``repeat``) but ``timeout_s``,
#: which limits host time and is not part of the point's id.
PARAMETERS = ("workload", "args", "kernel", "personalities", "cores", "containers", "seed",
              "repeat", "duration_ms", "cost", "op_syscall", "probes", "image",
              "experiment", "hosting", "scenario", "density_limit", "misbehave")
#: The agents experiment's point keys shown as text ("" when a point has none).
AGENTS_PARAMETERS = ("experiment", "hosting", "scenario", "misbehave")
COLUMNS = ("point", "status", "error", *PARAMETERS, "container", "metric", "value")
POINTS_DIR = resultdir.POINTS_DIR
PARQUET, CSV = resultdir.PARQUET, resultdir.CSV
MANIFEST = resultdir.MANIFEST
NO_PERSONALITIES = "none"  #: how the table shows an empty personality stack
PERSONALITY_SEPARATOR, LIST_SEPARATOR = "+", ","  #: personalities; cost and probes
#: A failed point's one row: container "all", metric FAILED, value 1.0.
FAILED = "failed"
ALL_CONTAINERS = "all"
#: Point-level metrics ``summary`` shows, in order.
SUMMARY_METRICS = ("throughput_per_container", "p99_us", "simulated_seconds",
                   "failed_containers")
#: Point-level metrics ``summary`` adds when some point has them (probes' rows).
OPTIONAL_METRICS = ("isolation_score", "tasks_per_min", "latency_p99_s", "density")


class SweepWarning(UserWarning):
    """Part of a sweep directory could not be read; what could be read was used."""


def parameters(config: dict[str, Any]) -> dict[str, Any]:
    """A point configuration as the table's parameter columns (:data:`PARAMETERS`).

    ``args`` is shell-quoted and space-joined (``"/tmp/shared 300"``); keys missing from an
    older record (``args``, ``op_syscall``, ``probes``) or a point without one (``image``)
    read as empty.
    """
    return {"workload": config["workload"], "args": shlex.join(config.get("args") or []),
            "kernel": config["kernel"],
            "personalities": (PERSONALITY_SEPARATOR.join(config["personalities"])
                              or NO_PERSONALITIES),
            "cores": config["cores"], "containers": config["containers"],
            "seed": config["seed"], "repeat": config["repeat"],
            "duration_ms": config["duration_ms"], "cost": LIST_SEPARATOR.join(config["cost"]),
            "op_syscall": config.get("op_syscall") or "",
            "probes": LIST_SEPARATOR.join(config.get("probes") or []),
            "image": config.get("image") or "",
            **{key: config.get(key) or "" for key in AGENTS_PARAMETERS},
            "density_limit": config.get("density_limit") or 0}


def frame(records: Iterable[dict[str, Any]]) -> pandas.DataFrame:
    """The tidy table of point records (as written to ``points/<id>.json``)."""
    import pandas

    rows = []
    for record in records:
        ok = record["status"] == "ok"
        head = {"point": record["id"], "status": record["status"],
                "error": "" if ok else (record.get("error") or ""),
                **parameters(record["config"])}
        results = record["rows"] if ok else [
            {"container": ALL_CONTAINERS, "metric": FAILED, "value": 1.0}]
        rows += [{**head, "container": r["container"], "metric": r["metric"],
                  "value": float(r["value"])} for r in results]
    table = pandas.DataFrame(rows, columns=list(COLUMNS))
    return table.astype({"value": "float64"})


def write_table(directory: str | os.PathLike[str],
                records: Iterable[dict[str, Any]]) -> list[Path]:
    """Write results.parquet and results.csv atomically; return their paths."""
    return resultdir.write_table(directory, frame(records))


def _point_files(directory: str | os.PathLike[str]) -> list[tuple[Path, dict[str, Any]]]:
    """Every readable point record under ``directory/points`` with its file (a torn or
    foreign file skipped), by file name."""
    found = []
    for path in sorted(Path(directory, POINTS_DIR).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and {"id", "status", "config"} <= record.keys():
            found.append((path, record))
    return found


def read_records(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every readable point record under ``directory/points`` (a torn or foreign file skipped)."""
    return [record for _, record in _point_files(directory)]


def _sweep_order(directory: Path) -> dict[str, int]:
    """Point id -> its place in the spec, from the manifest of the last run that ended."""
    try:
        points = json.loads((directory / MANIFEST).read_text())["configuration"]["points"]
        return {point["id"]: index for index, point in enumerate(points)}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _ordered_records(directory: Path, order: dict[str, int]) -> list[dict[str, Any]]:
    """The point records in sweep order: ``order``'s, then the others as they finished."""
    def place(item: tuple[Path, dict[str, Any]]) -> tuple[int, int, str]:
        path, record = item
        try:
            finished = path.stat().st_mtime_ns
        except OSError:
            finished = 0
        return order.get(record["id"], len(order)), finished, path.name
    return [record for _, record in sorted(_point_files(directory), key=place)]


def _read_parquet(path: Path) -> pandas.DataFrame:
    import pandas
    from pyarrow import ArrowException

    try:
        table = pandas.read_parquet(path)
    except (OSError, ValueError, ArrowException) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")
        raise ConfigError(f"{path}: not a readable sweep table: {reason}") from None
    if "point" not in table.columns:
        raise ConfigError(f"{path}: not a sweep table: no column 'point'")
    return table


def load(directory: str | os.PathLike[str]) -> pandas.DataFrame:
    """The sweep table in ``directory``: every finished point's record (``points/*.json``),
    plus the points of ``results.parquet`` that have no record any more.

    The records are the source of truth: the table is written only when a sweep stops, so
    after a ``kill -9`` they are newer. Rows are in sweep order (the manifest's, then the
    points it does not list as they finished). A corrupt results.parquet is a ConfigError
    naming it when there are no records, else skipped with a :class:`SweepWarning`.
    """
    import pandas

    where = Path(directory)
    order = _sweep_order(where)
    records = _ordered_records(where, order)
    parquet, table = where / PARQUET, None
    if parquet.is_file():
        try:
            table = _read_parquet(parquet)
        except ConfigError as err:
            if not records:
                raise
            warnings.warn(f"{err}; using the {len(records)} point record(s) in "
                          f"{where / POINTS_DIR} instead", SweepWarning, stacklevel=2)
    if not records and table is None:
        raise ConfigError(f"{directory}: no sweep results here (no {PARQUET}, no "
                          f"{POINTS_DIR}/*.json)")
    rebuilt = frame(records)
    if table is None:
        return rebuilt
    only_in_table = table[~table["point"].isin(set(rebuilt["point"]))]
    if only_in_table.empty:
        return rebuilt
    parts = [part for part in (rebuilt, only_in_table.reindex(columns=list(COLUMNS)))
             if not part.empty]
    both = pandas.concat(parts, ignore_index=True)
    place = both["point"].map(lambda ident: order.get(ident, len(order)))
    return both.iloc[place.argsort(kind="stable")].reset_index(drop=True)


def point_metrics(table: pandas.DataFrame) -> pandas.DataFrame:
    """One row per point, in table order: its status, error, parameters and every
    point-level metric (container ``all``) as a column. Columns an older table lacks are
    left out."""
    keys = ["point", "status", *(c for c in ("error", *PARAMETERS) if c in table.columns)]
    points = table[keys].drop_duplicates("point").set_index("point")
    overall = table[table["container"] == ALL_CONTAINERS]
    wide = overall.pivot_table(index="point", columns="metric", values="value",
                               aggfunc="first")
    return points.join(wide.drop(columns=[c for c in wide.columns if c in points.columns]))


def summary_metrics(table: pandas.DataFrame) -> tuple[str, ...]:
    """The metrics :func:`summary` shows for ``table``: :data:`SUMMARY_METRICS`, then those
    of :data:`OPTIONAL_METRICS` some point has (``isolation_score`` of a trade-off sweep)."""
    present = set(table["metric"]) if "metric" in table.columns else set()
    return (*SUMMARY_METRICS, *(m for m in OPTIONAL_METRICS if m in present))


def summary(table: pandas.DataFrame) -> pandas.DataFrame:
    """One row per point: its status, error, parameters and the headline point-level metrics
    (:func:`summary_metrics`; NaN where a point has none, as a failed point).

    Columns an older table lacks are left out.
    """
    wide = point_metrics(table)
    keys = ["status", *(c for c in ("error", *PARAMETERS) if c in wide.columns)]
    points = wide[keys].copy()
    for metric in summary_metrics(table):
        points[metric] = wide[metric] if metric in wide else float("nan")
    return points.reset_index()


def _overhead(outcome: Any) -> dict[str, Any]:
    """Mean, median and max of what the sweep machinery added to the points run this time."""
    ran = [r["overhead_seconds"] for ident, r in outcome.records.items()
           if r and r.get("overhead_seconds") is not None and ident not in outcome.resumed]
    return {"points": len(ran), "mean_seconds": statistics.fmean(ran) if ran else None,
            "median_seconds": statistics.median(ran) if ran else None,
            "max_seconds": max(ran) if ran else None}


def write_manifest(path: str | os.PathLike[str], spec: Any, outcome: Any,
                   settings: dict[str, Any], command: Sequence[str]) -> Path:
    """Write the manifest of a sweep (a SweepSpec, its SweepOutcome, jobs and executor)."""
    from cofferos.results.manifest import manifest

    points = []
    for point in spec.points:
        record = outcome.records[point["id"]] or {}
        points.append({
            "id": point["id"], "config": point["config"],
            "status": record.get("status", "pending"), "resumed": point["id"] in outcome.resumed,
            "error": record.get("error", ""), "host_seconds": record.get("host_seconds"),
            "run_seconds": record.get("run_seconds"),
            "overhead_seconds": record.get("overhead_seconds")})
    configuration = {
        "sweep": spec.name, "spec_file": spec.source, "spec_text": spec.text,
        "spec": spec.parsed, "project_version": __version__, "seeds": spec.seeds, **settings,
        "points": points,
        "counts": {"total": len(spec.points), "done": outcome.done, "ran": outcome.ran,
                   "skipped": outcome.skipped, "failed": outcome.failed},
        "interrupted": outcome.interrupted, "wall_seconds": outcome.wall_seconds,
        "point_overhead": _overhead(outcome)}
    target = Path(path)
    write_json(target, {resultdir.KIND_KEY: resultdir.SWEEP, **manifest(command, configuration)})
    return target
