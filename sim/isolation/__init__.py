"""Isolation experiments: what one container can do to the others, per kernel architecture.

Each experiment is a module with ``DESCRIPTION`` (one line), ``DOC`` (its section
of docs/isolation.md), optionally ``DEFAULTS`` (its own containers and cores),
``OPTIONS`` (the names ``--set`` takes), ``VARIES_PERSONALITIES`` (True when it
runs once per ``--personality`` stack; otherwise it compares kernels only) and
``isolation_checks(result)`` (what passing means, for the ``tradeoff`` score), and
``run(params: ExperimentParams) -> ExperimentResult`` (:mod:`.common`) and
``redraw(result, out)`` (its figure from a result, run or loaded from its directory
by :func:`.common.load`); run it through :func:`run_experiment`:

========================  ==========================================================
``fault``                 a kernel bug (panic, oops, corruption, lockup, leak) in one
                          container: who dies, hangs or loses work; time to recover
``noisy-neighbor``        a victim next to neighbours storming shared kernel paths
``infoflow``              differential check for channels between containers
``exhaustion``            fork bomb, descriptors, memory, disk: effect on the others
``surface``               system calls reachable, kernel objects shared, per personality
``tradeoff``              isolation score against throughput, kernel x personality,
                          with the Pareto front (the summary figure)
========================  ==========================================================

Nothing in an experiment is decided per architecture: outcomes follow from where
each architecture keeps kernel state (:mod:`cofferos.coffers.domain`,
:mod:`cofferos.sim.kernel_locks`).
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from types import ModuleType

from cofferos.errors import ConfigError
from cofferos.sim.isolation.common import ExperimentParams, ExperimentResult

#: Experiment name -> module (imported when used: each pulls in the whole simulator).
EXPERIMENTS: dict[str, str] = {
    "fault": "cofferos.sim.isolation.fault",
    "noisy-neighbor": "cofferos.sim.isolation.noisy",
    "infoflow": "cofferos.sim.isolation.infoflow",
    "exhaustion": "cofferos.sim.isolation.exhaustion",
    "surface": "cofferos.sim.isolation.surface",
    "tradeoff": "cofferos.sim.isolation.tradeoff",
}
#: Experiments run by name only (not by ``all``, ``report`` or ``tradeoff``): they
#: measure something other than isolation and write their own docs page.
OTHER_EXPERIMENTS: dict[str, str] = {
    "agents": "cofferos.sim.agents.experiment",
}


def run_experiment(module: ModuleType, params: ExperimentParams,
                   check_options: bool = True) -> ExperimentResult:
    """Run an experiment module, with its own ``DEFAULTS`` for what ``params`` leaves open,
    with ``params.costs`` on every run, ``params.repeats`` times (seeds from ``params.seed``,
    combined by :func:`.repeats.combine`).

    A ``--set`` name the experiment does not take is a ConfigError before anything
    runs (``check_options=False``: the caller has checked them against several
    experiments, as ``tradeoff`` and ``all`` do)."""
    if check_options:
        check_option_names(params, options_of(module))
        check_personalities(module, params)
    check_image_taken(module, params)
    from cofferos.sim.experiment import cost_overrides, experiment_image

    resolved = for_module(module, params).resolved(getattr(module, "DEFAULTS", {}))
    seeds = [resolved.seed + index for index in range(resolved.repeats)]
    with cost_overrides(resolved.costs), experiment_image(resolved.image):
        results = [module.run(replace(resolved, seed=seed, repeats=1)) for seed in seeds]
    if len(results) == 1:
        return results[0]
    from cofferos.sim.isolation.repeats import combine

    combined = combine(results, seeds)
    if hasattr(module, "redraw"):  # the figure of the means (with error bars if it has them)
        combined.draw = lambda out: module.redraw(combined, out)
    return combined


def varies_personalities(module: ModuleType) -> bool:
    return bool(getattr(module, "VARIES_PERSONALITIES", False))


def for_module(module: ModuleType, params: ExperimentParams) -> ExperimentParams:
    """``params`` as ``module`` takes them: no personality stacks for an experiment that
    compares kernels only (so its manifest records what ran)."""
    if varies_personalities(module):
        return params
    return replace(params, personalities=((),))


def check_personalities(module: ModuleType, params: ExperimentParams) -> None:
    """A clear error for ``--personality`` on an experiment that compares kernels only."""
    if params.personalities != ((),) and not varies_personalities(module):
        name = getattr(module, "NAME", module.__name__.rsplit(".", 1)[-1])
        raise ConfigError(f"--personality: the {name} experiment compares kernels only "
                          "(its result holds for every stack); drop --personality")


def check_image_taken(module: ModuleType, params: ExperimentParams) -> None:
    """A clear error for ``--image`` on an experiment whose containers' whole root is a
    tree of its own making (``OWN_ROOT``: their programs are in it). Data directories an
    experiment writes for its containers are laid over the image instead
    (:func:`cofferos.sim.experiment.with_image`)."""
    if params.image is not None and getattr(module, "OWN_ROOT", False):
        name = getattr(module, "NAME", module.__name__.rsplit(".", 1)[-1])
        takers = ", ".join(n for n in EXPERIMENTS
                           if not getattr(experiment(n), "OWN_ROOT", False))
        raise ConfigError(f"--image: the {name} experiment builds its containers' whole "
                          f"root filesystem itself; these take an image: {takers}")


def options_of(module: ModuleType) -> tuple[str, ...]:
    """The ``--set`` names an experiment takes (for ``tradeoff``: those of the experiments
    it runs, which it passes its settings to)."""
    names = list(getattr(module, "OPTIONS", ()))
    for short in getattr(module, "CHECKED", ()):
        names += getattr(importlib.import_module(f"{__name__}.{short}"), "OPTIONS", ())
    return tuple(dict.fromkeys(names))


def check_option_names(params: ExperimentParams, known: tuple[str, ...]) -> None:
    """A clear error for a ``--set`` name outside ``known``."""
    unknown = [name for name in params.options if name not in known]
    if unknown:
        if not known:
            raise ConfigError(f"--set {unknown[0]}: this experiment takes no settings")
        raise ConfigError(f"--set {unknown[0]}: unknown setting; choose from {', '.join(known)}")


def experiment(name: str) -> ModuleType:
    """The module of experiment ``name`` (a ConfigError naming the choices otherwise)."""
    try:
        return importlib.import_module({**EXPERIMENTS, **OTHER_EXPERIMENTS}[name])
    except KeyError:
        raise ConfigError(f"unknown experiment {name!r}; choose from "
                          f"{', '.join([*EXPERIMENTS, *OTHER_EXPERIMENTS])}") from None
