"""Running a sweep: every point in its own process, saved the moment it finishes, resumable.

The orchestration layer of ``coffersim sweep`` (docs/sweeps.md). :func:`run_sweep`
takes a :class:`~cofferos.sim.sweep_spec.SweepSpec` and an output directory and
runs each point (:mod:`cofferos.sim.sweep_point`) in a process of its own with a
host-time limit, so a point that raises, crashes or hangs becomes a *failed*
record and the sweep goes on. Two executors:

* ``local``: at most ``jobs`` points at once, each a fork of a forkserver that
  has already imported the simulator (a cheap start), killed at its timeout. The
  forkserver is started with SIGINT blocked, so Ctrl-C while it imports is no traceback;
* ``dask://HOST:PORT``: each point is a task on a ``distributed`` cluster. Dask
  workers are daemonic and cannot fork with multiprocessing, so a task hands its
  point to a *point server* (:func:`serve`), a plain subprocess of the worker that
  imports the simulator once and then runs each point it is sent in a fork of
  itself, exactly as the local executor does. A worker keeps one server per busy
  thread for the whole sweep (the imports are paid once per server, not per
  point); the servers stop when the sweep ends (or after :data:`SERVER_IDLE_S`).

The scheduler address is checked (syntax, then a TCP connection) by
:func:`check_options`, before the output directory is created; a bad one is one
:class:`~cofferos.errors.ConfigError` line.

``OUT/points/<id>.json`` is written atomically as each point finishes, with the
git commit, dirtiness and host that produced it; a re-run skips points whose
record says ``ok`` (failed ones run again). At the end, or after Ctrl-C, the tidy
table (``results.parquet``, ``results.csv``), ``manifest.json`` and ``spec.toml``
are written. The manifest's top-level ``command``, ``created``, ``git_commit`` and
``configuration.wall_seconds`` describe the latest run; ``configuration.runs`` lists
every run into the directory (command, times, commit, host, executor, the ids of
the points it ran and its per-point overhead).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import spawn
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cofferos.errors import ConfigError
from cofferos.results import sweeps, write_json
from cofferos.sim.sweep_spec import MAX_TIMEOUT_S, SweepSpec, held_interrupts

LOCAL = "local"
DASK_PREFIX = "dask://"
DEFAULT_DASK_PROTOCOL = "tcp"
#: Protocols a scheduler address may name (``inproc``: a cluster inside this process).
DASK_PROTOCOLS = ("tcp", "tls", "ws", "wss")
INPROC = "inproc"
#: What the forkserver imports once for every point: the simulator, and this module (the
#: child's entry point; importing it in each child cost ~25 ms, as much as the fork).
PRELOAD = ["cofferos.sim.sweep_point", "cofferos.sim.sweep_run"]
#: A finished child has sent its result; it gets this long to exit before it is killed.
EXIT_GRACE_S = 5.0
#: Seconds to wait for a TCP connection to the scheduler (the check before anything runs).
DASK_REACH_TIMEOUT_S = 5
#: Seconds to wait for a Dask scheduler to answer before giving up.
DASK_CONNECT_TIMEOUT_S = 10
#: How a Dask worker starts a point server: by module name, never as ``__main__``.
SERVER_COMMAND = "from cofferos.sim.sweep_run import serve; serve()"
#: A point server that gets no point for this long exits (its sweep is gone).
SERVER_IDLE_S = 600
#: Host seconds a point server may take to start (imports, building the workload), on top
#: of the point's own timeout, before the worker gives up on it.
SERVER_START_S = 120
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
def provenance() -> dict[str, Any]:
    """What produced a result: the project version, git commit and dirtiness, and the host."""
    from cofferos.results.manifest import host, source_revision

    return {**source_revision(), "host": host()}


def _record(task: dict[str, Any], status: str, error: str = "", *, rows: list | None = None,
            host_seconds: float = 0.0, run_seconds: float | None = None,
            detail: str = "") -> dict[str, Any]:
    overhead = None if run_seconds is None else host_seconds - run_seconds
    return {"id": task["id"], "config": task["config"], "status": status, "error": error,
            "host_seconds": host_seconds, "run_seconds": run_seconds,
            "overhead_seconds": overhead, "rows": rows or [], "traceback": detail,
            **task.get("provenance", {})}


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
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # _forkserver blocked it
    from cofferos.sim.sweep_point import POINT_PROBES, run_point

    try:
        POINT_PROBES.update(probes)
        message: tuple[Any, ...] = ("ok", run_point(config, program))
    except BaseException as err:  # noqa: B036 - anything a point does is its own failure
        message = ("failed", _one_line(err), traceback.format_exc())
    try:
        conn.send(message)
    except OSError:
        pass  # the sweep stopped waiting (interrupted): there is nobody to tell
    except Exception as err:  # noqa: BLE001 - e.g. a probe's row that cannot be pickled
        with suppress(OSError):
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
    """The forkserver context, its server started with SIGINT blocked.

    The server imports :data:`PRELOAD` (about a second) before it ignores SIGINT itself;
    Ctrl-C in that time would print its KeyboardInterrupt traceback. A blocked signal
    stays blocked across exec, so the server starts with SIGINT held (and dropped when
    it ignores it); points unblock it in :func:`_child`. Only this thread blocks it: a
    Ctrl-C meanwhile is still this process's (another thread takes it, or it waits).
    """
    from multiprocessing import forkserver, resource_tracker

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    resource_tracker.ensure_running()  # first: starting it unblocks SIGINT when done
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
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


def _run_local(tasks: list[dict[str, Any]], jobs: int,
               context: Any = None) -> Iterator[dict[str, Any]]:
    """Run ``tasks`` at most ``jobs`` at a time; yield each record as it finishes.

    ``context``: the multiprocessing context (default: the preloaded forkserver).
    """
    from cofferos.sim.sweep_point import POINT_PROBES

    context = context or _forkserver()
    pending = deque(tasks)
    running: dict[Any, tuple[dict[str, Any], Any, float]] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                task = pending.popleft()
                reader, writer = context.Pipe(duplex=False)
                # a probe not registered here fails in the point ("unknown probe")
                probes = {n: POINT_PROBES[n] for n in task["config"]["probes"]
                          if n in POINT_PROBES}
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
                except BaseException:  # interrupted while starting it: do not leave it running
                    if process.pid is not None:
                        process.kill()
                        process.join()
                    reader.close()
                    raise
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
def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _serve_one(task: dict[str, Any], context: Any, programs: dict[str, str | None],
               stamp: dict[str, Any]) -> dict[str, Any]:
    """Run one point in a fork of this point server; its record."""
    from cofferos.api import resolve_program
    from cofferos.sim.sweep_point import import_probes

    task = {**task, "provenance": stamp}
    try:
        import_probes(task["modules"])
        workload = task["config"]["workload"]
        if workload not in programs:
            programs[workload] = resolve_program(workload)
    except Exception as err:  # noqa: BLE001 - a probe module or workload that fails: the point's
        return _record(task, "failed", _one_line(err), detail=traceback.format_exc())
    records = _run_local([{**task, "program": programs[workload]}], 1, context)
    try:
        return next(records)
    finally:
        records.close()


def serve() -> None:
    """A point server (on a Dask worker): JSON tasks on stdin, one JSON record per line out.

    Imports the simulator once, then runs each task in a fork of itself (it has no
    threads, so ``fork`` is safe) with the local executor's timeout and crash handling.
    Ignores SIGINT (the sweep decides); SIGTERM kills the running point and exits; so
    does end of input or :data:`SERVER_IDLE_S` without a task. What points print goes
    to stderr, never into the answers.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    import cofferos.sim.sweep_point  # noqa: F401 - the simulator, once for every point

    stamp = provenance()
    context = multiprocessing.get_context("fork")
    programs: dict[str, str | None] = {}
    # Until now SIGTERM just ends the server (no point runs yet; a KeyboardInterrupt in the
    # simulator's import would be swallowed by llvmlite's callbacks, with a traceback).
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(sys.stdin, selectors.EVENT_READ)
            while selector.select(SERVER_IDLE_S):
                line = sys.stdin.readline()
                if not line:
                    break
                record = _serve_one(json.loads(line), context, programs, stamp)
                answers.write(json.dumps(record) + "\n")
                answers.flush()
    except KeyboardInterrupt:
        pass  # SIGTERM: _run_local has killed the running point
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # while exiting, SIGTERM just ends it


