"""Sweep results: the tidy table of a ``coffersim sweep`` directory, written and read back.

The results layer of sweeps (docs/sweeps.md). A sweep directory holds one JSON
record per finished point (``points/<id>.json``) and, once the sweep stops,
``results.parquet`` and ``results.csv``: ONE tidy table with one row per point x
container x metric, columns :data:`COLUMNS`. :func:`load` reads it back (falling
back to the point records when the table was never written), :func:`summary`
makes the one-row-per-point view ``coffersim results show`` prints, and
:func:`write_manifest` writes ``manifest.json``.

    >>> frame([{"id": "p", "status": "failed", "error": "boom", "config": {
    ...     "workload": "@hello", "kernel": "linux", "personalities": [], "cores": 1,
    ...     "containers": 1, "seed": 0, "repeat": 0, "duration_ms": 0, "cost": []},
    ...     "rows": []}]).iloc[0][["metric", "value"]].tolist()
    ['failed', 1.0]
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cofferos import __version__
from cofferos.errors import ConfigError
from cofferos.results.records import write_json

if TYPE_CHECKING:
    import pandas

#: Parameter columns: what distinguishes the points of a sweep.
PARAMETERS = ("workload", "kernel", "personalities", "cores", "containers", "seed", "repeat",
              "duration_ms", "cost")
COLUMNS = ("point", "status", "error", *PARAMETERS, "container", "metric", "value")
POINTS_DIR = "points"
PARQUET, CSV = "results.parquet", "results.csv"
NO_PERSONALITIES = "none"  #: how the table shows an empty personality stack
#: A failed point's one row: container "all", metric FAILED, value 1.0.
FAILED = "failed"
ALL_CONTAINERS = "all"
#: Point-level metrics ``summary`` shows, in order.
SUMMARY_METRICS = ("throughput_per_container", "p99_us", "simulated_seconds")


def parameters(config: dict[str, Any]) -> dict[str, Any]:
    """A point configuration as the table's parameter columns."""
    return {"workload": config["workload"], "kernel": config["kernel"],
            "personalities": "+".join(config["personalities"]) or NO_PERSONALITIES,
            "cores": config["cores"], "containers": config["containers"],
            "seed": config["seed"], "repeat": config["repeat"],
            "duration_ms": config["duration_ms"], "cost": ",".join(config["cost"])}


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
    out = Path(directory)
    table = frame(records)
    paths = []
    for name, write in ((PARQUET, lambda p: table.to_parquet(p, index=False)),
                        (CSV, lambda p: table.to_csv(p, index=False))):
        target, temporary = out / name, out / f".{name}.tmp"
        write(temporary)
        os.replace(temporary, target)
        paths.append(target)
    return paths


def read_records(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every readable point record under ``directory/points`` (a torn or foreign file skipped)."""
    records = []
    for path in sorted(Path(directory, POINTS_DIR).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and {"id", "status", "config"} <= record.keys():
            records.append(record)
    return records


def load(directory: str | os.PathLike[str]) -> pandas.DataFrame:
    """The sweep table in ``directory``: results.parquet, else rebuilt from points/*.json."""
    import pandas

    parquet = Path(directory, PARQUET)
    if parquet.is_file():
        return pandas.read_parquet(parquet)
    records = read_records(directory)
    if not records:
        raise ConfigError(f"{directory}: no sweep results here (no {PARQUET}, no "
                          f"{POINTS_DIR}/*.json)")
    return frame(records)


def summary(table: pandas.DataFrame) -> pandas.DataFrame:
    """One row per point: its parameters, status and the headline point-level metrics."""
    keys = ["point", "status", *PARAMETERS]
    points = table[keys].drop_duplicates("point").set_index("point")
    overall = table[table["container"] == ALL_CONTAINERS]
    wide = overall.pivot_table(index="point", columns="metric", values="value",
                               aggfunc="first")
    for metric in SUMMARY_METRICS:
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
    write_json(target, manifest(command, configuration))
    return target
