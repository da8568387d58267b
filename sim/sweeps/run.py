"""Running a sweep: every point in its own process, saved the moment it finishes, resumable.

The orchestration layer of ``coffersim sweep`` (docs/sweeps.md). :func:`run_sweep`
takes a :class:`~cofferos.sim.sweeps.spec.SweepSpec` and an output directory and
runs each point (:mod:`cofferos.sim.sweeps.point`) in a process of its own with a
host-time limit, so a point that raises, crashes or hangs becomes a *failed*
record and the sweep goes on. Two executors: ``local``
(:mod:`cofferos.sim.sweeps.local_executor`: at most ``jobs`` points at once, each a fork of a
forkserver that has already imported the simulator, killed at its timeout) and
``dask://HOST:PORT`` (:mod:`cofferos.sim.sweeps.dask_executor`: each point a task on a
``distributed`` cluster, run by a point server on the worker the same way). The
options are checked by :func:`check_options` (a scheduler address by syntax, then
a TCP connection) before the output directory is created; a bad one is one
:class:`~cofferos.errors.ConfigError` line.

``OUT/points/<id>.json`` is written atomically as each point finishes, with the
git commit, dirtiness and host that produced it; a re-run skips points whose
record says ``ok`` (failed ones run again). At the end, or after Ctrl-C, the tidy
table (``results.parquet``, ``results.csv``), ``manifest.json`` and ``spec.toml``
are written: the one result-directory format of :mod:`cofferos.results.resultdir`
(``kind: sweep``). The manifest's top-level ``command``, ``created``, ``git_commit`` and
``configuration.wall_seconds`` describe the latest run; ``configuration.runs`` lists
every run into the directory (command, times, commit, host, executor, the ids of
the points it ran and its per-point overhead).
"""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cofferos.errors import ConfigError
from cofferos.results import sweeps, write_json
from cofferos.results.outputs import make_directory, write_text
from cofferos.sim.sweeps.dask_executor import (
    DASK_PREFIX,
    connect_scheduler,
    reach_scheduler,
    run_dask,
)
from cofferos.sim.sweeps.dirlock import SPEC_FILE, claim
from cofferos.sim.sweeps.interrupts import held_interrupts
from cofferos.sim.sweeps.local_executor import (
    provenance,
    raise_interrupt,
    run_local,
)
from cofferos.sim.sweeps.spec import MAX_TIMEOUT_S, SweepSpec

LOCAL = "local"
MANIFEST_FILE = sweeps.MANIFEST
Progress = Callable[[dict[str, Any]], None]


@dataclass
class SweepOutcome:
    """What a sweep did: every point's record (None: not run, after an interrupt)."""

    out_dir: Path
    records: dict[str, dict[str, Any] | None]
    ran: int = 0
    skipped: int = 0
    resumed: set[str] = field(default_factory=set)
    """Ids of the points an earlier run had finished."""
    interrupted: bool = False
    wall_seconds: float = 0.0
    paths: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.records.values() if r and r["status"] != "ok")

    @property
    def done(self) -> int:
        return sum(1 for r in self.records.values() if r is not None)