#: A Dask worker's point servers: idle ones by sweep session, busy ones, stopped sessions.
_IDLE: dict[str, list[subprocess.Popen[str]]] = {}
_BUSY: dict[str, set[subprocess.Popen[str]]] = {}
_STOPPED: set[str] = set()
_SERVERS_LOCK = threading.Lock()


def _take_server(session: str) -> subprocess.Popen[str]:
    with _SERVERS_LOCK:
        idle = _IDLE.setdefault(session, [])
        while idle:
            server = idle.pop()
            if server.poll() is None:
                break
        else:
            server = subprocess.Popen(
                [sys.executable, "-c", SERVER_COMMAND], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True, start_new_session=True)  # no terminal ^C
        _BUSY.setdefault(session, set()).add(server)
        return server


def _stop(server: subprocess.Popen[str], busy: bool) -> None:
    """End a point server: an idle one at the end of its input, a busy one with SIGTERM
    (it kills its running point first); either is killed after EXIT_GRACE_S."""
    if busy and server.poll() is None:
        server.terminate()
    with suppress(OSError):
        server.stdin.close()  # type: ignore[union-attr]
    try:
        server.wait(EXIT_GRACE_S)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    with suppress(OSError):
        server.stdout.close()  # type: ignore[union-attr]


def _give_back(session: str, server: subprocess.Popen[str], healthy: bool) -> None:
    with _SERVERS_LOCK:
        _BUSY.get(session, set()).discard(server)
        keep = healthy and session not in _STOPPED and server.poll() is None
        if keep:
            _IDLE.setdefault(session, []).append(server)
    if not keep:
        _stop(server, busy=not healthy)


