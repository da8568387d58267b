"""The timing model from Python: cost overrides, kernel comparisons and calibration.

What ``coffersim run --kernel``, ``coffersim compare`` and ``coffersim
calibrate`` do, minus argument parsing. Each builds on
:func:`cofferos.sim.experiment.run_containers` (M coffers of one program on a
simulated machine under one kernel architecture):

* :func:`parse_cost` / :func:`kernel_costs` turn ``NAME=VALUE`` overrides into a
  :class:`~cofferos.sim.costmodel.KernelCosts` (a field, or ``call.NAME`` for
  one system call's work);
* :func:`compare` runs one program under every kernel x container count and
  returns one :class:`~cofferos.sim.experiment.RunReport` per pair;
* ``calibrate`` (in :mod:`cofferos.calibration`, re-exported here) runs the
  ``lmbench`` workload and sets each operation beside its published figure.

    >>> parse_cost("entry_exit=220"), parse_cost("call.read=900")
    (('entry_exit', 220), ('call.read', 900))
    >>> kernel_costs(["mitigations=off", "call.getppid=10"]).work("getppid")
    10
    >>> kernel_costs(["mitigations=off"]).entry_exit, kernel_costs([]).entry_exit
    (220, 700)
    >>> kernel_costs(["profile=current-nomitig"]).profile
    'current-nomitig'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from cofferos.api import resolve_program, runs_inside
from cofferos.coffers.coffer import CofferConfig
from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS
from cofferos.errors import ConfigError
from cofferos.sim import costreads
from cofferos.sim.costmodel import (
    CALL_KEY_PREFIX,
    DEFAULT_KERNEL_COSTS,
    NOT_OVERRIDABLE,
    KernelCosts,
)
from cofferos.sim.experiment import RunReport, run_containers
from cofferos.sim.kernel_locks import HANDOFF_KEY
from cofferos.sim.kernels import ARCH_PREFIX, OVERRIDABLE, check_kernel
from cofferos.sim.lockversions import LOCK_HOLDS
from cofferos.sim.machine import LOCK_PREFIX, MachineConfig
from cofferos.sim.topology import KEYS as TOPOLOGY_KEYS
from cofferos.sim.topology import SOCKETS_KEY

#: ``--cost call.NAME=VALUE`` sets the work of system call NAME.
CALL_PREFIX = CALL_KEY_PREFIX
#: ``--cost profile=NAME`` starts from cost profile NAME (sim/costprofiles/NAME.toml).
PROFILE_KEY = "profile"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def cost_fields() -> list[str]:
    """The KernelCosts fields ``--cost`` may set (``call.NAME`` aside)."""
    return [f.name for f in dataclasses.fields(KernelCosts) if f.name not in NOT_OVERRIDABLE]


def parse_cost(text: str) -> tuple[str, int | bool | str]:
    """``NAME=VALUE`` checked against KernelCosts: ``(NAME, value)`` or ConfigError.
    ``profile=NAME`` names a cost profile (sim/costprofiles/), checked here too."""
    name, sep, raw = text.partition("=")
    if name.strip() == PROFILE_KEY and sep:
        from cofferos.sim.costprofiles import load_profile

        load_profile(raw.strip())  # unknown or malformed: ConfigError naming the known
        return PROFILE_KEY, raw.strip()
    name, raw = name.strip(), raw.strip().replace("_", "")
    if not sep or not name:
        raise ConfigError(f"--cost {text!r}: expected NAME=VALUE")
    if name.startswith(CALL_PREFIX):
        call = name[len(CALL_PREFIX):]
        if call not in SYSCALL_NUMBERS:
            raise ConfigError(f"--cost {name}: no system call named {call!r}")
        return name, _cycles(name, raw)
    if name.startswith(ARCH_PREFIX) or name.startswith(LOCK_PREFIX):
        valid = [ARCH_PREFIX + f for f in OVERRIDABLE] + [
            LOCK_PREFIX + lock for lock in (*LOCK_HOLDS, HANDOFF_KEY, *TOPOLOGY_KEYS)]
        if name not in valid:
            raise ConfigError(f"unknown --cost {name!r}; valid: {', '.join(valid)}")
        value = _cycles(name, raw)
        if name == LOCK_PREFIX + SOCKETS_KEY and value < 1:
            raise ConfigError(f"--cost {name} must be at least 1, got {value}")
        return name, value
    fields = cost_fields()
    if name not in fields:
        raise ConfigError(f"unknown --cost {name!r}; valid: {', '.join(fields)}, "
                          f"{CALL_PREFIX}SYSCALL, {PROFILE_KEY}=NAME")
    if isinstance(getattr(DEFAULT_KERNEL_COSTS, name), bool):
        if raw.lower() not in _TRUE | _FALSE:
            raise ConfigError(f"--cost {name}: expected on or off, got {raw!r}")
        return name, raw.lower() in _TRUE
    value = _cycles(name, raw)
    if name == "frequency_hz" and value == 0:
        raise ConfigError("--cost frequency_hz must be positive")
    return name, value


def _cycles(name: str, raw: str) -> int:
    try:
        value = int(raw, 0)
    except ValueError:
        raise ConfigError(f"--cost {name}: not a whole number: {raw!r}") from None
    if value < 0:
        raise ConfigError(f"--cost {name}: must be >= 0, got {value}")
    return value


def kernel_costs(overrides: Iterable[str | tuple[str, int | bool | str]],
                 base: KernelCosts = DEFAULT_KERNEL_COSTS) -> KernelCosts:
    """``base`` with every ``NAME=VALUE`` (or parsed pair) applied, later ones winning.

    ``profile=NAME`` replaces ``base`` by that cost profile wherever it appears in the
    list (the other overrides apply on top of it); two different profiles are an error.
    """
    fields: dict[str, int | bool] = {}
    calls: dict[str, int] = {}
    mechanisms: dict[str, int] = {}
    profile: str | None = None
    for item in overrides:
        name, value = parse_cost(item) if isinstance(item, str) else item
        if name == PROFILE_KEY:
            if profile is not None and value != profile:
                raise ConfigError(f"--cost {PROFILE_KEY}= given twice: {profile} and {value}")
            profile = str(value)
        elif name.startswith(CALL_PREFIX):
            calls[name[len(CALL_PREFIX):]] = int(value)
        elif name.startswith(ARCH_PREFIX) or name.startswith(LOCK_PREFIX):
            mechanisms[name] = int(value)
        else:
            fields[name] = value  # type: ignore[assignment]
    if profile is not None:
        from cofferos.sim.costprofiles import profile_costs

        base = profile_costs(profile)
    if not fields and not calls and not mechanisms:
        return base
    return base.with_overrides(call_work=calls, mechanisms=mechanisms, **fields)


def machine_for(kernel: str, cores: int, costs: KernelCosts,
                base: MachineConfig | None = None) -> MachineConfig:
    """The machine of a timed run: its clock is the cost model's, so cycles mean one thing."""
    check_kernel(kernel)
    costreads.note("frequency_hz", costs.frequency_hz)  # (coffersim sensitivity)
    return replace(base or MachineConfig(), kernel=kernel, cores=cores,
                   frequency_hz=costs.frequency_hz)


