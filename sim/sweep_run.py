"""Running a sweep: every point in its own process, saved the moment it finishes, resumable.

The orchestration layer of ``coffersim sweep`` (docs/sweeps.md). :func:`run_sweep`
takes a :class:`~cofferos.sim.sweep_spec.SweepSpec` and an output directory and
runs each point (:mod:`cofferos.sim.sweep_point`) in a process of its own with a
host-time limit, so a point that raises, crashes or hangs becomes a *failed*
record and the sweep goes on. Two executors:

* ``local``: at most ``jobs`` points at once, each a fork of a forkserver that
  has already imported the simulator (a cheap start), killed at its timeout;
* ``dask://HOST:PORT``: each point is a task on a ``distributed`` cluster that
  runs ``python -m cofferos.sim.sweep_point`` in a subprocess (Dask workers are
  daemonic and cannot fork with multiprocessing).

``OUT/points/<id>.json`` is written atomically as each point finishes; a re-run
skips points whose record says ``ok`` (failed ones run again). At the end, or
after Ctrl-C, the tidy table (``results.parquet``, ``results.csv``), ``manifest.json``
and ``spec.toml`` are written.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import spawn
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from cofferos.errors import ConfigError
from cofferos.results import sweeps, write_json
from cofferos.sim.sweep_spec import SweepSpec

LOCAL = "local"
DASK_PREFIX = "dask://"
DEFAULT_DASK_PROTOCOL = "tcp://"
#: What the forkserver imports once for every point: the simulator, and this module (the
#: child's entry point; importing it in each child cost ~25 ms, as much as the fork).
PRELOAD = ["cofferos.sim.sweep_point", "cofferos.sim.sweep_run"]
#: A finished child has sent its result; it gets this long to exit before it is killed.
EXIT_GRACE_S = 5.0
#: Seconds to wait for a Dask scheduler to answer before giving up.
DASK_CONNECT_TIMEOUT_S = 10
SPEC_FILE, MANIFEST_FILE = "spec.toml", "manifest.json"
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


# -- one point's record -------------------------------------------------------------------------
def _record(task: dict[str, Any], status: str, error: str = "", *, rows: list | None = None,
            host_seconds: float = 0.0, run_seconds: float | None = None,
            detail: str = "") -> dict[str, Any]:
    overhead = None if run_seconds is None else host_seconds - run_seconds
    return {"id": task["id"], "config": task["config"], "status": status, "error": error,
            "host_seconds": host_seconds, "run_seconds": run_seconds,
            "overhead_seconds": overhead, "rows": rows or [], "traceback": detail}


def _one_line(err: BaseException) -> str:
    return traceback.format_exception_only(err)[-1].strip()


def _timed_out(task: dict[str, Any], seconds: float) -> dict[str, Any]:
    return _record(task, "failed", f"timed out after {task['timeout']:g} s of host time",
                   host_seconds=seconds)


# -- local executor -----------------------------------------------------------------------------
def _child(config: dict[str, Any], program: str | None, probes: dict[str, Any],
           conn: Any) -> None:
    """Body of a point's process: run it, send ("ok", result) or ("failed", error, traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
    from cofferos.sim.sweep_point import POINT_PROBES, run_point

    try:
        POINT_PROBES.update(probes)
        conn.send(("ok", run_point(config, program)))
    except BaseException as err:  # noqa: B036 - anything a point does is its own failure
        conn.send(("failed", _one_line(err), traceback.format_exc()))
    finally:
        conn.close()


def _died(process: Any) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"point process killed by {signal.Signals(-code).name} without a result"
    return f"point process exited with status {code} without a result"


@contextmanager
def _without_main() -> Iterator[None]:
    """Start a point without re-running the parent's ``__main__`` in it.

    multiprocessing re-imports the main script in each child (for pickled references
    into ``__main__``); a point needs nothing from it, and under ``coffersim`` or
    pytest that import costs more than the fork. Probes must live in importable modules.
    """
    original = spawn.get_preparation_data

    def preparation(name: str) -> dict[str, Any]:
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    spawn.get_preparation_data = preparation
    try:
        yield
    finally:
        spawn.get_preparation_data = original


def _forkserver() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _finish_local(task: dict[str, Any], process: Any, reader: Any,
                  started: float) -> dict[str, Any] | None:
    """The record of a running point if it is done (result, crash or timeout), else None."""
    now = time.perf_counter()
    message = None
    if reader.poll():
        try:
            message = reader.recv()
        except (EOFError, OSError):
            process.join(EXIT_GRACE_S)
            message = ("failed", _died(process), "")
    elif process.exitcode is None:
        if now - started <= task["timeout"]:
            return None
        process.kill()
        process.join()
        return _timed_out(task, now - started)
    else:
        message = ("failed", _died(process), "")
    process.join(EXIT_GRACE_S)
    if process.exitcode is None:
        process.kill()
        process.join()
    elapsed = time.perf_counter() - started  # the point's job slot is free only now
    if message[0] == "ok":
        result = message[1]
        return _record(task, "ok", rows=result["rows"], host_seconds=elapsed,
                       run_seconds=result["run_seconds"])
    return _record(task, "failed", message[1], host_seconds=elapsed, detail=message[2])


