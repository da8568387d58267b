"""One point of a sweep: a resolved configuration in, tidy result rows out.

The execution layer under ``coffersim sweep`` (:mod:`cofferos.sim.sweeps.run`
decides where and when a point runs; this module runs it). :func:`run_point`
takes a point configuration from :mod:`cofferos.sim.sweeps.spec`, runs the
workload with :func:`cofferos.sim.experiment.run_containers` exactly as
``coffersim compare`` does, and returns rows ``{"container", "metric", "value"}``:

* per container (``c0``, ``c1``, ...): throughput, ops, p50_us, p99_us, exit_code and
  ``latency_us_<q>`` for each latency quantile the container measured;
* per point (container ``all``): every numeric value of ``RunReport.row()``
  (throughput_total, throughput_per_container, cpu_*, simulated_seconds, ...).

Probes (:data:`POINT_PROBES`) add rows of their own after the run. A point with
``experiment = "agents"`` runs that experiment instead (:mod:`cofferos.sim.agents.sweep`).

This module imports the simulator when it is imported, so that a forkserver that
preloads it hands every point a warm process. Run as a program
(``python -m cofferos.sim.sweeps.point``), it reads a point configuration as JSON on
stdin and writes the result as JSON on stdout; the input may also be
``{"config": ..., "modules": [...]}`` to import modules (which register probes) first.
Run that way the module is ``__main__``, a copy: :func:`main` therefore looks probes
up in the registry of the module imported by its name (:data:`MODULE`), where
``register_probe`` calls of the imported modules land.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from cofferos.coffers.coffer import CofferConfig
from cofferos.coffers.program import resolve_program, runs_inside
from cofferos.errors import ConfigError
from cofferos.sim.experiment import RunReport, run_containers
from cofferos.sim.machine import MachineConfig
from cofferos.timing import kernel_costs, machine_for

#: This module's importable name (when run with ``python -m`` it is also ``__main__``).
MODULE = "cofferos.sim.sweeps.point"
#: Probes by name: each gets the point configuration after the run and returns more rows.
POINT_PROBES: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {}
#: The ``container`` of rows about the whole point rather than one container.
ALL_CONTAINERS = "all"
NS_PER_MS = 1_000_000
#: Per-container metrics taken from ContainerReport attributes of the same name.
CONTAINER_METRICS = ("throughput", "ops", "p50_us", "p99_us", "exit_code")
#: RunReport.row() keys that are parameters of the point, not measurements.
ROW_PARAMETERS = ("kernel", "containers", "cores")
LATENCY_PREFIX = "latency_us_"


def register_probe(name: str, probe: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    """Register ``probe`` as ``name`` (a spec enables it with ``probes = ["name"]``)."""
    POINT_PROBES[name] = probe


def _isolation(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Built-in probe ``isolation``: the point's kernel x personalities scored by the
    isolation experiments (``isolation_score`` in 0..1; several seconds of host time)."""
    from cofferos.sim.isolation.tradeoff import isolation_probe

    return isolation_probe(config)


register_probe("isolation", _isolation)


def _row(container: str, metric: str, value: Any) -> dict[str, Any]:
    return {"container": container, "metric": metric, "value": float(value)}


def report_rows(report: RunReport) -> list[dict[str, Any]]:
    """The tidy rows of one run: per container, then for the whole point; None skipped."""
    rows = []
    for container in report.containers:
        for metric in CONTAINER_METRICS:
            value = getattr(container, metric)
            if value is not None:
                rows.append(_row(container.name, metric, value))
        quantiles = getattr(container, "latency_quantiles", None) or {}
        rows += [_row(container.name, f"{LATENCY_PREFIX}{q}", v)
                 for q, v in quantiles.items() if v is not None]
    rows += [_row(ALL_CONTAINERS, key, value) for key, value in report.row().items()
             if key not in ROW_PARAMETERS and value is not None]
    return rows


def run_report(config: dict[str, Any], program: str | None = None) -> RunReport:
    """Run the point ``config`` (``program``: its already-resolved path) and return the report."""
    costs = kernel_costs(config["cost"])
    coffer = CofferConfig(seed=config["seed"], kernel_costs=costs,
                          personalities=tuple(config["personalities"]),
                          image=config.get("image") or None)
    until = round(config["duration_ms"] * NS_PER_MS) or None
    machine = machine_for(config["kernel"], config["cores"], costs, MachineConfig(until_ns=until))
    workload = config["workload"]
    return run_containers(
        program or resolve_program(workload, coffer), config["args"], kernel=config["kernel"],
        containers=config["containers"], cores=config["cores"], base=coffer, machine=machine,
        op_syscall=config["op_syscall"] or None, inside=runs_inside(workload, coffer))


def run_point(config: dict[str, Any], program: str | None = None) -> dict[str, Any]:
    """Run one point: ``{"rows": [...], "run_seconds": host seconds this call took}``."""
    started = time.perf_counter()
    if config.get("experiment"):  # the agents experiment (the only one a point runs)
        from cofferos.sim.agents.sweep import point_kernel, point_rows

        rows = point_rows(config)
        config = {**config, "kernel": point_kernel(config)}  # what its probes measure
    else:
        rows = report_rows(run_report(config, program))
    for name in config.get("probes", []):
        probe = POINT_PROBES.get(name)
        if probe is None:
            raise ConfigError(f"unknown probe {name!r}")
        rows += probe(config)
    return {"rows": rows, "run_seconds": time.perf_counter() - started}


def import_probes(modules: list[str]) -> None:
    """Import the modules that register a point's probes (in the process that runs it)."""
    for module in modules:
        importlib.import_module(module)


def main() -> int:
    """``python -m cofferos.sim.sweeps.point``: JSON point on stdin, JSON result on stdout."""
    point = importlib.import_module(MODULE)  # not __main__: probes register into MODULE
    request = json.load(sys.stdin)
    config = request.get("config", request) if isinstance(request, dict) else request
    point.import_probes(request.get("modules", []) if "config" in request else [])
    json.dump(point.run_point(config), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