def stop_servers(session: str) -> int:
    """Stop the point servers of sweep ``session`` on this worker (run by ``client.run``)."""
    with _SERVERS_LOCK:
        _STOPPED.add(session)
        idle, busy = _IDLE.pop(session, []), _BUSY.pop(session, set())
    for server in idle:
        _stop(server, busy=False)
    for server in busy:
        _stop(server, busy=True)
    return len(idle) + len(busy)


def _answer(server: subprocess.Popen[str], deadline: float) -> str:
    """The server's next line ("" if it exited or the deadline passed)."""
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        if not selector.select(max(deadline - time.perf_counter(), 0)):
            return ""
    return server.stdout.readline()  # type: ignore[union-attr]


def _no_answer(server: subprocess.Popen[str], started: float, deadline: float) -> str:
    """Why ``server`` gave no answer: it exited, or the deadline passed."""
    if time.perf_counter() < deadline:  # its output ended: it is exiting
        with suppress(subprocess.TimeoutExpired):
            server.wait(EXIT_GRACE_S)
    code = server.poll()
    if code is None:
        return f"point server gave no result in {time.perf_counter() - started:.0f} s"
    if code < 0:
        return f"point server killed by {signal.Signals(-code).name} without a result"
    return f"point server exited with status {code} without a result"


def dask_point(task: dict[str, Any]) -> dict[str, Any]:
    """Run one point on a Dask worker, in a point server of its sweep; return its record.

    ``host_seconds`` is the whole task (a new server's start included), so the overhead
    says what the Dask executor costs per point.
    """
    started = time.perf_counter()
    deadline = started + SERVER_START_S + task["timeout"] + EXIT_GRACE_S
    server = _take_server(task["session"])
    record = None
    try:
        server.stdin.write(json.dumps(task) + "\n")  # type: ignore[union-attr]
        server.stdin.flush()  # type: ignore[union-attr]
        line = _answer(server, deadline)
        record = json.loads(line) if line else None
    except (OSError, ValueError) as err:
        error = f"point server failed: {_one_line(err)}"
    else:
        error = "" if record is not None else _no_answer(server, started, deadline)
    finally:
        _give_back(task["session"], server, healthy=record is not None)
    seconds = time.perf_counter() - started
    if record is None:
        return _record({**task, "provenance": provenance()}, "failed", error,
                       host_seconds=seconds)
    record["host_seconds"] = seconds
    if record.get("run_seconds") is not None:
        record["overhead_seconds"] = seconds - record["run_seconds"]
    return record


def dask_address(executor: str) -> tuple[str, str, int]:
    """``dask://[PROTOCOL://]HOST:PORT`` as (the distributed address, host, port).

    ConfigError, one line, unless the address is well formed: a protocol of
    :data:`DASK_PROTOCOLS` (default tcp), a host, a port 1-65535 and nothing else; or
    ``inproc://HOST/PID/N`` of a cluster in this process (port 0).
    """
    rest = executor[len(DASK_PREFIX):]
    if not rest:
        raise ConfigError("--executor dask://HOST:PORT: no scheduler address given")
    protocol, separator, where = rest.partition("://")
    if not separator:
        protocol, where = DEFAULT_DASK_PROTOCOL, rest
    usage = f"--executor {executor}: expected dask://HOST:PORT"
    if protocol == INPROC:
        return _inproc(rest, usage)
    if protocol not in DASK_PROTOCOLS:
        raise ConfigError(f"{usage}; protocol {protocol!r} is not one of "
                          f"{', '.join(DASK_PROTOCOLS)}")
    try:
        parts = urlsplit(f"//{where}")
        host, port = parts.hostname, parts.port
    except ValueError as err:
        raise ConfigError(f"{usage}: {err}") from None
    if not host or parts.username or parts.password or parts.path or parts.query or \
            parts.fragment or "#" in where or "?" in where:
        raise ConfigError(f"{usage}: {where!r} is not HOST:PORT")
    if port is None or port == 0:
        raise ConfigError(f"{usage}: {where!r} has no port (the scheduler's is usually 8786)")
    return f"{protocol}://{where}", host, port


