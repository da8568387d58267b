"""Sensitivity of the validation verdicts to the lock constants (``validate --sensitivity``).

Each lock constant a validation workload's runs take (a hold time of
``sim/lockversions.py``, by lock name, in every rule of that name: ``i_mutex`` is
its directory-change, readdir and file-write holds together), the cache-line
hand-off of ``sim/kernel_locks.py`` and, on more than one socket
(``--cost lock.sockets=N``), the cross-socket hand-off of ``sim/topology.py``
(``lock.handoff_remote``; varying the in-socket one moves it too, unless ``--cost``
sets it) is multiplied by each of :data:`FACTORS` in turn; the curve is run again
and judged again as the unvaried one was (``sim/validate_rejudge.py``): its
verdict, bottleneck and agreement with the published finding, and each published
gain whose two kernels ran, from both kernels' curves varied alike. A constant
that no run of the workload takes cannot change it and is not varied (but the two
kernels of a gain are varied by the union of theirs). A row whose verdict,
bottleneck or agreement changes, or a gain whose agreement does, is a *flip*: the
docs name the constant (docs/timing.md, Validation).

The scaling is done on the version tables themselves (a scaled copy of each rule
in the process running the point), so the model's inputs stay the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from cofferos.sim import lockversions
from cofferos.sim.kernel_locks import HANDOFF_CYCLES, HANDOFF_KEY
from cofferos.sim.topology import REMOTE_KEY, REMOTE_PER_LOCAL
from cofferos.sim.validate import Point, ValidateConfig, run_point
from cofferos.sim.validate_gain import sockets_of
from cofferos.sim.validate_rejudge import constants_to_vary, rejudge

FACTORS = (0.5, 2.0)


def _scaled_tables(name: str, factor: float) -> dict[str, lockversions.Table]:
    """Every version table with each rule of lock ``name`` holding ``factor`` x as long
    (its per-CPU part too, LockRule.per_cpu)."""
    return {version: {cls: tuple(replace(rule, hold=round(rule.hold * factor),
                                         per_cpu=round(rule.per_cpu * factor))
                                 if rule.name == name else rule for rule in rules)
                      for cls, rules in table.items()}
            for version, table in lockversions.VERSIONS.items()}


def _handoff_cycles(costs: Sequence[str], key: str) -> int:
    """The cache-line hand-off ``key`` (HANDOFF_KEY or REMOTE_KEY) that ``costs`` give: an
    override, else the default (the cross-socket one: REMOTE_PER_LOCAL x the in-socket)."""
    from cofferos.timing import kernel_costs

    given = kernel_costs(costs).mechanisms
    local = int(given.get(f"lock.{HANDOFF_KEY}", HANDOFF_CYCLES))
    if key == HANDOFF_KEY:
        return local
    return int(given.get(f"lock.{REMOTE_KEY}", round(local * REMOTE_PER_LOCAL)))


def _run_varied(job: tuple[Any, ...]) -> Point:
    """One point with one constant scaled (run in its own process, or restored after)."""
    workload, kernel, placement, workers, iterations, costs, constant, factor = job
    if constant in (HANDOFF_KEY, REMOTE_KEY):
        costs = (*costs, f"lock.{constant}={round(_handoff_cycles(costs, constant) * factor)}")
        return run_point(workload, kernel, placement, workers, iterations, costs)
    saved = dict(lockversions.VERSIONS)
    lockversions.VERSIONS.update(_scaled_tables(constant, factor))
    try:
        return run_point(workload, kernel, placement, workers, iterations, costs)
    finally:
        lockversions.VERSIONS.update(saved)


def _jobs(config: ValidateConfig, base: Sequence[Point]) -> list[tuple[Any, ...]]:
    taken: dict[tuple[str, str, str], set[str]] = {}
    for point in base:
        taken.setdefault((point.workload, point.kernel, point.placement), set()).update(
            name for name in point.taken if name in lockversions.LOCK_HOLDS)
    # (the cross-socket hand-off, only where there are sockets to cross)
    handoffs = (HANDOFF_KEY, REMOTE_KEY) if sockets_of(config.costs) > 1 else (HANDOFF_KEY,)
    jobs = []
    for (workload, kernel, placement), names in constants_to_vary(taken).items():
        for constant in (*sorted(names), *handoffs):
            for factor in FACTORS:
                for workers in config.workers:
                    jobs.append((workload, kernel, placement, workers, config.iterations,
                                 config.costs, constant, factor))
    return jobs


def run_sensitivity(config: ValidateConfig, base: Sequence[Point],
                    progress: Callable[[int, int, str], None] | None = None
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, gains): one row per (workload, kernel, placement, constant, factor), the
    varied verdict, bottleneck and agreement beside ``base``'s (the unvaried points of
    ``config``), and one gain per published gain and (constant, factor), as
    :func:`cofferos.sim.validate_rejudge.rejudge` gives them."""
    jobs = _jobs(config, base)
    labels = [f"{j[0]} {j[1]} {j[2]} x{j[3]} {j[6]} x{j[7]}" for j in jobs]
    points: list[Point] = []
    if config.jobs <= 1:
        for index, job in enumerate(jobs):
            points.append(_run_varied(job))
            if progress is not None:
                progress(index + 1, len(jobs), labels[index])
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        done: dict[int, Point] = {}
        with ProcessPoolExecutor(config.jobs) as pool:
            futures = {pool.submit(_run_varied, job): i for i, job in enumerate(jobs)}
            for count, future in enumerate(as_completed(futures), 1):
                done[futures[future]] = future.result()
                if progress is not None:
                    progress(count, len(jobs), labels[futures[future]])
        points = [done[i] for i in range(len(jobs))]
    varied = [(job[6], job[7], point) for job, point in zip(jobs, points, strict=True)]
    return rejudge(base, varied, config.costs)
