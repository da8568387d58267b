"""A timeline file read back: checked against the Trace Event Format, and drawn.

``--timeline FILE.json`` (:mod:`cofferos.sim.timeline`) writes the Trace Event
Format's JSON Object Format. :func:`problems` checks a document against the
fields that format requires of the phases it uses (name, ph, ts, pid, tid for all;
cat and dur for ``X``; a scope of g, p or t for ``i``; args with ``name`` or
``sort_index`` for ``M``), that times are finite and non-negative, and that the
complete events of one track nest (a system call may hold a lock wait, but two
slices of one core never cross). :func:`load` reads a file and refuses a bad one
in one line.

:func:`draw` is ``coffersim plot --kind timeline``: a static figure for papers and
slides, one row per simulated core of every process (kernel run) of the file,
coloured by what the core did: user time, system calls, lock waits (drawn over the
call that waits), scheduling (context switches, IPIs); white is idle.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from cofferos.errors import ConfigError
from cofferos.sim.timeline import LOCK, SCHED, SYSCALL, TASK_TID_BASE, TRUNCATED, USER

#: Fields each phase must have (the Trace Event Format's "required" per event type).
REQUIRED: dict[str, tuple[str, ...]] = {
    "X": ("name", "cat", "ph", "ts", "dur", "pid", "tid"),
    "i": ("name", "ph", "ts", "pid", "tid"),
    "M": ("name", "ph", "pid", "args"),
}
METADATA_NAMES = {"process_name": "name", "thread_name": "name",
                  "process_sort_index": "sort_index", "thread_sort_index": "sort_index"}
INSTANT_SCOPES = ("g", "p", "t")
NESTING_SLACK_US = 1e-6  #: float rounding of ns sums, far below any event (1 fs)
#: What the figure draws, in order (later over earlier): category, label, colour
#: (Okabe-Ito, as every figure of the project: results/plot.py).
LAYERS = ((USER, "user", "#0072B2"), (SYSCALL, "system call, page fault", "#E69F00"),
          (SCHED, "context switch, IPI", "#CC79A7"), (LOCK, "lock wait", "#D55E00"))
VISIBLE_FRACTION = 1e-3
"""Lock waits are often far shorter than a pixel: each is drawn at least this fraction
of the time axis wide (the legend says so), so that the figure shows where they are."""
ROW_INCHES = 0.28
MIN_HEIGHT_INCHES = 2.5
BAR_HEIGHT = 0.8
MS_PER_US = 1e-3


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def problems(doc: Any, most: int = 20) -> list[str]:
    """What is wrong with ``doc`` as a Trace Event document (at most ``most`` items)."""
    found: list[str] = []
    events = doc.get("traceEvents") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        return ["no traceEvents list"]
    tracks: dict[tuple[Any, Any], list[tuple[float, float, int]]] = defaultdict(list)
    for index, event in enumerate(events):
        if len(found) >= most:
            break
        where = f"event {index}"
        if not isinstance(event, dict):
            found.append(f"{where}: not an object")
            continue
        ph = event.get("ph")
        if ph not in REQUIRED:
            found.append(f"{where}: phase {ph!r} is not X, i or M")
            continue
        missing = [key for key in REQUIRED[ph] if key not in event]
        if missing:
            found.append(f"{where} ({ph}): missing {', '.join(missing)}")
            continue
        if not isinstance(event["name"], str) or ("cat" in event
                                                  and not isinstance(event["cat"], str)):
            found.append(f"{where}: name and cat must be strings")
        if not all(isinstance(event.get(k, 0), int) for k in ("pid", "tid")):
            found.append(f"{where}: pid and tid must be integers")
        if "args" in event and not isinstance(event["args"], dict):
            found.append(f"{where}: args must be an object")
        if ph == "M":
            key = METADATA_NAMES.get(event["name"])
            if key is None or key not in event["args"]:
                found.append(f"{where}: metadata {event['name']!r} without args.{key}")
            continue
        if not _number(event["ts"]) or event["ts"] < 0:
            found.append(f"{where}: ts {event['ts']!r} is not a non-negative number")
            continue
        if ph == "i":
            if event.get("s", "t") not in INSTANT_SCOPES:
                found.append(f"{where}: instant scope {event.get('s')!r} is not g, p or t")
            continue
        if not _number(event["dur"]) or event["dur"] < 0:
            found.append(f"{where}: dur {event['dur']!r} is not a non-negative number")
            continue
        tracks[(event["pid"], event["tid"])].append((event["ts"], event["dur"], index))
    for (pid, tid), slices in tracks.items():
        if len(found) >= most:
            break
        crossing = _crossing(slices)
        if crossing is not None:
            found.append(f"pid {pid} tid {tid}: events {crossing[0]} and {crossing[1]} "
                         "overlap without nesting")
    return found[:most]


def _crossing(slices: list[tuple[float, float, int]]) -> tuple[int, int] | None:
    """Two complete events of one track that overlap without one holding the other."""
    stack: list[tuple[float, int]] = []  # (end, index) of the open enclosing slices
    for start, dur, index in sorted(slices, key=lambda s: (s[0], -s[1])):
        end = start + dur
        while stack and stack[-1][0] <= start + NESTING_SLACK_US:
            stack.pop()
        if stack and end > stack[-1][0] + NESTING_SLACK_US:
            return stack[-1][1], index
        stack.append((end, index))
    return None


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A timeline file, checked; a one-line ConfigError when it cannot be used."""
    try:
        with open(path, encoding="utf-8") as file:
            doc = json.load(file)
    except FileNotFoundError:
        raise ConfigError(f"{os.fspath(path)}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{os.fspath(path)}: a directory, not a timeline "
                          "(--kind timeline takes a --timeline FILE.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{os.fspath(path)}: not a timeline: {err}") from None
    wrong = problems(doc, most=1)
    if wrong:
        raise ConfigError(f"{os.fspath(path)}: not a Trace Event timeline: {wrong[0]}")
    return doc if isinstance(doc, dict) else {"traceEvents": doc}


