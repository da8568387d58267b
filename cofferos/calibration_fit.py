"""``calibrate --fit``: fit the cost model's shared parameters on some ops, judge it on the rest.

Each of the eight lmbench operations had its own constant, derived from that
operation's own published figure, so "8 of 8 within 30%" checked arithmetic.
Here the model is a few *shared* parameters (:data:`PARAMETERS`) that every
operation is built from:

* ``entry_exit`` - the cycles of one kernel crossing (every call);
* ``kernel_work`` - a factor on every kernel path's work (the per-call table,
  the file path, page faults, fork, exit, exec, thread creation): how fast
  this machine runs kernel code against the table's machine;
* ``context_switch`` - the cycles of a switch between two tasks on a core;
* ``wakeup`` - a factor on both wake-up costs (the waker's and the IPI's).

No operation has a parameter of its own: ``read``, ``mmap``, ``pagefault``,
``poll`` and ``fork`` share ``kernel_work``; ``pipe``, ``ctx`` and ``fork`` share
the scheduler's two. :func:`fit` runs the simulator at the starting costs and
once with each parameter moved (the operations' latencies are linear in cycle
costs, so this gives their exact sensitivities, lock waits aside), solves for
the parameters that best match the published figures of the *fitted* ops by
least squares on log(simulated / published) (numpy; a weak pull towards the
starting values keeps parameters the fitted ops do not inform where they
were), then runs the simulator again with the fitted parameters and reports
each op's error, fitted and held-out ops apart. Only the held-out errors say
how well the model predicts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cofferos.calibration import CALIBRATION_ITERATIONS, simulate
from cofferos.coffers.coffer import CofferConfig
from cofferos.errors import ConfigError
from cofferos.sim.costmodel import KernelCosts
from cofferos.workloads.calibration import CALIBRATION_OPS, CalibrationOp

#: How far each parameter is moved to measure the ops' sensitivity to it (x 1.5).
STEP = 0.5
#: Weight of the pull towards the starting value, per parameter, in log space: small
#: against a fitted op's residual, so it decides only what the fitted ops leave open.
PRIOR_WEIGHT = 0.05
GAUSS_NEWTON_ROUNDS = 30
CONVERGED = 1e-9
#: Kernel-work figures that ``kernel_work`` scales (cycles of kernel code paths).
WORK_FIELDS = ("file_io_work", "page_fault", "fork_work", "fork_mapping_work",
               "fork_page_work", "exit_work", "exec_work", "thread_create_work")
OPS_BY_NAME = {op.name: op for op in CALIBRATION_OPS}


@dataclass(frozen=True)
class Parameter:
    """One shared parameter: its name, what it is, and how it reads and sets the costs."""

    name: str
    description: str
    unit: str
    """``cycles`` (a figure) or ``x`` (a factor on several figures, starting at 1)."""
    get: Callable[[KernelCosts], float]


def _scaled(costs: KernelCosts, factor: float, fields: Sequence[str],
            calls: bool = False) -> KernelCosts:
    values = {name: round(getattr(costs, name) * factor) for name in fields}
    work = {name: round(v * factor) for name, v in costs.call_work.items()} if calls else None
    return costs.with_overrides(call_work=work, **values)


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("entry_exit", "one kernel crossing (every call)", "cycles",
              lambda c: float(c.entry_exit)),
    Parameter("kernel_work", "factor on every kernel path's work (calls, files, faults, "
              "fork, exit)", "x", lambda c: 1.0),
    Parameter("context_switch", "a switch between two tasks on one core", "cycles",
              lambda c: float(c.context_switch)),
    Parameter("wakeup", "factor on the waker's and the IPI's wake-up costs", "x",
              lambda c: 1.0),
)


def apply(base: KernelCosts, values: Sequence[float]) -> KernelCosts:
    """``base`` with the parameters set to ``values`` (in PARAMETERS' order)."""
    entry_exit, work, switch, wake = values
    costs = base.with_overrides(entry_exit=round(entry_exit), context_switch=round(switch))
    costs = _scaled(costs, work, WORK_FIELDS, calls=True)
    return _scaled(costs, wake, ("wakeup", "remote_wakeup"))


@dataclass(frozen=True)
class FitRow:
    op: CalibrationOp
    held_out: bool
    start_us: float
    """Simulated at the starting costs."""
    fitted_us: float
    """Simulated again with the fitted parameters."""

    @property
    def error(self) -> float:
        """fitted / published - 1."""
        return self.fitted_us / self.op.reference_us - 1.0

    def as_dict(self) -> dict[str, object]:
        return {"op": self.op.name, "role": "held out" if self.held_out else "fitted",
                "reference_us": self.op.reference_us, "start_us": self.start_us,
                "fitted_us": self.fitted_us, "error": self.error}


@dataclass(frozen=True)
class Fit:
    kernel: str
    iterations: int
    fitted_ops: tuple[str, ...]
    start: tuple[float, ...]
    values: tuple[float, ...]
    rows: tuple[FitRow, ...]
    costs: KernelCosts

    def errors(self, held_out: bool) -> list[float]:
        return [row.error for row in self.rows if row.held_out == held_out]

    def summary(self, held_out: bool) -> dict[str, float]:
        errors = [abs(e) for e in self.errors(held_out)]
        return {"mean_abs_error": sum(errors) / len(errors), "max_abs_error": max(errors)}

    def as_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "iterations": self.iterations,
                "fitted_ops": list(self.fitted_ops),
                "held_out_ops": [r.op.name for r in self.rows if r.held_out],
                "parameters": [{"name": p.name, "unit": p.unit, "description": p.description,
                                "start": s, "fitted": v}
                               for p, s, v in zip(PARAMETERS, self.start, self.values,
                                                  strict=True)],
                "ops": [row.as_dict() for row in self.rows],
                "fitted": self.summary(False), "held_out": self.summary(True)}