def _inproc(address: str, usage: str) -> tuple[str, str, int]:
    """``inproc://HOST/PID/N``: a scheduler in this process (a LocalCluster of threads)."""
    parts = address[len(INPROC) + len("://"):].split("/")
    if len(parts) != 3 or not all(parts) or not parts[1].isdigit():
        raise ConfigError(f"{usage}: {address!r} is not an in-process scheduler address")
    if int(parts[1]) != os.getpid():
        raise ConfigError(f"{usage}: {address!r} is a scheduler inside another process "
                          f"(only a tcp:// address reaches it)")
    return address, parts[0], 0


def _reach(executor: str) -> str:
    """The scheduler's address, after a TCP connection to it; ConfigError when there is none."""
    address, host, port = dask_address(executor)
    if address.startswith(INPROC):
        return address
    try:
        socket.create_connection((host, port), timeout=DASK_REACH_TIMEOUT_S).close()
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {reason}") from None
    return address


def _connect(executor: str) -> Any:
    from distributed import Client

    address = _reach(executor)
    try:
        return Client(address, timeout=DASK_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as err:
        raise ConfigError(f"cannot connect to the Dask scheduler at {address}: "
                          f"{_one_line(err)}") from None


def _run_dask(tasks: list[dict[str, Any]], client: Any,
              session: str) -> Iterator[dict[str, Any]]:
    from distributed import as_completed

    futures = {client.submit(dask_point, {**task, "session": session}, pure=False): task
               for task in tasks}
    try:
        for future in as_completed(list(futures)):
            task = futures[future]
            try:
                yield future.result()
            except Exception as err:  # noqa: BLE001 - a lost worker fails the point only
                yield _record(task, "failed", f"dask: {_one_line(err)}")
    finally:
        client.cancel(list(futures))
        with suppress(Exception):
            client.run(stop_servers, session)


# -- the sweep ---------------------------------------------------------------------------------
@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM (kill) like Ctrl-C while the sweep runs, so it stops cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
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
        _reach(executor)


def _check_probes(spec: SweepSpec) -> dict[str, list[str]]:
    """The modules to import for each probe the spec runs; ConfigError for one in __main__."""
    with held_interrupts():  # the first import of the simulator, maybe
        from cofferos.sim.sweep_point import POINT_PROBES

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
              command: list[str] | None = None) -> SweepOutcome:
    """Run every point of ``spec`` not already done in ``out_dir``; write the results.

    ``progress(record)`` is called for each point as it finishes (``record["resumed"]``
    is True for a point skipped because an earlier run finished it). ``timeout_s``
    overrides every point's ``timeout_s``. Options, probes and the Dask scheduler are
    checked before ``out_dir`` is created. An interrupt (Ctrl-C, SIGTERM) stops the
    running points and returns with ``interrupted`` set, after writing what is done.
    """
    from cofferos.sim import sweep_spec

    if not isinstance(spec, SweepSpec):
        spec = sweep_spec.load(spec)
    check_options(jobs, executor, timeout_s)
    probe_modules = _check_probes(spec)
    command = command or ["coffersim", "sweep", spec.source]
    out = Path(out_dir)
    client = _connect(executor) if executor != LOCAL else None
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
    points_dir.mkdir(parents=True, exist_ok=True)
    begun = time.perf_counter()
    outcome = SweepOutcome(out_dir=out, records={p["id"]: None for p in spec.points})
    ran: list[dict[str, Any]] = []
    records: Any = None
    try:
        with _sigterm_interrupts():
            (out / SPEC_FILE).write_text(spec.text)
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
            records = (_run_local(tasks, jobs) if client is None
                       else _run_dask(tasks, client, uuid.uuid4().hex))
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