def core_rows(doc: dict[str, Any]) -> list[tuple[str, dict[str, list[tuple[float, float]]]]]:
    """Each core track of each process, in the file's order: its label and its slices
    (start ms, length ms) by category."""
    names: dict[int, str] = {}
    rows: dict[tuple[int, int], dict[str, list[tuple[float, float]]]] = {}
    for event in doc["traceEvents"]:
        if event["ph"] == "M" and event["name"] == "process_name":
            names[event["pid"]] = event["args"]["name"]
        elif event["ph"] == "X" and event["tid"] < TASK_TID_BASE:
            row = rows.setdefault((event["pid"], event["tid"]), defaultdict(list))
            row[event["cat"]].append((event["ts"] * MS_PER_US, event["dur"] * MS_PER_US))
    return [(f"{names.get(pid, f'process {pid}')} | core {tid}", rows[(pid, tid)])
            for pid, tid in sorted(rows)]


def truncated(doc: dict[str, Any]) -> int:
    """Events the writer left out past its limit (0: the file is whole)."""
    return sum(event.get("args", {}).get("events_left_out", 0)
               for event in doc["traceEvents"] if event.get("name") == TRUNCATED)


def draw(doc: dict[str, Any], out: str | os.PathLike[str], title: str = "") -> Path:
    """Draw the cores of ``doc`` to ``out`` (.png, .svg or .pdf); returns the path."""
    from matplotlib.patches import Patch

    from cofferos.results.plot import FIGURE_INCHES, new_figure, output_path, save_figure

    path = output_path(out)
    rows = core_rows(doc)
    if not rows:
        raise ConfigError(f"nothing to draw: {title or 'the timeline'} has no core events")
    figure, ax = new_figure(FIGURE_INCHES[0] * 1.5)
    figure.set_figheight(max(MIN_HEIGHT_INCHES, ROW_INCHES * len(rows) + 1.5))
    span = max((start + length for _label, slices in rows for cat in slices
                for start, length in slices[cat]), default=0.0)
    widest = span * VISIBLE_FRACTION
    for y, (_label, slices) in enumerate(rows):
        for cat, _name, colour in LAYERS:
            bars = slices.get(cat)
            if bars and cat == LOCK:
                bars = [(start, max(length, widest)) for start, length in bars]
            if bars:
                ax.broken_barh(bars, (y - BAR_HEIGHT / 2, BAR_HEIGHT),
                               facecolors=colour, linewidth=0)
    ax.set_yticks(range(len(rows)), [label for label, _slices in rows], fontsize="small")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("simulated time (ms)")
    ax.set_xlim(left=0)
    labels = {LOCK: f"lock wait (drawn at least {VISIBLE_FRACTION:.1%} wide)"}
    ax.legend(handles=[Patch(color=colour, label=labels.get(cat, name))
                       for cat, name, colour in LAYERS],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    left_out = truncated(doc)
    if left_out:
        title = f"{title} (truncated: {left_out:,} later events left out)".strip()
    if title:
        ax.set_title(title, fontsize="medium")
    return save_figure(figure, path)
