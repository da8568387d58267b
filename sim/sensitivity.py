"""Sensitivity of an experiment's conclusions to the cost model's constants (``coffersim
sensitivity``).

Each constant varied is one :class:`Constant`: a cost figure (``FIELD`` or
``call.NAME``, possibly several calls that share one estimate: ``call.stat`` is
"as newfstatat"), a lock's hold times (``lock.NAME``: every rule of that name in
every version table, scaled, as ``validate --sensitivity`` scales them), the lock
hand-off (``lock.handoff``) or an architecture constant (``arch.FIELD``, scaled in
every architecture: a field that is 0 in one stays 0). By default every *estimated*
constant is varied (:func:`estimated`: an E figure of the cost profile, every lock
hold of sim/lockversions.py, the hand-off, and the E constants of sim/kernels.py in
:data:`ESTIMATED_ARCH`) at each of :data:`FACTORS`.

The experiment runs once as given (the *base*) and once per constant and level; each
run is compared with the base (:func:`compare`):

* **verdicts**: the experiment's isolation checks (its ``isolation_checks``, what the
  ``tradeoff`` score counts; for ``tradeoff``, each configuration's failed checks); a
  check whose outcome changes *flips*;
* **conclusion**: the experiment's finding with every number masked; a changed text
  means a stated conclusion changed (a storm that no longer slows a victim, another
  Pareto front);
* **headline numbers**: every number of the table the command prints; one *moves*
  when it changes by more than :data:`MOVE` of its base value.

The runs themselves (:mod:`.sensitivity_runs`) are only those that can differ from
the base: a level that changes no value any part of the base run read is not run
(reported as ``unused``: :mod:`.costreads` records the reads).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from cofferos.errors import ConfigError
from cofferos.sim import kernels, lockversions
from cofferos.sim.isolation.common import ExperimentResult
from cofferos.sim.kernel_locks import HANDOFF_CYCLES, HANDOFF_KEY

FACTORS = (0.5, 2.0)  #: the default levels of each constant: half and double
MOVE = 0.05  #: a headline number "moves" when it changes by more than this share of itself
ESTIMATE_MARK = "E"  #: a profile figure's source starts with this when it is an estimate
#: The architecture constants built from estimates (sim/kernels.py marks them E): a VM's
#: exit to a user VMM and nested page walk, guest kernel and Sentry memory, restarts.
ESTIMATED_ARCH = ("io_exit", "page_fault_extra", "memory_overhead", "restart_kernel_ns",
                  "restart_container_ns")
LOCK = "lock."
ARCH = "arch."
CALL = "call."
_AS = re.compile(r"^E: as (\w+)$")  #: a profile source that borrows another call's estimate
_NUMBER = re.compile(r"-?\d[\d,]*(\.\d+)?(e-?\d+)?%?")


@dataclass(frozen=True)
class Constant:
    """One constant varied: its name, the ``--cost`` keys it sets together, its base value."""

    name: str
    keys: tuple[str, ...]
    base: float | None
    """None for an architecture constant: its value differs by architecture."""

    def level(self, factor: float) -> int:
        return round((self.base or 0) * factor)


def estimated(costs: Sequence[str] = ()) -> list[Constant]:
    """Every estimated constant, with its value under ``costs`` (``--cost`` overrides)."""
    from cofferos.sim.costprofiles import load_profile
    from cofferos.timing import kernel_costs

    model = kernel_costs(costs)
    sources = load_profile(model.profile).sources
    groups: dict[str, list[str]] = {}
    for key, source in sources.items():
        if "." in key and not key.startswith(CALL) or not source.startswith(ESTIMATE_MARK):
            continue  # a switched figure (switched.KEY), or a measured one
        borrowed = _AS.match(source)
        lead = CALL + borrowed.group(1) if borrowed and key.startswith(CALL) else key
        if lead != key and not sources.get(lead, "").startswith(ESTIMATE_MARK):
            lead = key  # borrowed from a measured figure: an estimate of its own
        groups.setdefault(lead, []).append(key)
    found = []
    for lead, keys in groups.items():
        keys = [lead, *(k for k in keys if k != lead)]
        found.append(Constant("+".join(keys), tuple(keys), _cost_value(model, lead)))
    found += [Constant(LOCK + name, (LOCK + name,), hold)
              for name, hold in sorted(lockversions.LOCK_HOLDS.items())]
    found.append(Constant(LOCK + HANDOFF_KEY, (LOCK + HANDOFF_KEY,), HANDOFF_CYCLES))
    found += [Constant(ARCH + f, (ARCH + f,), None) for f in ESTIMATED_ARCH]
    return found


def _cost_value(model: Any, key: str) -> float:
    if key.startswith(CALL):
        return model.work(key[len(CALL):])
    return getattr(model, key)


def named(name: str, costs: Sequence[str] = ()) -> Constant:
    """The constant ``name`` (one of :func:`estimated`'s names, or any ``--cost`` key)."""
    for constant in estimated(costs):
        if name in (constant.name, *constant.keys):
            return constant if name == constant.name else Constant(name, (name,),
                                                                   constant.base)
    from cofferos.timing import kernel_costs, parse_cost

    parse_cost(f"{name}=1")  # an unknown name is a ConfigError naming the valid ones
    if name.startswith(ARCH):
        return Constant(name, (name,), None)
    if name.startswith(LOCK):
        return Constant(name, (name,), lockversions.LOCK_HOLDS[name[len(LOCK):]])
    return Constant(name, (name,), _cost_value(kernel_costs(costs), name))


@dataclass(frozen=True)
class Level:
    """One level of a constant: a factor of its base (``x0.5``) or a value (``1200``)."""

    factor: float | None = None
    value: int | None = None

    @property
    def label(self) -> str:
        return f"x{self.factor:g}" if self.factor is not None else f"={self.value}"


def parse_level(text: str) -> Level:
    """``x0.5`` (a factor) or ``1200`` (a value, in the constant's own unit)."""
    raw = text.strip()
    try:
        if raw.startswith("x"):
            factor = float(raw[1:])
            if not math.isfinite(factor) or factor < 0:
                raise ValueError
            return Level(factor=factor)
        value = int(raw.replace("_", ""), 0)
        if value < 0:
            raise ValueError
        return Level(value=value)
    except ValueError:
        raise ConfigError(f"--vary: level {text!r}: expected xFACTOR (x0.5) or a whole "
                          "number >= 0") from None


def parse_vary(text: str, costs: Sequence[str] = ()) -> tuple[Constant, tuple[Level, ...]]:
    """``NAME=LOW:HIGH`` (levels as :func:`parse_level`), or ``NAME`` for x0.5:x2."""
    name, sep, levels = text.partition("=")
    constant = named(name.strip(), costs)
    if not sep:
        return constant, tuple(Level(factor=f) for f in FACTORS)
    parts = levels.split(":")
    if len(parts) != 2:
        raise ConfigError(f"--vary {text!r}: expected NAME=LOW:HIGH")
    return constant, tuple(parse_level(p) for p in parts)


@contextmanager
def applied(constant: Constant, level: Level) -> Iterator[tuple[str, ...]]:
    """Within: ``constant`` at ``level``; yields the ``--cost`` overrides to add. Lock
    holds and architecture constants given as factors scale their tables here (and are
    restored on leaving)."""
    if level.value is not None:
        yield tuple(f"{key}={level.value}" for key in constant.keys)
        return
    factor = level.factor or 0.0
    saved_locks, saved_archs = dict(lockversions.VERSIONS), dict(kernels.ARCHITECTURES)
    overrides: list[str] = []
    try:
        for key in constant.keys:
            if key == LOCK + HANDOFF_KEY:
                overrides.append(f"{key}={constant.level(factor)}")
            elif key.startswith(LOCK):
                from cofferos.sim.validate_sensitivity import _scaled_tables

                lockversions.VERSIONS.update(_scaled_tables(key[len(LOCK):], factor))
            elif key.startswith(ARCH):
                name = key[len(ARCH):]
                kernels.ARCHITECTURES.update({
                    n: replace(arch, **{name: round(getattr(arch, name) * factor)})
                    for n, arch in kernels.ARCHITECTURES.items()})
            else:
                overrides.append(f"{key}={constant.level(factor)}")
        yield tuple(overrides)
    finally:
        lockversions.VERSIONS.update(saved_locks)
        kernels.ARCHITECTURES.clear()
        kernels.ARCHITECTURES.update(saved_archs)


def masked(finding: str) -> str:
    """A finding with its numbers masked: what it concludes, not what it measured."""
    return _NUMBER.sub("#", finding)


#: A row column that holds the isolation checks a configuration failed (``tradeoff``).
FAILED_CHECKS = "failed_checks"


def verdicts(name: str, result: ExperimentResult) -> dict[str, Any]:
    """The experiment's isolation checks, ``KERNEL/STACK CHECK`` -> passed; for an
    experiment that scores checks (``tradeoff``), ``KERNEL/STACK failed checks`` -> their
    names; none if it has neither."""
    from cofferos.sim.isolation import experiment

    module = experiment(name)
    if not hasattr(module, "isolation_checks"):
        return {f"{row.get('kernel')}/{row.get('personalities', 'none')} failed checks":
                row[FAILED_CHECKS] or "none" for row in result.rows if FAILED_CHECKS in row}
    return {f"{kernel}/{stack} {check}": ok
            for (kernel, stack), checks in module.isolation_checks(result).items()
            for check, ok in checks}


def headline(result: ExperimentResult) -> dict[str, float]:
    """Every number of the printed table, keyed by its row's text cells and its column."""
    numbers = {}
    for row in result.shown:
        label = " ".join(str(v) for v in row.values() if isinstance(v, str) and v)
        for column, value in row.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                numbers[f"{label} {column}".strip()] = float(value)
    return numbers


def _change(before: float, after: float) -> float:
    """The relative change from ``before`` to ``after`` (signed; infinite from 0)."""
    if before == after:
        return 0.0
    if not math.isfinite(before) or not math.isfinite(after) or not before:
        return math.copysign(math.inf, after - before) if after == after else math.inf
    return (after - before) / abs(before)


def compare(name: str, base: ExperimentResult, varied: ExperimentResult) -> dict[str, Any]:
    """How ``varied`` differs from ``base``: flipped checks, conclusion, moved numbers."""
    was, now = verdicts(name, base), verdicts(name, varied)
    flipped = sorted(k for k in was if k in now and was[k] != now[k])
    before, after = headline(base), headline(varied)
    moves = {k: _change(before[k], after[k]) for k in before if k in after}
    moved = sorted((k for k, v in moves.items() if abs(v) > MOVE), key=lambda k: -abs(moves[k]))
    largest = max(moves.items(), key=lambda item: abs(item[1]), default=(None, 0.0))
    return {"flipped": flipped, "conclusion_changed": masked(base.finding) !=
            masked(varied.finding), "moved": moved,
            "largest_move": largest[0], "largest_change": largest[1],
            "same_rows": base.rows == varied.rows}


def plain_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    from cofferos.results.records import plain

    return plain(list(rows))


def conclusions(name: str, base: ExperimentResult,
                rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each check of the base run and its stated conclusion: does it hold across every
    level run, and under which levels does it not."""
    lines = [{"conclusion": check, "base": (("pass" if ok else "fail")
                                            if isinstance(ok, bool) else str(ok)),
              "flips_under": [f"{r['constant']} {r['level']}" for r in rows
                              if check in r["flipped"]]}
             for check, ok in verdicts(name, base).items()]
    lines.append({"conclusion": "finding: " + masked(base.finding), "base": "stated",
                  "flips_under": [f"{r['constant']} {r['level']}" for r in rows
                                  if r["conclusion_changed"]]})
    for line in lines:
        line["holds"] = not line["flips_under"]
    return lines