def parse_fit_ops(text: str) -> tuple[str, ...]:
    """``null,read,ctx,fork`` -> the op names, checked: known, distinct, some held out."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in OPS_BY_NAME]
    if unknown:
        raise ConfigError(f"--fit: unknown op(s) {', '.join(unknown)}; "
                          f"ops: {', '.join(OPS_BY_NAME)}")
    if not names:
        raise ConfigError("--fit: name at least one op, e.g. --fit null,read,ctx,fork")
    if len(set(names)) != len(names):
        raise ConfigError(f"--fit: an op is named twice: {text}")
    if len(names) == len(OPS_BY_NAME):
        raise ConfigError("--fit: every op is fitted, none held out to judge the fit by")
    return names


def fit(fitted_ops: Sequence[str], kernel: str = "linux",
        iterations: int = CALIBRATION_ITERATIONS, config: CofferConfig | None = None,
        progress: Callable[[str], None] | None = None) -> Fit:
    """Fit :data:`PARAMETERS` on ``fitted_ops``; simulate every op again with them."""
    config = config or CofferConfig()
    base = config.kernel_costs
    start = [p.get(base) for p in PARAMETERS]
    if any(value <= 0 for value in start):
        raise ConfigError("--fit: every fitted parameter must start above 0, got "
                          + ", ".join(f"{p.name}={v:g}" for p, v in zip(PARAMETERS, start,
                                                                         strict=True)))
    say = progress or (lambda _message: None)

    def latencies(values: Sequence[float], why: str) -> np.ndarray:
        say(why)
        costs = apply(base, values)
        measured = simulate(kernel, iterations, replace(config, kernel_costs=costs))[1]
        return np.array([measured[op.name] for op in CALIBRATION_OPS])

    at_start = latencies(start, "at the starting costs")
    slopes = np.zeros((len(CALIBRATION_OPS), len(PARAMETERS)))
    for j, parameter in enumerate(PARAMETERS):
        moved = list(start)
        moved[j] = start[j] * (1 + STEP)
        slopes[:, j] = (latencies(moved, f"{parameter.name} x {1 + STEP:g}") - at_start) / (
            start[j] * STEP)
    chosen = [i for i, op in enumerate(CALIBRATION_OPS) if op.name in fitted_ops]
    values = [float(v) for v in _solve(at_start, slopes, np.array(start), chosen)]
    final = latencies(values, "with the fitted parameters")
    rows = tuple(FitRow(op, op.name not in fitted_ops, float(at_start[i]), float(final[i]))
                 for i, op in enumerate(CALIBRATION_OPS))
    return Fit(kernel, iterations, tuple(fitted_ops), tuple(start), tuple(values), rows,
               apply(base, values))


def _solve(at_start: np.ndarray, slopes: np.ndarray, start: np.ndarray,
           chosen: list[int]) -> np.ndarray:
    """Gauss-Newton on log-parameters: minimise the squared log errors of the chosen ops
    (latency linear in the parameters) plus PRIOR_WEIGHT x the log distance from start."""
    reference = np.array([op.reference_us for op in CALIBRATION_OPS])[chosen]
    log_params = np.zeros(len(start))  # log(value / start)
    floor = 1e-6
    for _ in range(GAUSS_NEWTON_ROUNDS):
        values = start * np.exp(log_params)
        predicted = np.maximum(at_start[chosen] + slopes[chosen] @ (values - start), floor)
        residual = np.log(predicted) - np.log(reference)
        jacobian = slopes[chosen] * values / predicted[:, None]
        a = np.vstack([jacobian, PRIOR_WEIGHT * np.eye(len(start))])
        b = -np.concatenate([residual, PRIOR_WEIGHT * log_params])
        step = np.linalg.lstsq(a, b, rcond=None)[0]
        log_params += step
        if math.sqrt(float(step @ step)) < CONVERGED:
            break
    return start * np.exp(log_params)
