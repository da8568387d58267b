"""Lab 5's grader: a lock's placement, algorithm or cost changed, seen in a scaling curve.

The student's ``locks.py`` holds ``TABLE``, a copy of the Linux 2.6.35 lock table
(:data:`cofferos.sim.lockversions.LINUX_2_6_35`, the MOSBENCH-era kernel) with a
change of their choice: a lock's algorithm (ticket to queued spinlock), its scope
(one global lock to one per object) or its hold time. ``answers.toml`` gives the
scaling curve they measured before and after (``@metadata``, per-container
throughput at :data:`CONTAINERS` containers on as many cores), the direction of
the change at the largest count, and an explanation. The grader checks the table,
reruns both curves (:func:`curve`: simulated time is deterministic, so a rerun
gives the student's numbers back), and checks the claimed direction.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Sequence
from typing import Any

from cofferos.labs.grader import Check, CheckFailed, Work
from cofferos.sim.lockalgo import ALGORITHMS
from cofferos.sim.lockversions import GLOBAL, OBJECT, VERSIONS, LockRule, Table

TITLE = "a lock's placement or cost changed, explained in a scaling curve"
SUMMARY = "change a lock in the 2.6.35 version table; measure and explain @metadata's curve"
MODULE, ANSWERS = "locks.py", "answers.toml"
BASE_VERSION = "2.6.35"
KERNEL = f"linux:{BASE_VERSION}"
WORKLOAD, ITERATIONS = "@metadata", 30  #: each container's loop (30 keeps a point < 2 s)
DIRECTORY = "/tmp/shared"  #: where @metadata creates and removes its files
CONTAINERS = (1, 8, 16)  #: the curve's points, each on as many cores as containers
#: The least change of throughput at the largest point that counts as a change.
MIN_CHANGE = 0.10
#: How far the student's numbers may be from the rerun (they should be equal).
TOLERANCE = 0.02
MIN_WORDS = 30  #: an explanation shorter than this explains little
DIRECTIONS = ("up", "down")


def curve(table: Table, containers: Sequence[int] = CONTAINERS) -> list[int]:
    """@metadata's per-container throughput (ops/s) at each count of containers, each on
    as many cores, under ``linux:2.6.35`` with the lock table ``table``."""
    from cofferos.sim.experiment import ContainerSpec, run_mix
    from cofferos.sim.kernel_locks import LockTable
    from cofferos.workloads import resolve

    def install(machine: Any) -> None:  # the machine's locks, placed by ``table``
        old = machine.locks
        machine.locks = LockTable(old.env, old.shared_kernel, old.handoff_cycles, old.holds,
                                  table, old.sleep_cycles, old.topology)

    program = str(resolve(WORKLOAD))
    points = []
    for count in containers:
        report = run_mix([ContainerSpec(program, (DIRECTORY, str(ITERATIONS)))] * count,
                         kernel=KERNEL, cores=count, prepare=install)
        points.append(round(report.per_container_throughput))
    return points


@functools.cache
def base_curve() -> tuple[int, ...]:
    """The curve of the unchanged table (the same for every student: computed once)."""
    return tuple(curve(VERSIONS[BASE_VERSION]))


def _table(work: Work) -> Table:
    table = work.attribute(MODULE, "TABLE")
    if not isinstance(table, dict):
        raise CheckFailed(f"TABLE is a {type(table).__name__}, not a dict")
    base = VERSIONS[BASE_VERSION]
    missing = sorted(set(base) - set(table))
    if missing:
        raise CheckFailed(f"TABLE has no rules for {', '.join(missing)}")
    for cls, rules in table.items():
        if not isinstance(rules, tuple) or not all(isinstance(r, LockRule) for r in rules):
            raise CheckFailed(f"TABLE[{cls!r}] is not a tuple of LockRule")
        for rule in rules:
            if rule.algorithm not in ALGORITHMS:
                raise CheckFailed(f"{rule.name}: unknown algorithm {rule.algorithm!r} "
                                  f"(one of {', '.join(ALGORITHMS)})")
            if rule.scope not in (GLOBAL, OBJECT):
                raise CheckFailed(f"{rule.name}: scope {rule.scope!r} is not "
                                  f"{GLOBAL!r} or {OBJECT!r}")
            if not isinstance(rule.hold, int) or rule.hold < 0:
                raise CheckFailed(f"{rule.name}: hold {rule.hold!r} is not a whole number "
                                  "of cycles")
    return table


def _changed_locks(table: Table) -> set[str]:
    """Names of the locks whose rules differ from the base table (old or new name)."""
    names: set[str] = set()
    for cls, rules in VERSIONS[BASE_VERSION].items():
        mine = table.get(cls, ())
        for index in range(max(len(rules), len(mine))):
            old = rules[index] if index < len(rules) else None
            new = mine[index] if index < len(mine) else None
            if old != new:
                names |= {rule.name for rule in (old, new) if rule is not None}
    return names


def _answers(work: Work) -> dict[str, Any]:
    try:
        return tomllib.loads(work.path(ANSWERS).read_text(errors="replace"))
    except tomllib.TOMLDecodeError as err:
        raise CheckFailed(f"{ANSWERS} is not valid TOML: {err}") from None


def valid(work: Work) -> str:
    table = _table(work)
    return f"{sum(len(rules) for rules in table.values())} rules for {len(table)} classes"


def changed(work: Work) -> str:
    names = _changed_locks(_table(work))
    if not names:
        raise CheckFailed(f"TABLE is the {BASE_VERSION} table unchanged")
    lock = _answers(work).get("lock", "")
    if lock not in names:
        raise CheckFailed(f"{ANSWERS}: lock = {lock!r} is not among the locks TABLE changed "
                          f"({', '.join(sorted(names))})")
    return f"changed: {', '.join(sorted(names))}"


def _measured(work: Work) -> tuple[tuple[int, ...], list[int]]:
    table = _table(work)
    if not _changed_locks(table):
        raise CheckFailed(f"TABLE is the {BASE_VERSION} table unchanged: nothing to measure")
    if "after" not in work.memo:
        work.memo["after"] = curve(table)
    return base_curve(), work.memo["after"]


def reproduced(work: Work) -> str:
    answers = _answers(work)
    before, after = _measured(work)
    for key, rerun in (("before", before), ("after", after)):
        given = answers.get(key)
        if (not isinstance(given, list) or len(given) != len(rerun)
                or not all(isinstance(value, (int, float)) for value in given)):
            raise CheckFailed(f"{ANSWERS}: {key} must be {len(rerun)} numbers (ops/s per "
                              f"container at {', '.join(map(str, CONTAINERS))} containers)")
        off = [abs(value - want) > TOLERANCE * want for value, want in zip(given, rerun,
                                                                              strict=True)]
        if any(off):
            raise CheckFailed(f"{ANSWERS}: {key} = {given}, but the rerun measures "
                              f"{list(rerun)}")
    return f"before {list(before)}, after {after} ops/s per container"


def direction(work: Work) -> str:
    answers = _answers(work)
    before, after = _measured(work)
    change = after[-1] / before[-1] - 1 if before[-1] else 0.0
    if abs(change) < MIN_CHANGE:
        raise CheckFailed(f"at {CONTAINERS[-1]} containers the change moves throughput by "
                          f"{change:+.0%} only (at least {MIN_CHANGE:.0%} either way)")
    measured = DIRECTIONS[0] if change > 0 else DIRECTIONS[1]
    claimed = answers.get("direction")
    if claimed != measured:
        raise CheckFailed(f"{ANSWERS}: direction = {claimed!r}, but throughput at "
                          f"{CONTAINERS[-1]} containers went {measured} ({change:+.0%})")
    return f"{measured} {change:+.0%} at {CONTAINERS[-1]} containers"


def explained(work: Work) -> str:
    answers = _answers(work)
    text = str(answers.get("explanation", ""))
    lock = str(answers.get("lock", ""))
    if "TODO" in text or len(text.split()) < MIN_WORDS:
        raise CheckFailed(f"{ANSWERS}: explanation has {len(text.split())} words "
                          f"(at least {MIN_WORDS}, without TODO)")
    if not lock or lock not in text:
        raise CheckFailed(f"{ANSWERS}: the explanation does not name the lock ({lock!r})")
    return f"{len(text.split())} words about {lock}"


CHECKS: list[Check] = [
    ("TABLE is a lock table for every traced class", valid),
    ("TABLE changes the lock answers.toml names", changed),
    ("answers.toml's curves are what a rerun measures", reproduced),
    ("the change moves the curve the way answers.toml says", direction),
    ("answers.toml explains the change", explained),
]
