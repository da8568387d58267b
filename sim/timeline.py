"""The machine's timeline: what every simulated core did and when, as a Chrome trace.

A :class:`Timeline` writes one file in the Trace Event Format that Perfetto
(ui.perfetto.dev) and chrome://tracing open: the "JSON Object Format",
``{"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}``, as defined
in "Trace Event Format" (Duca, Sinnott et al., Google; the document catapult's
``docs/trace-event-format.md`` points to,
https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU).
Three phases of that format are used, each with the fields it requires:

=====  ==================  ==========================================================
ph     what                fields
=====  ==================  ==========================================================
``X``  complete event      name, cat, ph, ts, dur, pid, tid, args
``i``  instant event       name, cat, ph, ts, pid, tid, s (scope: ``t`` thread,
                           ``g`` global), args
``M``  metadata event      name (process_name, thread_name, process_sort_index,
                           thread_sort_index), ph, pid, tid, args
=====  ==================  ==========================================================

``ts`` and ``dur`` are microseconds (the format's unit) of *simulated* time, written
with three decimals from whole nanoseconds (a system call of 70 ns is ``dur:0.070``):
start and end are rounded to the nanosecond each, so slices that nest in the machine
nest in the file exactly, and a slice shorter than a nanosecond is left out.

Every :class:`~cofferos.sim.machine.Machine` built while a timeline records
(:func:`recording`) is one process (``pid``) of the file, named after its kernel,
containers and cores, so that ``compare`` puts each kernel run side by side. Inside
it, thread ``tid`` = N is simulated core N, one track per core, on which the machine
lays out, in replayed time: ``user`` slices (cat ``user``, the guest running), one
slice per system call named after it (cat ``syscall``, its kernel work, locks
included; a page fault's work is a ``page fault`` slice of that category), nested
inside it the ``lock wait`` slices (cat ``lock``: which lock, on which object, held
by which container, who else uses it), and ``context switch`` and ``IPI`` slices
(cat ``sched``). Tasks' sleeps (cat ``sleep``) and their ``wake-up`` instants are on
one more track per task (tid >= :data:`TASK_TID_BASE`), since a sleeping task is on
no core.

The file's size is bounded: after ``limit`` events nothing more is written but one
global instant, ``timeline truncated``, saying how many were left out (the run
itself goes on unchanged). When no timeline records, the machine holds None and
each recording site costs one test.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import IO, Any

DEFAULT_LIMIT = 400_000
"""Events a timeline file holds at most by default: about 50 MB of JSON (127 bytes an
event), and the whole of issue #19's ``compare @metadata --kernels linux,cofferos
--containers 4 --cores 4`` (321,717 events)."""
NS_PER_US = 1000.0  #: the format's timestamps are microseconds; the machine's clock is ns
TASK_TID_BASE = 1000  #: tids from here on are tasks' sleep tracks (below: cores)
SORT_TASKS_AFTER_CORES = TASK_TID_BASE  #: thread_sort_index offset of the task tracks

# Categories (the "cat" field): what plot --kind timeline colours by.
USER = "user"
SYSCALL = "syscall"
LOCK = "lock"
SCHED = "sched"
SLEEP = "sleep"
NOTE = "note"
CATEGORIES = (USER, SYSCALL, LOCK, SCHED, SLEEP, NOTE)

LOCK_WAIT = "lock wait"
CONTEXT_SWITCH = "context switch"
IPI = "IPI"
WAKE_UP = "wake-up"
TRUNCATED = "timeline truncated"
SEPARATORS = (",", ":")  #: compact JSON: a trace is large
SNAP_NS = 1
"""A slice that starts this close before the previous one of its track ended starts at
that end: the machine reaches one instant by sums in different orders (float noise),
which rounding to the ns could turn into a 1 ns overlap; a real overlap stays one."""


class Timeline:
    """One trace file being written: events are streamed to ``out`` as they come.

    ``out`` is an open text file; :meth:`close` ends the JSON document (call it
    once, also after an interrupted run, so the file stays valid).
    """

    def __init__(self, out: IO[str], limit: int = DEFAULT_LIMIT,
                 other: dict[str, Any] | None = None) -> None:
        self.out = out
        self.limit = limit
        self.written = 0
        self.dropped = 0
        self.processes = 0
        self._separator = ""  #: before each event: nothing for the first, then ",\n"
        out.write('{"displayTimeUnit":"ns","otherData":')
        out.write(json.dumps({"clock": "simulated", **(other or {})}, separators=SEPARATORS))
        out.write(',"traceEvents":[\n')

    def emit(self, event: dict[str, Any]) -> None:
        """Write one event, unless the limit is reached (then count it as dropped)."""
        self.emit_json(json.dumps(event, separators=SEPARATORS))

    def emit_json(self, text: str) -> None:
        """Write one event already encoded (the machine's hot path), within the limit."""
        if self.written >= self.limit:
            self.dropped += 1
            return
        self.written += 1
        self.out.write(self._separator + text)
        self._separator = ",\n"

    def machine(self, label: str, cores: int, call_names: dict[int, str]) -> MachineTrack:
        """A new process of the file for one machine run, with one track per core;
        ``call_names`` names the kernel work of each number the machine records."""
        self.processes += 1
        return MachineTrack(self, self.processes, label, cores, call_names)

    def close(self) -> None:
        """Note a truncation (always written, past the limit) and end the document."""
        if self.dropped:  # (past the limit, and not counted in ``written``)
            note = {"name": TRUNCATED, "cat": NOTE, "ph": "i", "s": "g", "ts": 0,
                    "pid": 0, "tid": 0,
                    "args": {"limit": self.limit, "events_left_out": self.dropped}}
            self.out.write(self._separator + json.dumps(note, separators=SEPARATORS))
        self.out.write("\n]}\n")


class MachineTrack:
    """What one machine records: its process in the file, its cores' and tasks' tracks."""

    def __init__(self, timeline: Timeline, pid: int, label: str, cores: int,
                 call_names: dict[int, str]) -> None:
        self.timeline = timeline
        self.pid = pid
        self.call_names = call_names
        self.task_tids: dict[Any, int] = {}
        self._names: dict[str, str] = {}  #: event names, JSON-encoded once
        #: Per track: where (ns) its last slice that is not a lock wait ended.
        self._ends: dict[int, int] = {}
        self._tasks: dict[tuple[str, int, str], tuple[str, str]] = {}  #: label, args
        self._meta("process_name", 0, {"name": label})
        self._meta("process_sort_index", 0, {"sort_index": pid})
        for core in range(cores):
            self._meta("thread_name", core, {"name": f"core {core}"})
            self._meta("thread_sort_index", core, {"sort_index": core})

    def _meta(self, name: str, tid: int, args: dict[str, Any]) -> None:
        self.timeline.emit({"name": name, "ph": "M", "pid": self.pid, "tid": tid,
                            "args": args})

    def complete(self, name: str, cat: str, tid: int, start_ns: float, dur_ns: float,
                 args: dict[str, Any]) -> None:
        """An ``X`` event of ``dur_ns`` from ``start_ns`` (nothing for an empty one)."""
        self._complete(self._name(name), cat, tid, start_ns, dur_ns,
                       json.dumps(args, separators=SEPARATORS))

    def _complete(self, name_json: str, cat: str, tid: int, start_ns: float, dur_ns: float,
                  args_json: str) -> None:
        start = round(start_ns)
        end = round(start_ns + dur_ns)
        last = self._ends.get(tid, 0)
        if last - SNAP_NS <= start < last:  # the same instant, summed in another order
            start = last
        if end <= start:
            return
        if cat != LOCK:  # (a lock wait is nested in its call: the call ends after it)
            self._ends[tid] = end
        self.timeline.emit_json(
            f'{{"name":{name_json},"cat":"{cat}","ph":"X","ts":{start / NS_PER_US:.3f},'
            f'"dur":{(end - start) / NS_PER_US:.3f},"pid":{self.pid},"tid":{tid},'
            f'"args":{args_json}}}')

    def _name(self, name: str) -> str:
        encoded = self._names.get(name)
        if encoded is None:
            encoded = self._names[name] = json.dumps(name)
        return encoded

    def _task(self, task: Any) -> tuple[str, str]:
        """A task's label and args, JSON-encoded once per (container, pid, command)."""
        key = (task.coffer.config.name, task.pid, task.comm)
        found = self._tasks.get(key)
        if found is None:
            found = self._tasks[key] = (json.dumps(task_label(task)),
                                        json.dumps(task_args(task), separators=SEPARATORS))
        return found

    def instant(self, name: str, cat: str, tid: int, at_ns: float,
                args: dict[str, Any]) -> None:
        """A thread-scoped ``i`` event at ``at_ns``."""
        self.timeline.emit({"name": name, "cat": cat, "ph": "i", "s": "t",
                            "ts": round(at_ns) / NS_PER_US, "pid": self.pid, "tid": tid,
                            "args": args})

    # -- the machine's vocabulary -------------------------------------------------------
    def user(self, core: int, task: Any, start_ns: float, dur_ns: float) -> None:
        label, args = self._task(task)
        self._complete(label, USER, core, start_ns, dur_ns, args)

    def syscall(self, core: int, task: Any, nr: int, start_ns: float, dur_ns: float,
                virtualization_ns: float) -> None:
        """The kernel work of call (or page fault) ``nr``, named after it."""
        name = self.call_names.get(nr) or f"syscall {nr}"
        _label, args = self._task(task)
        if virtualization_ns:
            args = f'{args[:-1]},"virtualization_us":{virtualization_ns / NS_PER_US:.3f}}}'
        self._complete(self._name(name), SYSCALL, core, start_ns, dur_ns, args)

    def lock_wait(self, core: int, start_ns: float, dur_ns: float,
                  args: dict[str, Any]) -> None:
        self.complete(LOCK_WAIT, LOCK, core, start_ns, dur_ns, args)

    def sched(self, core: int, name: str, task: Any, start_ns: float, dur_ns: float,
              **extra: Any) -> None:
        self.complete(name, SCHED, core, start_ns, dur_ns, {**task_args(task), **extra})

    def ipi(self, core: int, task: Any, from_core: int, at_ns: float, dur_ns: float) -> None:
        """A remote wake-up reaching ``core`` from ``from_core``: an instant, then its cost."""
        self.instant(IPI, SCHED, core, at_ns, {**task_args(task), "from_core": from_core})
        self.sched(core, IPI, task, at_ns, dur_ns, from_core=from_core)

    def task_tid(self, task: Any) -> int:
        """The sleep track of ``task`` (named at its first use)."""
        key = (task.coffer.config.name, task.pid)
        tid = self.task_tids.get(key)
        if tid is None:
            tid = self.task_tids[key] = TASK_TID_BASE + len(self.task_tids)
            self._meta("thread_name", tid, {"name": f"{task_label(task)} sleeps"})
            self._meta("thread_sort_index", tid, {"sort_index": tid})
        return tid

    def sleep(self, task: Any, start_ns: float, dur_ns: float) -> None:
        self.complete("sleep", SLEEP, self.task_tid(task), start_ns, dur_ns, task_args(task))

    def wake_up(self, task: Any, at_ns: float, from_core: int | None) -> None:
        args = task_args(task)
        args["from_core"] = -1 if from_core is None else from_core  # -1: a timer
        self.instant(WAKE_UP, SLEEP, self.task_tid(task), at_ns, args)

    def summed_slice(self, core: int, task: Any, calls: list[Any], start_cycles: int,
                     end_cycles: int, start_ns: float, ns_per_cycle: float,
                     slowdown: float, virt_cycles: list[int]) -> None:
        """Lay out a slice replayed in one timeout (no lock could be contended): user
        time up to each call, then the call's kernel work, then the tail."""
        position, now = start_cycles, start_ns
        for _caller, nr, at_cycles, kernel_cycles, _uses in calls:
            user = max(at_cycles - position, 0) * ns_per_cycle * slowdown
            self.user(core, task, now, user)
            now += user
            position = max(position, at_cycles)
            kernel = kernel_cycles * ns_per_cycle
            virt = (virt_cycles[nr] if nr < len(virt_cycles) else 0) * ns_per_cycle
            self.syscall(core, task, nr, now, kernel, virt)
            now += kernel
        self.user(core, task, now, max(end_cycles - position, 0) * ns_per_cycle * slowdown)


def task_label(task: Any) -> str:
    """``c0/12 metadata``: container, task id, command."""
    return f"{task.coffer.config.name}/{task.pid} {task.comm}".rstrip()


def task_args(task: Any) -> dict[str, Any]:
    return {"container": task.coffer.config.name, "task": task.pid}


def describe(obj: object) -> str:
    """The kernel object a lock lives on, in words: an inode and its filesystem's device,
    a superblock, a futex hash bucket, a pipe or socket; ``global`` for none."""
    if obj is None:
        return "global"
    if isinstance(obj, int):
        return f"hash bucket {obj}"
    ino = getattr(obj, "ino", None)
    sb = getattr(obj, "sb", None)
    if ino is not None:
        kind = "directory" if getattr(obj, "is_dir", lambda: False)() else "inode"
        dev = getattr(sb, "dev", None)
        return f"{kind} {ino}" + (f" on dev {dev:#x}" if isinstance(dev, int) else "")
    dev = getattr(obj, "dev", None)
    if isinstance(dev, int):
        return f"superblock dev {dev:#x}"
    return f"{type(obj).__name__.lower()} {id(obj):#x}"


# -- recording: which timeline the machines built now write to ----------------------------
_recording: Timeline | None = None


@contextlib.contextmanager
def recording(timeline: Timeline) -> Iterator[Timeline]:
    """Every Machine built inside the block records on ``timeline`` (as ``compare`` and
    the experiments build theirs deep inside); closed at the end, also on an error."""
    global _recording
    previous, _recording = _recording, timeline
    try:
        yield timeline
    finally:
        _recording = previous
        timeline.close()


def for_machine(label: str, cores: int, call_names: dict[int, str]) -> MachineTrack | None:
    """The track a new machine records on, or None when no timeline records."""
    return None if _recording is None else _recording.machine(label, cores, call_names)
