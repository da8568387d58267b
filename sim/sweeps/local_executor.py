"""One sweep point in a process of its own: its record, and the local executor.

:func:`run_local` runs at most ``jobs`` points at once, each a fork of a
forkserver that has already imported the simulator (a cheap start; the
forkserver is started with SIGINT blocked, so Ctrl-C while it imports is no
traceback), and kills a point at its timeout; a point that raises, crashes or
hangs becomes a *failed* record (:func:`point_record`). The Dask executor
(:mod:`cofferos.sim.sweeps.dask_executor`) runs each point through the same function, in a
point server on the worker; :mod:`cofferos.sim.sweeps.run` orchestrates.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
import traceback
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing import spawn
from multiprocessing.connection import wait
from typing import Any

#: What the forkserver imports once for every point: the simulator, and this module (the
#: child's entry point; importing it in each child cost ~25 ms, as much as the fork).
PRELOAD = ["cofferos.sim.sweeps.point", "cofferos.sim.sweeps.local_executor"]
#: A finished child has sent its result; it gets this long to exit before it is killed.
EXIT_GRACE_S = 5.0


# -- one point's record -------------------------------------------------------------------------
def provenance() -> dict[str, Any]:
    """What produced a result: the project version, git commit and dirtiness, and the host."""
    from cofferos.results.manifest import host, source_revision

    return {**source_revision(), "host": host()}


def point_record(task: dict[str, Any], status: str, error: str = "", *,
                 rows: list | None = None, host_seconds: float = 0.0,
                 run_seconds: float | None = None, detail: str = "") -> dict[str, Any]:
    """The record ``points/<id>.json`` keeps of a point, ok or failed."""
    overhead = None if run_seconds is None else host_seconds - run_seconds
    return {"id": task["id"], "config": task["config"], "status": status, "error": error,
            "host_seconds": host_seconds, "run_seconds": run_seconds,
            "overhead_seconds": overhead, "rows": rows or [], "traceback": detail,
            **task.get("provenance", {})}


def one_line(err: BaseException) -> str:
    """An exception as the one line a failed record shows (``Type: message``)."""
    return traceback.format_exception_only(err)[-1].strip()


def _timed_out(task: dict[str, Any], seconds: float) -> dict[str, Any]:
    return point_record(task, "failed", f"timed out after {task['timeout']:g} s of host time",
                   host_seconds=seconds)


# -- local executor -----------------------------------------------------------------------------
def _child(config: dict[str, Any], program: str | None, probes: dict[str, Any],
           conn: Any) -> None:
    """Body of a point's process: run it, send ("ok", result) or ("failed", error, traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # _forkserver blocked it
    from cofferos.sim.sweeps.point import POINT_PROBES, run_point

    try:
        POINT_PROBES.update(probes)
        message: tuple[Any, ...] = ("ok", run_point(config, program))
    except BaseException as err:  # noqa: B036 - anything a point does is its own failure
        message = ("failed", one_line(err), traceback.format_exc())
    try:
        conn.send(message)
    except OSError:
        pass  # the sweep stopped waiting (interrupted): there is nobody to tell
    except Exception as err:  # noqa: BLE001 - e.g. a probe's row that cannot be pickled
        with suppress(OSError):
            conn.send(("failed", one_line(err), traceback.format_exc()))
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


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C while a point starts: a forkserver start sends the child its
    preparation data after the fork, so a KeyboardInterrupt between the two (before the
    child's pid is known, so it could not be killed) left a child that printed an
    EOFError traceback. Held, the interrupt arrives once the start is whole, and the
    caller kills the child it knows."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


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
        return point_record(task, "ok", rows=result["rows"], host_seconds=elapsed,
                       run_seconds=result["run_seconds"])
    return point_record(task, "failed", message[1], host_seconds=elapsed, detail=message[2])


def run_local(tasks: list[dict[str, Any]], jobs: int,
               context: Any = None) -> Iterator[dict[str, Any]]:
    """Run ``tasks`` at most ``jobs`` at a time; yield each record as it finishes.

    ``context``: the multiprocessing context (default: the preloaded forkserver).
    """
    from cofferos.sim.sweeps.point import POINT_PROBES

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
                    with _without_main(), _sigint_held():
                        process.start()
                except Exception as err:  # noqa: BLE001 - e.g. a probe that cannot be pickled
                    reader.close()
                    yield point_record(task, "failed", f"cannot start the point: {one_line(err)}")
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



def raise_interrupt(_signum: int, _frame: Any) -> None:
    """A signal handler that stops the sweep as Ctrl-C does (for SIGTERM)."""
    raise KeyboardInterrupt