@dataclass(frozen=True)
class ComparePoint:
    """One run of a comparison: which kernel, how many containers."""

    kernel: str
    containers: int


def compare(program: str, args: Sequence[str], *, kernels: Sequence[str],
            containers: Sequence[int], cores: int, config: CofferConfig | None = None,
            machine: MachineConfig | None = None, op_syscall: str | None = None,
            progress: Callable[[int, int, ComparePoint], Callable[[RunReport], None]]
            | None = None) -> list[RunReport]:
    """Run ``program`` under every kernel x container count, kernels outermost.

    ``progress(index, total, point)`` is called before each run and returns the
    function called with its report afterwards (the CLI prints both halves of a
    progress line this way).
    """
    config = config or CofferConfig()
    path = resolve_program(program, config)  # built or checked once for the sweep
    points = [ComparePoint(k, m) for k in kernels for m in containers]
    reports = []
    for index, point in enumerate(points, start=1):
        done = progress(index, len(points), point) if progress else None
        report = run_containers(
            path, args, kernel=point.kernel, containers=point.containers, cores=cores,
            base=config, machine=machine_for(point.kernel, cores, config.kernel_costs, machine),
            op_syscall=op_syscall, inside=runs_inside(program, config))
        if done:
            done(report)
        reports.append(report)
    return reports


from cofferos.calibration import (  # noqa: E402 - re-exported; it imports this module
    CALIBRATION_ITERATIONS,
    CALIBRATION_TOLERANCE,
    Calibration,
    CalibrationRow,
    calibrate,
)

__all__ = ["CALIBRATION_ITERATIONS", "CALIBRATION_TOLERANCE", "Calibration", "CalibrationRow",
           "ComparePoint", "calibrate", "compare", "kernel_costs", "machine_for", "parse_cost"]
