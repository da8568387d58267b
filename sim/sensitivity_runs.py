"""Running a sensitivity study (``coffersim sensitivity``): the runs :mod:`.sensitivity`
compares, and only those that can differ from the base.

An experiment that names its independent *parts* (``parts(params)``,
``run_part(params, part)`` and ``assemble(params, outcomes)``, as ``tradeoff`` does:
each checked experiment per kernel, each throughput) is run part by part; any other
experiment is one part, its whole run.

1. **The base**: every part runs once as given, recording which constants of the cost
   model it reads and the values read (:mod:`cofferos.sim.costreads`).
2. **The variations**: for each constant and level, only the parts that read one of
   the constant's keys with a value the level changes run again
   (:func:`cofferos.sim.costreads.untouched`); the other parts' outcomes are the
   base's, unchanged by construction (the simulator is deterministic). A variation
   that no part reads is not run at all: its row is marked ``unused``.
3. Each variation's result is assembled from its parts and compared with the base
   (:func:`cofferos.sim.sensitivity.compare`).

Parts run ``jobs`` at a time, each in a worker process, one variation after another
(its longest parts first, by the base's CPU time); a varied part restores every table
it scaled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from cofferos.sim import costreads
from cofferos.sim.isolation.common import ExperimentParams, ExperimentResult
from cofferos.sim.sensitivity import (
    ARCH,
    LOCK,
    Constant,
    Level,
    applied,
    compare,
    plain_rows,
    verdicts,
)

WHOLE = ("whole run",)  #: the one part of an experiment that names none
#: (experiment, params, part, constant, level): one part of one run (constant None: base).
Job = tuple[str, ExperimentParams, tuple[Any, ...], Constant | None, Level | None]


def _module(name: str) -> Any:
    from cofferos.sim.isolation import experiment

    return experiment(name)


def parts_of(name: str, params: ExperimentParams) -> list[tuple[Any, ...]]:
    """The parts of a run of experiment ``name``: its own, or the whole run."""
    module = _module(name)
    if hasattr(module, "parts") and params.repeats == 1:
        return list(module.parts(_resolved(module, params)))
    return [WHOLE]


def _resolved(module: Any, params: ExperimentParams) -> ExperimentParams:
    from cofferos.sim.isolation import for_module

    return for_module(module, params).resolved(getattr(module, "DEFAULTS", {}))


def _run_part(name: str, params: ExperimentParams, part: tuple[Any, ...]) -> Any:
    from cofferos.sim.experiment import cost_overrides
    from cofferos.sim.isolation import run_experiment

    module = _module(name)
    if part == WHOLE:
        return replace(run_experiment(module, params), draw=None)  # (picklable)
    resolved = _resolved(module, params)
    with cost_overrides(resolved.costs):
        return module.run_part(resolved, part)


def assemble(name: str, params: ExperimentParams,
             outcomes: dict[tuple[Any, ...], Any]) -> ExperimentResult:
    """The result of one run from its parts' outcomes."""
    if WHOLE in outcomes:
        return outcomes[WHOLE]
    module = _module(name)
    return replace(module.assemble(_resolved(module, params), outcomes), draw=None)


def run_job(job: Job) -> tuple[Any, costreads.Reads | None, float]:
    """One part of one run (a worker process's entry point): its outcome, the constants
    it read (the base only) and the CPU seconds it took."""
    name, params, part, constant, level = job
    started = time.process_time()
    if constant is None or level is None:
        with costreads.recording() as reads:
            outcome = _run_part(name, params, part)
        return outcome, reads, time.process_time() - started
    with applied(constant, level) as overrides:
        outcome = _run_part(name, replace(params, costs=(*params.costs, *overrides)), part)
    return outcome, None, time.process_time() - started


def changes(constant: Constant, level: Level) -> Callable[[str, Any], Any]:
    """The value each key of ``constant`` has at ``level``, from the value read
    (:func:`cofferos.sim.sensitivity.applied`'s rule; ``UNKNOWN``: cannot say)."""
    def after(key: str, value: Any) -> Any:
        if level.value is not None:
            return level.value
        factor = level.factor or 0.0
        if key.startswith(ARCH):  # each architecture's own value, scaled
            return round(value * factor)
        if key.startswith(LOCK) and key != costreads.HANDOFF:
            return costreads.UNKNOWN  # several rules' holds, each scaled
        return constant.level(factor)
    return after


