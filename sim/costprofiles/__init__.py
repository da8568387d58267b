"""Cost profiles: the cost model's figures for one machine, as data files with sources.

Each ``NAME.toml`` here is one profile: every :class:`~cofferos.sim.costmodel.KernelCosts`
figure of one machine (``[costs]`` fields and ``[calls]`` per-call work, in cycles),
each as ``{ value = CYCLES, source = "M: ..." }`` (M measured in the source named,
M-derived a measured figure less what is charged elsewhere, E an estimate, F fitted);
``mitigations`` says whether the figures are with KPTI and retpoline; and
``[mitigations_off]`` (or ``[mitigations_on]``) gives the figures that
``--cost mitigations=off`` (``on``) switches to, keyed as ``--cost`` keys them
(``entry_exit``, ``call.mmap``). ``--cost profile=NAME`` picks one wherever
``--cost`` is accepted (run, compare, calibrate, sweep specs' ``cost`` lists):

    >>> profile_names()
    ['current-nomitig', 'skylake-2018-kpti']
    >>> costs = profile_costs("current-nomitig")
    >>> costs.entry_exit, costs.mitigations, costs.with_overrides(mitigations=True).entry_exit
    (220, False, 700)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from cofferos.errors import ConfigError
from cofferos.sim.costmodel import CALL_KEY_PREFIX, DEFAULT_PROFILE, KernelCosts

PROFILE_DIR = Path(__file__).resolve().parent
SUFFIX = ".toml"
#: How a source must begin: measured, derived from a measurement, estimated, fitted.
SOURCE_KINDS = ("M:", "M-derived:", "E:", "F:")
SWITCH_TABLES = {False: "mitigations_on", True: "mitigations_off"}
"""The table of switched figures, by the profile's own ``mitigations``."""

__all__ = ["DEFAULT_PROFILE", "CostProfile", "load_profile", "profile_costs", "profile_names"]


@dataclass(frozen=True)
class CostProfile:
    """One profile file, checked: its figures and the source of each."""

    name: str
    description: str
    mitigations: bool
    costs: KernelCosts
    sources: MappingProxyType[str, str]
    """Source of every figure, keyed ``FIELD``, ``call.NAME`` or ``switched.KEY``."""


def profile_names() -> list[str]:
    return sorted(path.name[:-len(SUFFIX)] for path in PROFILE_DIR.glob(f"*{SUFFIX}"))


def profile_costs(name: str) -> KernelCosts:
    """The KernelCosts of profile ``name`` (ConfigError naming the known ones if unknown)."""
    return load_profile(name).costs


@cache
def load_profile(name: str) -> CostProfile:
    known = profile_names()
    if name not in known:
        raise ConfigError(f"unknown cost profile {name!r}; known: {', '.join(known)}")
    path = PROFILE_DIR / f"{name}{SUFFIX}"
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"cost profile {path}: {err}") from None
    sources: dict[str, str] = {}

    def figures(table: str, prefix: str = "") -> dict[str, int]:
        values = {}
        for key, entry in data.get(table, {}).items():
            where = f"{path.name} [{table}] {key}"
            if not isinstance(entry, dict) or set(entry) != {"value", "source"}:
                raise ConfigError(f"{where}: expected {{ value = CYCLES, source = \"...\" }}")
            value, source = entry["value"], entry["source"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{where}: value must be a whole number >= 0")
            if not isinstance(source, str) or not source.startswith(SOURCE_KINDS):
                raise ConfigError(f"{where}: source must begin with {', '.join(SOURCE_KINDS)}")
            sources[prefix + key] = source
            values[key] = value
        return values

    mitigations = data.get("mitigations")
    if not isinstance(mitigations, bool):
        raise ConfigError(f"{path.name}: mitigations must be true or false")
    fields = figures("costs")
    calls = figures("calls", CALL_KEY_PREFIX)  # the whole per-call table of this machine
    switched = figures(SWITCH_TABLES[mitigations], "switched.")
    current = {key: (calls.get(key[len(CALL_KEY_PREFIX):])
                     if key.startswith(CALL_KEY_PREFIX) else fields.get(key))
               for key in switched}
    missing = [key for key, value in current.items() if value is None]
    if missing:
        raise ConfigError(f"{path.name}: switched figures not in [costs]/[calls]: {missing}")
    pairs = {key: ((value, current[key]) if mitigations else (current[key], value))
             for key, value in switched.items()}  # (off, on)
    try:
        costs = KernelCosts(profile=name, mitigations=mitigations,
                            call_work=MappingProxyType(calls),
                            mitigation_switch=MappingProxyType(pairs), **fields)
    except TypeError as err:  # a field KernelCosts does not have
        raise ConfigError(f"{path.name}: {err}") from None
    return CostProfile(name, str(data.get("description", "")), mitigations, costs,
                       MappingProxyType(sources))


def default_profile() -> CostProfile:
    return load_profile(DEFAULT_PROFILE)