# -- the sweep ---------------------------------------------------------------------------------
@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM (kill) like Ctrl-C while the sweep runs, so it stops cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _previous(points_dir: Path, ident: str) -> dict[str, Any] | None:
    try:
        record = json.loads((points_dir / f"{ident}.json").read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") == "ok" else None


def _programs(spec: SweepSpec, executor: str) -> dict[str, str | None]:
    """Build each workload once before any point runs (locally; Dask workers build their own)."""
    if executor != LOCAL:
        return {}
    from cofferos.coffers.program import resolve_program

    # only @workloads need building; a path (on the host, or in the point's image) was
    # checked when the spec was read
    return {w: resolve_program(w) if w.startswith("@") else w
            for w in dict.fromkeys(p["config"]["workload"] for p in spec.points)}


def check_options(jobs: int, executor: str, timeout_s: float | None = None) -> None:
    """ConfigError unless ``jobs`` >= 1, ``timeout_s`` (if given) is a number of seconds in
    (0, MAX_TIMEOUT_S] and ``executor`` is local or dask://HOST:PORT of a scheduler that
    accepts a TCP connection (checked within DASK_REACH_TIMEOUT_S)."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if timeout_s is not None and not (math.isfinite(timeout_s) and 0 < timeout_s
                                      <= MAX_TIMEOUT_S):
        raise ConfigError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT_S:,} "
                          f"seconds, got {timeout_s}")
    if executor != LOCAL and not executor.startswith(DASK_PREFIX):
        raise ConfigError(f"unknown executor {executor!r}: use local or dask://HOST:PORT")
    if executor.startswith(DASK_PREFIX):
        reach_scheduler(executor)


def _check_probes(spec: SweepSpec) -> dict[str, list[str]]:
    """The modules to import for each probe the spec runs; ConfigError for one in __main__."""
    with held_interrupts():  # the first import of the simulator, maybe
        from cofferos.sim.sweeps.point import POINT_PROBES

    modules = {}
    for name in dict.fromkeys(n for p in spec.points for n in p["config"]["probes"]):
        if name not in POINT_PROBES:
            raise ConfigError(f"unknown probe {name!r}; registered: {', '.join(POINT_PROBES)}")
        module = getattr(POINT_PROBES[name], "__module__", None)
        if module in (None, "__main__"):
            raise ConfigError(f"probe {name!r} is defined in the running script (__main__), "
                              f"which a point's process cannot import; define it in an "
                              f"importable module")
        modules[name] = [module]
    return modules


def _earlier_runs(path: Path) -> list[dict[str, Any]]:
    """The runs an existing manifest lists (one made up from an older manifest's top level)."""
    try:
        manifest = json.loads(path.read_text())
        configuration = manifest["configuration"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    runs = configuration.get("runs")
    if isinstance(runs, list):
        return runs
    return [{"command": manifest.get("command"), "created": manifest.get("created"),
             "started": None, "version": manifest.get("version"),
             "git_commit": manifest.get("git_commit"), "git_dirty": manifest.get("git_dirty"),
             "host": manifest.get("host"), "executor": configuration.get("executor"),
             "jobs": configuration.get("jobs"), "wall_seconds": configuration.get("wall_seconds"),
             "interrupted": configuration.get("interrupted"),
             "points": [p.get("id") for p in configuration.get("points", [])
                        if not p.get("resumed") and p.get("status") not in (None, "pending")]}]


def _overhead(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Median, mean and max per-point overhead (seconds) of ``records``."""
    values = [r["overhead_seconds"] for r in records if r.get("overhead_seconds") is not None]
    return {"points": len(values), "median_seconds": statistics.median(values) if values else None,
            "mean_seconds": statistics.fmean(values) if values else None,
            "max_seconds": max(values) if values else None}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_sweep(spec: SweepSpec | str | os.PathLike[str], out_dir: str | os.PathLike[str],
              jobs: int = 1, executor: str = LOCAL, progress: Progress | None = None,
              timeout_s: float | None = None,
              command: list[str] | None = None, force: bool = False) -> SweepOutcome:
    """Run every point of ``spec`` not already done in ``out_dir``; write the results.

    ``progress(record)`` is called for each point as it finishes (``record["resumed"]``
    is True for a point skipped because an earlier run finished it). ``timeout_s``
    overrides every point's ``timeout_s``. Options, probes and the Dask scheduler are
    checked before ``out_dir`` is created. ``out_dir`` is then locked for this sweep
    (:mod:`cofferos.sim.sweeps.dirlock`: another sweep into it, or a different spec than the
    one it holds unless ``force``, is a ConfigError). An interrupt (Ctrl-C, SIGTERM) stops
    the running points and returns with ``interrupted`` set, after writing what is done.
    """
    from cofferos.sim.sweeps import spec as sweep_spec

    if not isinstance(spec, SweepSpec):
        spec = sweep_spec.load(spec)
    check_options(jobs, executor, timeout_s)
    probe_modules = _check_probes(spec)
    command = command or ["coffersim", "sweep", spec.source]
    with claim(out_dir, spec.text, command, force) as out:
        client = connect_scheduler(executor) if executor != LOCAL else None
        try:
            return _run(spec, out, jobs, executor, client, progress, timeout_s, command,
                        probe_modules)
        finally:
            if client is not None:
                client.close()


def _run(spec: SweepSpec, out: Path, jobs: int, executor: str, client: Any,
         progress: Progress | None, timeout_s: float | None, command: list[str],
         probe_modules: dict[str, list[str]]) -> SweepOutcome:
    """run_sweep once everything is checked (and the Dask ``client`` connected)."""
    points_dir = out / sweeps.POINTS_DIR
    earlier = _earlier_runs(out / MANIFEST_FILE)
    started_at = _now()
    stamp = provenance()
    settings: dict[str, Any] = {"executor": executor, "jobs": jobs if client is None else None,
                                "dask_workers": None, "dask_threads": None}
    if client is not None:
        threads = client.nthreads()
        settings.update(dask_workers=len(threads), dask_threads=sum(threads.values()))
    make_directory(points_dir)
    begun = time.perf_counter()
    outcome = SweepOutcome(out_dir=out, records={p["id"]: None for p in spec.points})
    ran: list[dict[str, Any]] = []
    records: Any = None
    try:
        with _sigterm_interrupts():
            write_text(out / SPEC_FILE, spec.text)
            programs = _programs(spec, executor)
            tasks = []
            for point in spec.points:
                previous = _previous(points_dir, point["id"])
                if previous is not None:
                    outcome.records[point["id"]] = previous
                    outcome.skipped += 1
                    outcome.resumed.add(point["id"])
                    if progress:
                        progress({**previous, "resumed": True})
                    continue
                config = point["config"]
                tasks.append({
                    "id": point["id"], "config": config,
                    "program": programs.get(config["workload"]),
                    "timeout": timeout_s if timeout_s is not None else config["timeout_s"],
                    "modules": sorted({m for n in config["probes"] for m in probe_modules[n]}),
                    **({"provenance": stamp} if client is None else {})})  # Dask: the worker's
            records = (run_local(tasks, jobs) if client is None
                       else run_dask(tasks, client, uuid.uuid4().hex))
            for record in records:
                write_json(points_dir / f"{record['id']}.json", record)
                outcome.records[record["id"]] = record
                outcome.ran += 1
                ran.append(record)
                if progress:
                    progress({**record, "resumed": False})
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        if records is not None:
            records.close()  # kills what still runs
    outcome.wall_seconds = time.perf_counter() - begun
    done = [r for r in outcome.records.values() if r is not None]
    outcome.paths = sweeps.write_table(out, done)
    this_run = {"command": command, "created": _now(), "started": started_at,
                **{k: v for k, v in stamp.items() if k != "host"}, "host": stamp["host"],
                **settings, "wall_seconds": outcome.wall_seconds,
                "interrupted": outcome.interrupted, "points": [r["id"] for r in ran],
                "point_overhead": _overhead(ran)}
    outcome.paths.append(sweeps.write_manifest(
        out / MANIFEST_FILE, spec, outcome, {**settings, "runs": [*earlier, this_run]},
        command))
    return outcome

