"""The ``tradeoff`` experiment: isolation against throughput, kernel x personality.

For every kernel architecture and personality stack, two figures of merit:

* **throughput**: operations per simulated second per container of a
  metadata-heavy workload (``@metadata``) in ``--containers`` containers on
  ``--cores`` cores: the paths where shared kernels contend;
* **isolation score**: the share of isolation checks the configuration passes,
  each check being one outcome of the other experiments that say what passing
  means (a module-level ``isolation_checks(result)``): one per fault kind (no
  other container harmed, no kernel serving another container left to restart),
  one per exhaustion attack (every bystander unharmed), one per noisy-neighbour
  storm (the victim keeps most of its throughput) and one for information flow
  (no kernel channel, the CPU scheduler's included). Experiments that do not vary
  the personality count the same for every stack of a kernel.

A kernel that takes resources from the host is shown twice: with Docker's
defaults (its name) and with a careful operator's limits (``KERNEL+limits``, see
:mod:`.exhaustion`); only the exhaustion checks differ between the two (the
limits bind nothing in the other experiments, nor in the throughput workload).

One point per configuration; the Pareto front (no configuration better on both)
is marked. This is the figure for a paper's trade-off discussion.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace
from typing import Any

from cofferos.coffers.coffer import CofferConfig
from cofferos.coffers.program import resolve_program
from cofferos.sim.experiment import run_containers
from cofferos.sim.isolation.common import (
    DEFAULT_CONTAINERS,
    ExperimentParams,
    ExperimentResult,
    configuration,
    stack_label,
)
from cofferos.sim.isolation.exhaustion import agent_stack, base_kernel, variants
from cofferos.timing import machine_for

#: One point per kernel x ``--personality`` stack.
VARIES_PERSONALITIES = True
DESCRIPTION = "isolation score against throughput per kernel x personality, Pareto front"
WORKLOAD = ("@metadata", ("/tmp/shared", "300"))
#: Personality stacks compared when none is given (each a tuple of specs): none, the
#: seccomp-like allow list, and the agent personality with exhaustion's per-container quotas.
DEFAULT_STACKS: tuple[tuple[str, ...], ...] = ((), ("hardened",),
                                               agent_stack(DEFAULT_CONTAINERS))
#: The experiments whose outcomes are isolation checks, in the order they are run.
CHECKED = ("fault", "exhaustion", "noisy", "infoflow")
COLUMNS = ("kernel", "personalities", "throughput_per_container", "isolation_score",
           "checks_passed", "checks_total", "failed_checks")

DOC = """\
Each configuration (kernel x personality stack) gets an isolation score, the share of
the checks below that it passes, and a throughput, operations per simulated second per
container of `@metadata` in the same machine. The checks are the outcomes of the other
experiments in their default settings: every fault kind (no other container harmed
and no kernel serving another container left to restart), every exhaustion attack (no
bystander harmed), every noisy-neighbour storm (the victim keeps 90% of its throughput
alone) and information flow (no kernel channel, the CPU scheduler's included). A kernel
that takes resources from the host appears twice: with Docker's defaults and as
`KERNEL+limits`, with the limits a careful operator sets (only its exhaustion checks
differ; its throughput is the kernel's). The
figure plots one point per configuration and marks the Pareto front. Personality
stacks: `--personality STACK` (repeatable); default none, `hardened`, and `agent` with
the exhaustion experiment's quotas (16 processes, a third of the machine's RAM and
disk).
"""


def _throughput(params: ExperimentParams, kernel: str, stack: tuple[str, ...]) -> float:
    config = CofferConfig(seed=params.seed, personalities=stack)
    program, args = WORKLOAD
    report = run_containers(resolve_program(program), args, kernel=kernel,
                            containers=params.containers, cores=params.cores, base=config,
                            machine=machine_for(kernel, params.cores, config.kernel_costs))
    return report.per_container_throughput


def checks(params: ExperimentParams,
           verbose: bool = True) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """Every isolation check of :data:`CHECKED`, per (kernel, personalities label)."""
    outcomes = {}
    for short in _checked():
        if verbose:
            print(f"[tradeoff] {_experiment_name(short)} ...", file=sys.stderr, flush=True)
        outcomes[(CHECK, short, "")] = _run_check(params, short)
    return _found(params, outcomes)


def _experiment_name(short: str) -> str:
    from cofferos.sim.isolation import EXPERIMENTS

    return next(n for n, module in EXPERIMENTS.items() if module.endswith(f".{short}"))


def _checked() -> list[str]:
    """The experiments of :data:`CHECKED` that have isolation checks."""
    return [short for short in CHECKED
            if hasattr(importlib.import_module(f"{__package__}.{short}"), "isolation_checks")]


def _stacks(params: ExperimentParams) -> tuple[tuple[str, ...], ...]:
    return params.personalities if params.personalities != ((),) else DEFAULT_STACKS


#: A part of a run (:func:`parts`): the checks of one experiment of :data:`CHECKED` for
#: one kernel (each experiment runs each kernel on its own machine, and its checks are
#: per kernel), or the throughput of one kernel under one personality stack.
CHECK, THROUGHPUT = "check", "throughput"
Part = tuple[Any, ...]


def parts(params: ExperimentParams) -> list[Part]:
    """The independent parts of a run, each run by :func:`run_part` and put together by
    :func:`assemble` (``coffersim sensitivity`` reruns only the parts that read the
    constant it varies)."""
    return [*((CHECK, short, kernel) for short in _checked() for kernel in params.kernels),
            *((THROUGHPUT, kernel, stack) for kernel in params.kernels
              for stack in _stacks(params))]


def run_part(params: ExperimentParams, part: Part) -> Any:
    """One part: an experiment's isolation checks, or one throughput (a float)."""
    if part[0] == THROUGHPUT:
        return _throughput(params, part[1], part[2])
    _check, short, kernel = part
    return _run_check(replace(params, kernels=(kernel,), personalities=_stacks(params)), short)


def _run_check(params: ExperimentParams, short: str) -> dict[Any, list[tuple[str, bool]]]:
    """The isolation checks of experiment ``short`` (of :data:`CHECKED`) for ``params``'s
    kernels and personality stacks."""
    from cofferos.sim.isolation import run_experiment

    module = importlib.import_module(f"{__package__}.{short}")
    result = run_experiment(module, params.unresolved(), check_options=False)
    return module.isolation_checks(result)


def _found(params: ExperimentParams, outcomes: dict[Part, Any]
           ) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """The checks of each (configuration, personalities label), from the parts' outcomes."""
    found: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for short in CHECKED:
        outcome = {key: value for part, checked in outcomes.items()
                   if part[:2] == (CHECK, short) for key, value in checked.items()}
        if not outcome:
            continue
        for configuration_label in configurations(params.kernels):
            kernel = base_kernel(configuration_label)
            for stack in params.personalities:
                label = stack_label(stack)  # (not varied by the experiment: its "none")
                values = next((outcome[key] for key in (
                    (configuration_label, label), (kernel, label),
                    (configuration_label, "none"), (kernel, "none")) if key in outcome), [])
                found.setdefault((configuration_label, label), []).extend(values)
    return found


def configurations(kernels: tuple[str, ...]) -> list[str]:
    """Each kernel, and ``KERNEL+limits`` after a kernel that takes from the host."""
    return [label for kernel in kernels for label in variants(kernel)]


def checks_of(found: dict[tuple[str, str], list[tuple[str, bool]]], kernel: str,
              stack: tuple[str, ...]) -> list[tuple[str, bool]]:
    """The checks of one configuration."""
    return found.get((kernel, stack_label(stack)), [])


def isolation_probe(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The sweep probe ``isolation``: this point's kernel and personality stack scored
    by the isolation experiments in their default settings (not the point's containers),
    with the point's cost overrides."""
    stack = tuple(config.get("personalities", ()))
    params = ExperimentParams(kernels=(config["kernel"],), personalities=(stack,),
                              containers=None, cores=None, seed=int(config.get("seed", 0)),
                              costs=tuple(config.get("cost", ())))
    mine = checks_of(checks(params, verbose=False), config["kernel"], stack)
    passed = sum(1 for _name, ok in mine if ok)
    return [{"container": "all", "metric": "isolation_score",
             "value": passed / len(mine) if mine else float("nan")},
            {"container": "all", "metric": "isolation_checks", "value": float(len(mine))}]


def run(params: ExperimentParams) -> ExperimentResult:
    outcomes: dict[Part, Any] = {}
    for part in parts(params):
        if part[0] == CHECK:
            print(f"[tradeoff] {_experiment_name(part[1])} {part[2]} ...", file=sys.stderr,
                  flush=True)
        outcomes[part] = run_part(params, part)
    return assemble(params, outcomes)


def assemble(params: ExperimentParams, outcomes: dict[Part, Any]) -> ExperimentResult:
    """The result of a run from the outcome of each of its :func:`parts`."""
    stacks = _stacks(params)
    params = replace(params, personalities=stacks)
    found = _found(params, outcomes)  # (the checks of these stacks: run_part's)
    rows: list[dict[str, Any]] = []
    for kernel in params.each_kernel("tradeoff throughput"):
        throughput = {stack: outcomes[(THROUGHPUT, kernel, stack)] for stack in stacks}
        for label, stack in ((label, stack) for label in variants(kernel) for stack in stacks):
            mine = checks_of(found, label, stack)
            passed = [name for name, ok in mine if ok]
            rows.append({
                "kernel": label, "personalities": stack_label(stack),
                "throughput_per_container": throughput[stack],
                "isolation_score": len(passed) / len(mine) if mine else None,
                "checks_passed": len(passed), "checks_total": len(mine),
                "failed_checks": ",".join(name for name, ok in mine if not ok),
            })
    return ExperimentResult(
        name="tradeoff", rows=rows, columns=COLUMNS,
        configuration=configuration(params, workload=[WORKLOAD[0], *WORKLOAD[1]],
                                    checked=list(CHECKED)),
        finding=_finding(rows), draw=lambda out: draw(rows, out))


def _finding(rows: list[dict[str, Any]]) -> str:
    from cofferos.results.tradeoff_figure import pareto_front

    scored = [r for r in rows if r["isolation_score"] is not None]
    front = pareto_front([(r["throughput_per_container"], r["isolation_score"]) for r in scored])
    names = [f"{scored[i]['kernel']}/{scored[i]['personalities']}" for i in front]
    return f"Pareto front: {', '.join(names) or 'none'}."


def draw(rows: list[dict[str, Any]], out: str) -> None:
    from cofferos.results.labels import short_labels
    from cofferos.results.tradeoff_figure import plot_tradeoff_points

    short = short_labels(r["personalities"] for r in rows)  # "linux: agent", no options
    points = [{"label": short[r["personalities"]], "kernel": r["kernel"],
               "throughput": r["throughput_per_container"], "isolation": r["isolation_score"]}
              for r in rows if r["isolation_score"] is not None]
    plot_tradeoff_points(points, out, "Isolation against throughput (kernel x personality)")


def redraw(result: ExperimentResult, out: str) -> None:
    """The figure of a result, run or loaded from its directory."""
    draw(result.rows, out)
