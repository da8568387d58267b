"""The one table of every number a user can set, with the range each may take.

A value gets the same answer wherever it is given: ``coffersim run --cores``,
a sweep spec's ``cores = ...``, ``coffersim experiment --cores`` or an
experiment's ``--set cores=...`` all check it against :data:`BOUNDS` here, and
all refuse it with the same words. :func:`parse` turns command-line text into a
checked number (``1_000`` and ``0x10`` allowed); :func:`check` checks a number
that came from elsewhere (a TOML file, an API call).

    >>> parse("cores", "8"), check("seed", 0)
    (8, 0)
    >>> parse("cores", "100000")
    Traceback (most recent call last):
    ...
    cofferos.errors.ConfigError: must be at most 4,096, got 100,000

Like :mod:`cofferos.errors`, this module imports nothing else from the project,
so every layer may use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cofferos.errors import ConfigError

U64_MAX = (1 << 64) - 1  #: the largest seed: AT_RANDOM and getrandom take 64 bits of it
I64_MAX = (1 << 63) - 1  #: the largest count a signed 64-bit counter holds
MIB_PER_TIB = 1 << 20


@dataclass(frozen=True)
class Bound:
    """The whole numbers (or, with ``real``, finite numbers) ``minimum..maximum``."""

    minimum: int | float
    maximum: int | float
    why: str
    """Where the maximum comes from, for whoever raises it."""
    real: bool = False
    """Fractions allowed (seconds, milliseconds); otherwise whole numbers only."""


#: Every bounded setting, by the name it has in specs and options.
BOUNDS: dict[str, Bound] = {
    "cores": Bound(1, 4096, "cores of one simulated machine (4096 take ~7 s to set up)"),
    "containers": Bound(1, 100_000, "containers of one machine (10,000 of @hello run in "
                                    "about 3 minutes; memory is checked apart, see "
                                    "cofferos.memory)"),
    "seed": Bound(0, U64_MAX, "seeds AT_RANDOM and getrandom: 64 bits"),
    "instructions": Bound(1, I64_MAX, "--max-instructions: a 64-bit counter"),
    "iterations": Bound(1, I64_MAX, "calibrate --iterations: a 64-bit counter"),
    "jobs": Bound(1, 4096, "sweep --jobs: processes at once"),
    "memory_mb": Bound(1, MIB_PER_TIB, "a simulated memory of at most 1 TiB"),
    "timeout_s": Bound(0, 7 * 24 * 3600, "a week; poll() cannot wait more than ~24 days",
                       real=True),
    "duration_ms": Bound(0, 24 * 3600 * 1000, "a simulated day: beyond any run a host "
                                               "can finish", real=True),
    "seeds": Bound(1, 10_000, "[repeat] seeds of one sweep"),
}


def _number_of(text: str, real: bool) -> int | float:
    cleaned = text.strip().replace("_", "")
    try:
        return int(cleaned, 0)
    except ValueError:
        if not real:
            raise ConfigError(f"not a whole number: {text!r}") from None
    try:
        return float(cleaned)
    except ValueError:
        raise ConfigError(f"not a number: {text!r}") from None


def check(name: str, value: Any, *, label: str | None = None,
          minimum: int | float | None = None) -> Any:
    """``value`` if it is within ``name``'s bound, else a one-line ConfigError.

    ``label`` names the value at the start of the message (none by default: the
    caller's context names it, as argparse's ``argument --cores:`` does); ``minimum``
    raises the bound's lower end for one use (isolation needs two containers).
    """
    bound = BOUNDS[name]
    said = f"{label} " if label else ""
    low = bound.minimum if minimum is None else max(minimum, bound.minimum)
    kinds = (int, float) if bound.real else (int,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        expected = "a number" if bound.real else "a whole number"
        raise ConfigError(f"{said}expected {expected}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{said}expected a finite number, got {value}")
    if value < low:
        raise ConfigError(f"{said}must be at least {low:,}, got {value:,}")
    if value > bound.maximum:
        raise ConfigError(f"{said}must be at most {bound.maximum:,}, got {value:,}")
    return value


def parse(name: str, text: str, *, label: str | None = None) -> int | float:
    """Command-line ``text`` as ``name``'s number, checked (see :func:`check`)."""
    bound = BOUNDS[name]
    try:
        value = _number_of(text, bound.real)
    except ConfigError as err:
        raise ConfigError(f"{label} {err}" if label else str(err)) from None
    return check(name, value, label=label)
