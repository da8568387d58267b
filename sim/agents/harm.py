"""``coffersim experiment agents --misbehave KIND[,KIND][:M] [--policy P]``: the harm.

For each hosting model, a baseline run and a run in which M agents misbehave
(:mod:`.misbehave`), on the same scaled machine and trace; with a policy
(:mod:`.policy`) both runs have the orchestrator, and the table adds what it did:
the rules that fired (and those that fired in the baseline run: on agents doing
nothing wrong), containment (the longest time from the first audit event a
rule counted to its change taking effect) and the summed cost of the changes'
mechanisms. Every line also carries what the hosting model costs, measured on the
baseline run (:data:`PERFORMANCE_COLUMNS`), and with ``--set density=LIMIT`` its
agent density (:mod:`.density`): one table of cost against isolation.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from cofferos.errors import ConfigError
from cofferos.sim.agents import misbehave
from cofferos.sim.agents.density import density
from cofferos.sim.agents.model import ModelServer
from cofferos.sim.agents.scenario import Scenario
from cofferos.sim.isolation.common import ExperimentParams, ExperimentResult, configuration

NAME = "agents"
NS_PER_MS = 1e6
#: The baseline run's measures each line carries (the agents experiment's columns).
PERFORMANCE_COLUMNS = ("tasks_per_min", "latency_p50_s", "latency_p99_s",
                       "memory_per_agent_mib", "startup_ms")
POLICY_COLUMNS = ("fired", "baseline_fired", "refused", "containment_ms", "policy_cost_us")
FIGSIZE = (15.0, 3.6)


def run_harm(params: ExperimentParams, scenario: Scenario,
             server: ModelServer) -> ExperimentResult:
    from cofferos.sim.agents.experiment import DEFAULTS, misbehave_of, workspace

    spec = misbehave.parse(misbehave_of(params))
    policy_name = params.option("policy", "")
    chosen_policy = None
    if policy_name:
        from cofferos.sim.agents import policy

        chosen_policy = policy.load(policy_name)
    agents = params.containers or DEFAULTS["containers"]
    cores = params.cores or DEFAULTS["cores"]
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    made: list[Any] = []  #: the orchestrators, one per run: the last is the latest run's

    def prepare(machine: Any) -> None:
        from cofferos.sim.agents.orchestrator import Orchestrator

        made.append(Orchestrator(chosen_policy, workspace))
        made[-1].prepare(machine)

    from cofferos.sim.agents.experiment import hostings_of
    from cofferos.sim.agents.hosting import hosting
    from cofferos.sim.agents.measures import rows_of, summary_of

    kernels = hostings_of(params)
    left_out = ""
    if chosen_policy is not None and any(hosting(k).one_container for k in kernels):
        # A policy's rules act per container (the agent personality and its audit
        # trail are a coffer's); under ``processes`` every agent shares one.
        kernels = tuple(k for k in kernels if not hosting(k).one_container)
        left_out = ("processes left out: a policy acts per container, and its agents "
                    "share one")
        if not kernels:
            raise ConfigError(f"--policy: {left_out}; choose another hosting model")
    limit = params.option("density", 0, minimum=0)
    remote = params.option("remote_model", False)
    searched: dict[str, dict[int, float | None]] = {}
    started = time.perf_counter()
    for index, kernel in enumerate(kernels, start=1):
        if params.progress:
            print(f"  [{NAME}] hosting {index}/{len(kernels)}: {kernel}, baseline and "
                  f"{spec.label} ({time.perf_counter() - started:.0f} s so far)",
                  file=sys.stderr, flush=True)
        baseline, bad, chosen = misbehave.run_pair(
            kernel, agents, cores, params.seed, scenario, server, spec,
            prepare=prepare if chosen_policy is not None else None, remote=remote)
        harm_rows, line = misbehave.harm(kernel, spec.label, baseline, bad, chosen, agents)
        line["misbehaving"] = ",".join(f"agent{i}" for i in chosen)
        tasks = rows_of(kernel, agents, baseline)  # what hosting costs, from the baseline
        performance = summary_of(kernel, tasks, baseline.simulated_seconds)
        line.update({key: performance[key] for key in PERFORMANCE_COLUMNS})
        rows += [{**r, "kind": "task"} for r in tasks]
        if limit:
            line["density"], searched[kernel] = density(kernel, limit, cores, params.seed,
                                                        scenario, server, remote)
        if chosen_policy is not None:
            firings = made[-1].firings
            line["fired"] = len(firings)
            line["baseline_fired"] = len(made[-2].firings)  # rules firing on good agents
            tightened = [f for f in firings if f.action != "restore"]
            line["containment_ms"] = (max(f.effect_ns - f.first_event_ns for f in tightened)
                                      / NS_PER_MS if tightened else None)
            line["policy_cost_us"] = sum(f.cost_ns for f in firings) / 1e3
            line["refused"] = sum(not f.applied for f in firings)
            rows += [{"kernel": kernel, "kind": "firing", **f.row()} for f in firings]
        rows += [{**r, "kind": "victim"} for r in harm_rows]
        summary.append(line)
    columns = (misbehave.HARM_COLUMNS + PERFORMANCE_COLUMNS + (("density",) if limit else ())
               + (POLICY_COLUMNS if chosen_policy is not None else ()))
    return ExperimentResult(
        name=NAME, rows=rows, columns=columns, summary=summary,
        configuration=configuration(params, scenario=scenario.name, tasks=scenario.tasks,
                                    model_server=vars(server), misbehave=spec.label,
                                    policy=chosen_policy.name if chosen_policy else "",
                                    hosting=list(kernels), remote_model=remote,
                                    density_limit=limit,
                                    density_search={name: {str(n): p for n, p in tried.items()}
                                                    for name, tried in searched.items()},
                                    scaled_machine=vars(misbehave.machine(agents))),
        finding=finding(summary) + (f" ({left_out}.)" if left_out else ""),
        draw=lambda out: draw(summary, out))


def finding(summary: list[dict[str, Any]]) -> str:
    parts = []
    for line in summary:
        text = (f"{line['kernel']}: {line['harmed']} of {line['victims']} other agents "
                f"harmed, {line['others_seen']} other tasks seen"
                + (f" ({line['agents_seen']} other agents by their /proc cmdlines)"
                   if line.get("agents_seen") else ""))
        if "fired" in line:
            contained = line["containment_ms"]
            text += (f", {line['fired']} rules fired" +
                     (f", contained in {contained:.3g} ms" if contained is not None else ""))
        parts.append(text)
    return "; ".join(parts) + "."


def draw(summary: list[dict[str, Any]], out: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from cofferos.results.plot import DPI, OKABE_ITO

    figure = Figure(figsize=FIGSIZE)
    FigureCanvasAgg(figure)
    kernels = [s["kernel"] for s in summary]
    colours = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(kernels))]
    panels = [("harmed", "other agents harmed"),
              ("agents_seen", "other agents' processes listed"),
              ("others_seen", "other tasks seen"), ("tasks_lost", "tasks lost")]
    panels += [(key, label) for key, label in (("memory_per_agent_mib", "memory per agent (MiB)"),
                                               ("startup_ms", "start-up (ms)"))
               if summary and key in summary[0]]
    if summary and "containment_ms" in summary[0]:
        panels.append(("containment_ms", "containment (ms)"))
    for index, (key, label) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        axes.bar(range(len(kernels)), [s.get(key) or 0 for s in summary], color=colours)
        axes.set_xticks(range(len(kernels)), kernels)
        axes.set_title(label, fontsize=9)
        axes.tick_params(axis="x", labelrotation=30, labelsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=DPI)
