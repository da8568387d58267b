"""The agents experiment as one point of a sweep (``experiment = "agents"`` in a spec).

A sweep spec (:mod:`cofferos.sim.sweeps.spec`, docs/sweeps.md) whose point sets
``experiment = "agents"`` runs :mod:`.experiment` there instead of its workload:
``containers`` agents under hosting model ``hosting`` (default: the point's
``kernel``), with ``scenario`` (default coding), ``density_limit`` (its ``--set
density=``; 0: no search) and
``misbehave`` (passed on as the experiment's setting of that name; a point without
one has no misbehaving agent), ``cores`` and ``seed``. The point's rows are the
experiment's summary, one metric each, for container ``all``; its probes
(``isolation``) see the hosting model's kernel as the point's kernel. The workload
is ``@agent``, the program that runs in each agent's container. The point's cost
overrides apply to every run; personalities are not passed on (the experiment
compares hosting models, not stacks).
"""

from __future__ import annotations

from typing import Any

from cofferos.sim.agents.hosting import hosting

ALL_CONTAINERS = "all"


def point_kernel(config: dict[str, Any]) -> str:
    """The kernel an agents point runs on (its probes' kernel)."""
    return hosting(config.get("hosting") or config["kernel"]).kernel


def point_rows(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the agents experiment of a point; its summary as tidy rows."""
    from cofferos.sim.agents import experiment
    from cofferos.sim.agents.experiment import NO_MISBEHAVE
    from cofferos.sim.isolation import run_experiment
    from cofferos.sim.isolation.common import ExperimentParams

    options: dict[str, Any] = {"hosting": config.get("hosting") or config["kernel"],
                               "misbehave": NO_MISBEHAVE}  # a point without: none
    for key, option in (("scenario", "scenario"), ("density_limit", "density"),
                        ("misbehave", "misbehave")):
        if config.get(key):
            options[option] = config[key]
    params = ExperimentParams(kernels=(point_kernel(config),), containers=config["containers"],
                              cores=config["cores"], seed=config["seed"], options=options,
                              costs=tuple(config.get("cost", ())))
    experiment.check(params)
    result = run_experiment(experiment, params)
    return [{"container": ALL_CONTAINERS, "metric": key, "value": float(value)}
            for row in result.summary for key, value in row.items()
            if isinstance(value, int | float) and not isinstance(value, bool)]
