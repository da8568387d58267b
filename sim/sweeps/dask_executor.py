"""The Dask executor of a sweep (``--executor dask://HOST:PORT``).

Each point is a task on a ``distributed`` cluster. Dask workers are daemonic and
cannot fork with multiprocessing, so a task hands its point to a *point server*
(:func:`serve`), a plain subprocess of the worker that imports the simulator once
and then runs each point it is sent in a fork of itself, exactly as the local
executor does (:mod:`cofferos.sim.sweeps.local_executor`). A worker keeps one server per
busy thread for the whole sweep (the imports are paid once per server, not per
point); the servers stop when the sweep ends (or after :data:`SERVER_IDLE_S`).
The scheduler address is parsed (:func:`dask_address`) and reached with a TCP
connection (:func:`reach_scheduler`) before anything is written.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from cofferos.errors import ConfigError
from cofferos.sim.sweeps.local_executor import (
    EXIT_GRACE_S,
    one_line,
    point_record,
    provenance,
    raise_interrupt,
    run_local,
)

DASK_PREFIX = "dask://"
DEFAULT_DASK_PROTOCOL = "tcp"
#: Protocols a scheduler address may name (``inproc``: a cluster inside this process).
DASK_PROTOCOLS = ("tcp", "tls", "ws", "wss")
INPROC = "inproc"
#: Seconds to wait for a TCP connection to the scheduler (the check before anything runs).
DASK_REACH_TIMEOUT_S = 5
#: Seconds to wait for a Dask scheduler to answer before giving up.
DASK_CONNECT_TIMEOUT_S = 10
#: How a Dask worker starts a point server: by module name, never as ``__main__``.
SERVER_COMMAND = "from cofferos.sim.sweeps.dask_executor import serve; serve()"
#: A point server that gets no point for this long exits (its sweep is gone).
SERVER_IDLE_S = 600
#: Host seconds a point server may take to start (imports, building the workload), on top
#: of the point's own timeout, before the worker gives up on it.
SERVER_START_S = 120


def _serve_one(task: dict[str, Any], context: Any, programs: dict[str, str | None],
               stamp: dict[str, Any]) -> dict[str, Any]:
    """Run one point in a fork of this point server; its record."""
    from cofferos.coffers.program import resolve_program
    from cofferos.sim.sweeps.point import import_probes

    task = {**task, "provenance": stamp}
    try:
        import_probes(task["modules"])
        workload = task["config"]["workload"]
        if workload not in programs:
            programs[workload] = (resolve_program(workload) if workload.startswith("@")
                                  else workload)  # a path, checked when the spec was read
    except Exception as err:  # noqa: BLE001 - a probe module or workload that fails: the point's
        return point_record(task, "failed", one_line(err), detail=traceback.format_exc())
    records = run_local([{**task, "program": programs[workload]}], 1, context)
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
    import cofferos.sim.sweeps.point  # noqa: F401 - the simulator, once for every point

    stamp = provenance()
    context = multiprocessing.get_context("fork")
    programs: dict[str, str | None] = {}
    # Until now SIGTERM just ends the server (no point runs yet; a KeyboardInterrupt in the
    # simulator's import would be swallowed by llvmlite's callbacks, with a traceback).
    signal.signal(signal.SIGTERM, raise_interrupt)
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
        pass  # SIGTERM: run_local has killed the running point
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
        error = f"point server failed: {one_line(err)}"
    else:
        error = "" if record is not None else _no_answer(server, started, deadline)
    finally:
        _give_back(task["session"], server, healthy=record is not None)
    seconds = time.perf_counter() - started
    if record is None:
        return point_record({**task, "provenance": provenance()}, "failed", error,
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


def reach_scheduler(executor: str) -> str:
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


def connect_scheduler(executor: str) -> Any:
    """A ``distributed.Client`` of the scheduler ``executor`` names (ConfigError if none)."""
    from distributed import Client

    address = reach_scheduler(executor)
    try:
        return Client(address, timeout=DASK_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as err:
        raise ConfigError(f"cannot connect to the Dask scheduler at {address}: "
                          f"{one_line(err)}") from None


def run_dask(tasks: list[dict[str, Any]], client: Any,
             session: str) -> Iterator[dict[str, Any]]:
    """Run ``tasks`` on ``client``'s cluster; yield each record as it finishes (a lost
    worker fails its point only); stop this sweep's point servers at the end."""
    from distributed import as_completed

    futures = {client.submit(dask_point, {**task, "session": session}, pure=False): task
               for task in tasks}
    try:
        for future in as_completed(list(futures)):
            task = futures[future]
            try:
                yield future.result()
            except Exception as err:  # noqa: BLE001 - a lost worker fails the point only
                yield point_record(task, "failed", f"dask: {one_line(err)}")
    finally:
        client.cancel(list(futures))
        with suppress(Exception):
            client.run(stop_servers, session)