def run_sensitivity(name: str, params: ExperimentParams,
                    plan: Sequence[tuple[Constant, Sequence[Level]]], jobs: int = 1,
                    progress: Callable[[int, int, str], None] | None = None
                    ) -> tuple[ExperimentResult, list[dict[str, Any]], dict[str, Any]]:
    """The base result, one row per (constant, level) of ``plan`` (see the module doc)
    and what ran: parts, runs of a part, and the CPU seconds of the base's parts."""
    parts = parts_of(name, params)
    base_runs = {}
    for part, run in zip(parts, _map(run_job, [(name, params, p, None, None) for p in parts],
                                     jobs), strict=True):
        base_runs[part] = run
        if progress is not None:
            progress(len(base_runs), len(parts), f"base: {_label(part)}")
    reads = {part: found for part, (_o, found, _s) in base_runs.items()}
    seconds = {part: spent for part, (_o, _f, spent) in base_runs.items()}
    outcomes = {part: outcome for part, (outcome, _f, _s) in base_runs.items()}
    base = assemble(name, params, outcomes)
    needed = {(i, j): [p for p in parts if not costreads.untouched(
                  constant.keys, changes(constant, level), reads[p] or {})]
              for i, (constant, levels) in enumerate(plan) for j, level in enumerate(levels)}
    order = [(key, part) for key, wanted in needed.items()  # (a variation at a time, so
             for part in sorted(wanted, key=lambda p: -seconds[p])]  # rows come as it goes)
    work = [(name, params, part, plan[i][0], plan[i][1][j]) for (i, j), part in order]
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    total, done = len(needed), 0
    for key, wanted in needed.items():
        if not wanted:
            rows[key] = _row(plan, key, name, base, None, [])
            done += 1
    varied: dict[tuple[int, int], dict[tuple[Any, ...], Any]] = {}
    for ((key, part), (outcome, _f, _s)) in zip(order, _map(run_job, work, jobs), strict=True):
        varied.setdefault(key, {})[part] = outcome
        if len(varied[key]) == len(needed[key]):
            result = assemble(name, params, {**outcomes, **varied.pop(key)})
            rows[key] = _row(plan, key, name, base, result, needed[key])
            done += 1
            if progress is not None:
                constant, level = plan[key[0]][0], plan[key[0]][1][key[1]]
                progress(done, total, f"{constant.name} {level.label} "
                                      f"({len(needed[key])} of {len(parts)} parts)")
    ordered = [rows[(i, j)] for i, (_c, levels) in enumerate(plan) for j in range(len(levels))]
    ran = {"parts": [_label(p) for p in parts], "part_runs": len(work),
           "base_part_cpu_seconds": {_label(p): round(seconds[p], 1) for p in parts},
           "reads": {_label(p): sorted(reads[p] or {}) for p in parts}}
    return base, ordered, ran


def _label(part: tuple[Any, ...]) -> str:
    return " ".join(str(item) if not isinstance(item, tuple) else "+".join(item) or "none"
                    for item in part)


def _row(plan: Sequence[tuple[Constant, Sequence[Level]]], key: tuple[int, int], name: str,
         base: ExperimentResult, result: ExperimentResult | None,
         parts: list[tuple[Any, ...]]) -> dict[str, Any]:
    constant, level = plan[key[0]][0], plan[key[0]][1][key[1]]
    head = {"constant": constant.name, "base": constant.base, "level": level.label,
            "unused": result is None, "parts_run": [_label(p) for p in parts]}
    if result is None:  # no part read it: the run is the base, bit for bit
        return {**head, "flipped": [], "conclusion_changed": False, "moved": [],
                "largest_move": None, "largest_change": 0.0, "same_rows": True}
    found = compare(name, base, result)
    return {**head, **found, "verdicts": verdicts(name, result),
            "table": plain_rows(result.shown)}


def _map(function: Callable[[Any], Any], items: Sequence[Any], jobs: int) -> Iterator[Any]:
    """``function`` over ``items`` in order, ``jobs`` worker processes at a time."""
    if jobs <= 1 or len(items) <= 1:
        yield from (function(item) for item in items)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(jobs, len(items))) as pool:
        yield from pool.map(function, items)