def _run_local(tasks: list[dict[str, Any]], jobs: int) -> Iterator[dict[str, Any]]:
    """Run ``tasks`` at most ``jobs`` at a time; yield each record as it finishes."""
    from cofferos.sim.sweep_point import POINT_PROBES

    context = _forkserver()
    pending = deque(tasks)
    running: dict[Any, tuple[dict[str, Any], Any, float]] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                task = pending.popleft()
                reader, writer = context.Pipe(duplex=False)
                probes = {n: POINT_PROBES[n] for n in task["config"]["probes"]}
                process = context.Process(target=_child, daemon=True,
                                          args=(task["config"], task["program"], probes, writer))
                started = time.perf_counter()
                try:
                    with _without_main():
                        process.start()
                except Exception as err:  # noqa: BLE001 - e.g. a probe that cannot be pickled
                    reader.close()
                    yield _record(task, "failed", f"cannot start the point: {_one_line(err)}")
                    continue
                finally:
                    writer.close()
                running[reader] = (task, process, started)
            if not running:  # every task so far failed to start
                continue
            now = time.perf_counter()
            nearest = min(started + task["timeout"] for task, _, started in running.values())
            wait([*running, *(p.sentinel for _, p, _ in running.values())],
                 timeout=max(nearest - now, 0))
            for reader, (task, process, started) in list(running.items()):
                record = _finish_local(task, process, reader, started)
                if record is not None:
                    del running[reader]
                    reader.close()
                    yield record
    finally:
        for reader, (_, process, _) in running.items():
            process.kill()
            process.join()
            reader.close()


# -- Dask executor ------------------------------------------------------------------------------
def dask_point(task: dict[str, Any]) -> dict[str, Any]:
    """Run one point in a subprocess on a Dask worker; return its record."""
    request = json.dumps({"config": task["config"], "modules": task["modules"]})
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "cofferos.sim.sweep_point"], input=request,
                              capture_output=True, text=True, timeout=task["timeout"])
    except subprocess.TimeoutExpired:
        return _timed_out(task, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exited with status {done.returncode}"]
        return _record(task, "failed", lines[-1], host_seconds=seconds, detail=done.stderr)
    result = json.loads(done.stdout)
    return _record(task, "ok", rows=result["rows"], host_seconds=seconds,
                   run_seconds=result["run_seconds"])


def _dask_address(executor: str) -> str:
    address = executor[len(DASK_PREFIX):]
    if not address:
        raise ConfigError("--executor dask://HOST:PORT: no scheduler address given")
    return address if "://" in address else DEFAULT_DASK_PROTOCOL + address


def _run_dask(tasks: list[dict[str, Any]], executor: str) -> Iterator[dict[str, Any]]:
    from distributed import Client, as_completed

    address = _dask_address(executor)
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    futures = {client.submit(dask_point, task, pure=False): task for task in tasks}
    try:
        for future in as_completed(list(futures)):
            task = futures[future]
            try:
                yield future.result()
            except Exception as err:  # noqa: BLE001 - a lost worker fails the point only
                yield _record(task, "failed", f"dask: {_one_line(err)}")
    finally:
        client.cancel(list(futures))
        client.close()


# -- the sweep ---------------------------------------------------------------------------------
@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM (kill) like Ctrl-C while the sweep runs, so it stops cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
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
    from cofferos.api import resolve_program

    return {w: resolve_program(w) for w in dict.fromkeys(p["config"]["workload"]
                                                          for p in spec.points)}


def check_options(jobs: int, executor: str) -> None:
    """ConfigError unless ``jobs`` >= 1 and ``executor`` is local or dask://HOST:PORT."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if executor != LOCAL and not executor.startswith(DASK_PREFIX):
        raise ConfigError(f"unknown executor {executor!r}: use local or dask://HOST:PORT")
    if executor.startswith(DASK_PREFIX):
        _dask_address(executor)


def run_sweep(spec: SweepSpec | str | os.PathLike[str], out_dir: str | os.PathLike[str],
              jobs: int = 1, executor: str = LOCAL, progress: Progress | None = None,
              timeout_s: float | None = None,
              command: list[str] | None = None) -> SweepOutcome:
    """Run every point of ``spec`` not already done in ``out_dir``; write the results.

    ``progress(record)`` is called for each point as it finishes (``record["resumed"]``
    is True for a point skipped because an earlier run finished it). ``timeout_s``
    overrides every point's ``timeout_s``. An interrupt (Ctrl-C, SIGTERM) stops the
    running points and returns with ``interrupted`` set, after writing what is done.
    """
    from cofferos.sim import sweep_spec
    from cofferos.sim.sweep_point import POINT_PROBES

    if not isinstance(spec, SweepSpec):
        spec = sweep_spec.load(spec)
    check_options(jobs, executor)
    out = Path(out_dir)
    points_dir = out / sweeps.POINTS_DIR
    points_dir.mkdir(parents=True, exist_ok=True)
    (out / SPEC_FILE).write_text(spec.text)
    begun = time.perf_counter()
    outcome = SweepOutcome(out_dir=out, records={p["id"]: None for p in spec.points})
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
            "id": point["id"], "config": config, "program": programs.get(config["workload"]),
            "timeout": timeout_s if timeout_s is not None else config["timeout_s"],
            "modules": sorted({POINT_PROBES[n].__module__ for n in config["probes"]})})
    records = _run_local(tasks, jobs) if executor == LOCAL else _run_dask(tasks, executor)
    try:
        with _sigterm_interrupts():
            for record in records:
                write_json(points_dir / f"{record['id']}.json", record)
                outcome.records[record["id"]] = record
                outcome.ran += 1
                if progress:
                    progress({**record, "resumed": False})
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        records.close()  # kills what still runs
    outcome.wall_seconds = time.perf_counter() - begun
    done = [r for r in outcome.records.values() if r is not None]
    outcome.paths = sweeps.write_table(out, done)
    outcome.paths.append(sweeps.write_manifest(
        out / MANIFEST_FILE, spec, outcome, {"jobs": jobs, "executor": executor},
        command or ["coffersim", "sweep", spec.source]))
    return outcome

