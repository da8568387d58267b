"""``agents``: N tool-using agents and their model server, per hosting model.

Coffer 0 is the model server (``@modelserver``, replaying the scenario's trace with
the latency model of :mod:`.model`); a browsing scenario adds a web service
(``@webserver``) as coffer 1; then the agents (``@agent``), each in its own container
of the hosting model under study (``--hosting``, :mod:`.hosting`: the kernel
architectures of :mod:`cofferos.sim.kernels`, or ``processes``: all agents in one
container), with its own root filesystem:
a busybox tree (its tools' shell, imported copy-on-write) and its workspace
``/work/aI``. Everything the agents do is real guest code on the simulated machine;
only the model is a latency model.

Per hosting model: tasks completed per simulated minute, task latency p50/p99 and
its split into model time (request sent to reply read), tool time (the tool's run)
and kernel time (the agent's and its tools' system time, getrusage), the per-agent
memory footprint (the agent's peak resident set plus what the hosting model costs
per container: a guest kernel and VMM, a Sentry) and start-up time (the hosting
model's boot plus the agent's own start to its first request).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cofferos import bounds
from cofferos.coffers.coffer import CofferConfig
from cofferos.errors import ConfigError
from cofferos.sim.agents import scenario as scenarios
from cofferos.sim.agents.density import DOUBLING, density
from cofferos.sim.agents.hosting import (
    AGENT_IN_TREE,
    ALL_HOSTING,
    hosting,
    hosting_list,
    processes_init,
    split_outputs,
)
from cofferos.sim.agents.model import MODEL_PORT, ModelServer
from cofferos.sim.agents.remote import LinkModel, run_two
from cofferos.sim.experiment import ADDRESS_PREFIX, ContainerSpec, RunReport, run_mix
from cofferos.sim.isolation.common import (
    ALL_KERNELS,
    ExperimentParams,
    ExperimentResult,
    configuration,
)
from cofferos.sim.kernels import architecture
from cofferos.timing import DEFAULT_KERNEL_COSTS, KernelCosts, machine_for

if TYPE_CHECKING:
    from cofferos.sim.machine import Machine, MachineConfig

NAME = "agents"
DESCRIPTION = "tool-using agents and a model server: tasks/min, latency split, memory, start-up"
#: 16 agents on 2 cores, all five hosting models, 2 of the agents misbehaving
#: (:data:`DEFAULT_KINDS`); its host time is in docs/agents.md.
DEFAULTS = {"containers": 16, "cores": 2}
#: What the misbehaving agents do by default: the harms that cross a shared kernel (the
#: task table), a shared container (the other workspaces) and /proc.
DEFAULT_KINDS = "forkbomb,snoop,probe"
#: How many agents misbehave by default (fewer when there are fewer other agents).
DEFAULT_MISBEHAVING = 2
#: ``--misbehave none``: every agent behaves (the throughput and latency table alone).
NO_MISBEHAVE = "none"
OPTIONS = ("scenario", "tasks", "max_batch", "hosting", "density", "remote_model", "misbehave",
           "policy")
DEFAULT_SCENARIO = "coding"
BUSYBOX = Path("/bin/busybox")
SHELL = "/bin/sh"
#: The SQL tool in every agent's /bin (workloads/src/sqlquery.c, static libsqlite3).
QUERY_TOOL = "sqlquery"
#: Applets the shipped scenarios' shell commands use (each a link to busybox).
APPLETS = ("sh", "ls", "cat", "wc", "grep", "head", "tail", "sort", "uniq", "cut", "awk",
           "mkdir", "echo", "true", "sed", "find", "wget")
SERVER_ADDRESS = f"{ADDRESS_PREFIX}.0.1"  #: run_mix gives coffer 0 the first address
WEB_ADDRESS = f"{ADDRESS_PREFIX}.0.2"  #: the web service, when there is one, is coffer 1
WEB_PORT = 8080
#: The coffers that serve the agents (the model server; the web service of a browsing
#: scenario), not agents.
SERVICES = ("model", "web")
TRACE_PATH = "/trace.txt"
WORK_DIR = "/work"
NS_PER_MS = 1e6
NS_PER_S = 1e9
SECONDS_PER_MINUTE = 60
KIB = 1024
MIB = 1 << 20
FIGSIZE = (11.0, 3.8)
BAR_GROUP_WIDTH = 0.8
HATCHES = ("", "//")  #: the first and second bar of a group (tool, kernel)
#: Values within this fraction of the best count as tied for it in the finding.
TIE = 0.01
COLUMNS = ("hosting", "agents", "tasks", "tasks_per_min", "latency_p50_s", "latency_p99_s",
           "model_p50_s", "model_p99_s", "tool_p50_ms", "tool_p99_ms", "kernel_p50_ms",
           "kernel_p99_ms", "memory_per_agent_mib",
           "startup_ms", "failed_agents")

DOC = """\
N agents (`--agents`, default 16) and one model-server coffer on `--cores` cores,
under each hosting model (`--hosting`: processes and the kernels); each agent replays
its part of a trace drawn from `--scenario` (coding, data, browsing, analysis or a .toml file)
with `--seed`. Settings: `scenario`, `hosting`, `tasks` (tasks per agent, overriding
the scenario's), `max_batch` (the model server's batch slots), `density` (search
up to that many agents for the most before p99 latency doubles), `remote_model`
(1: the model server and web service on a machine of their own), `misbehave`
(`--misbehave KIND[,KIND][:M]`: the harm to the other agents; default
forkbomb,snoop,probe by 2 agents; `none`: no harm table) and `policy`
(`--policy NAME|FILE.toml`: live rules). See docs/agents.md.
"""


def workspace(agent: int) -> str:
    return f"{WORK_DIR}/a{agent}"


def agent_rootfs(root: Path) -> Path:
    """A busybox tree for the agents' tools: bin/busybox and its applets, /work, /tmp."""
    if not BUSYBOX.is_file():
        raise ConfigError(f"the agents' tools need {BUSYBOX} (apt-get install busybox-static)")
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(BUSYBOX, bin_dir / "busybox")
    for applet in APPLETS:
        (bin_dir / applet).symlink_to("busybox")
    for name in ("work", "tmp"):
        (root / name).mkdir()
    return root


def run_hosting(name: str, agents: int, cores: int, seed: int, scenario: scenarios.Scenario,
                server: ModelServer | None = None,
                costs: KernelCosts = DEFAULT_KERNEL_COSTS, remote: bool = False, *,
                turns: list[scenarios.Turn] | None = None,
                agent_config: Callable[[int, CofferConfig], CofferConfig] | None = None,
                machine: MachineConfig | None = None,
                prepare: Callable[[Machine], None] | None = None,
                link: LinkModel | None = None) -> RunReport:
    """One run: the model server and ``agents`` agents under hosting model ``name``.

    ``costs``: the cost model, with any ``arch.*`` overrides, of every coffer;
    ``remote``: the services on a machine of their own, joined by ``link``
    (:mod:`.remote`; default :class:`~.remote.LinkModel`); ``turns``: the
    trace (default: drawn from ``scenario``); ``agent_config(i, config)``: agent ``i``'s
    coffer configuration, changed (personalities, limits; under ``processes``, the one
    container's, as agent 0's); ``machine``: the machine's base configuration;
    ``prepare``: as for :func:`run_mix` (see :mod:`.misbehave` and :mod:`.policy`)."""
    from cofferos.workloads.build import build

    host = hosting(name)
    server = server or ModelServer()
    program, serving = str(build("agent")), str(build("modelserver"))
    turns = turns if turns is not None else scenarios.trace(scenario, agents, seed)
    with tempfile.TemporaryDirectory(prefix="coffersim-agents-") as temp:
        tools_root = agent_rootfs(Path(temp) / "agent")
        if scenario.python3:
            from cofferos.sim.agents.pytools import add_python

            add_python(tools_root)
        shutil.copy2(build(QUERY_TOOL), tools_root / "bin" / QUERY_TOOL)
        server_root = Path(temp) / "server"
        server_root.mkdir()
        (server_root / TRACE_PATH.lstrip("/")).write_text(scenarios.trace_text(turns))
        specs = [ContainerSpec(serving, server.args(agents, TRACE_PATH),
                               CofferConfig(name="model", seed=seed, rootfs=str(server_root),
                                            kernel_costs=costs))]
        web: tuple[str, ...] = ()
        if scenario.web_pages:
            specs.append(ContainerSpec(str(build("webserver")),
                                       (str(WEB_PORT), str(agents), str(scenario.web_pages),
                                        str(scenario.page_bytes)),
                                       CofferConfig(name="web", seed=seed,
                                                    kernel_costs=costs)))
            web = (f"{WEB_ADDRESS}:{WEB_PORT}",)
        argvs = [(SERVER_ADDRESS, str(MODEL_PORT), str(i), workspace(i), *web)
                 for i in range(agents)]
        def configured(index: int, config: CofferConfig) -> CofferConfig:
            return agent_config(index, config) if agent_config is not None else config

        if host.one_container:  # one container: a shell starts every agent as a process
            shutil.copy2(program, tools_root / AGENT_IN_TREE.lstrip("/"))
            specs.append(ContainerSpec(SHELL, ("-c", processes_init(argvs)),
                                       configured(0, CofferConfig(
                                           name="agents", seed=seed + 1,
                                           rootfs=str(tools_root), kernel_costs=costs)),
                                       inside=True))
        else:
            specs += [ContainerSpec(program, argv,
                                    configured(i, CofferConfig(
                                        name=f"agent{i}", seed=seed + 1 + i,
                                        rootfs=str(tools_root), kernel_costs=costs)))
                      for i, argv in enumerate(argvs)]
        config = machine_for(host.kernel, cores, costs, machine)
        if remote:
            return run_two(specs, SERVICES, kernel=host.kernel, machine=config,
                           link=link or LinkModel(), prepare=prepare)
        return run_mix(specs, kernel=host.kernel, cores=cores, machine=config,
                       prepare=prepare)


def agent_outputs(name: str, agents: int, report: RunReport) -> list[tuple[str, int | None,
                                                                         bytes]]:
    """Each agent's (name, exit status, output) from a run of hosting model ``name``."""
    mine = [c for c in report.containers if c.name not in SERVICES]
    if not hosting(name).one_container:
        return [(c.name, c.exit_code, c.stdout) for c in mine]
    shared = mine[0]
    return [(f"agent{i}", status, stdout)
            for i, (status, stdout) in enumerate(split_outputs(shared.stdout, agents))]


def parse_agent(stdout: bytes) -> dict[str, Any]:
    """What an agent printed: its start-up (ns), its tasks, its peak resident set (KiB)."""
    found: dict[str, Any] = {"ready_ns": None, "tasks": [], "maxrss_kib": None,
                             "tool_errors": None}
    for line in stdout.decode(errors="replace").splitlines():
        words = line.split()
        if words[:1] == ["ready"] and len(words) == 2:
            found["ready_ns"] = int(words[1])
        elif words[:1] == ["task"] and len(words) == 7:
            start, end, model, tool, kernel = (int(w) for w in words[2:])
            found["tasks"].append({"latency_ns": end - start, "model_ns": model,
                                   "tool_ns": tool, "kernel_ns": kernel})
        elif words[:1] == ["maxrss"] and len(words) == 2:
            found["maxrss_kib"] = int(words[1])
        elif words[:1] == ["errors"] and len(words) == 2:
            found["tool_errors"] = int(words[1])
    return found


def start_cost_ns(name: str, agents: int) -> float:
    """What starting the container costs one agent, before the agent's own code: a VM's
    boot or a sandbox's start (simulated: the machine waits ``boot_ns``), else starting
    a container in a running kernel (``restart_container_ns``: ``docker start`` for
    linux, a new Coffer for cofferos; modelled, added here, not waited for). The
    ``processes`` model starts one container for all: each agent bears 1/N of it."""
    host = hosting(name)
    arch = architecture(host.kernel)
    cost = arch.boot_ns or arch.restart_container_ns
    return cost / agents if host.one_container else cost


def memory_overhead(name: str, agents: int) -> float:
    """Bytes of the hosting model's own per-container cost borne by one agent."""
    host = hosting(name)
    overhead = architecture(host.kernel).memory_overhead
    return overhead / agents if host.one_container else overhead


def quantile(values: list[float], q: float) -> float | None:
    """The nearest-rank quantile (deterministic, no interpolation); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(int(-(-q * len(ordered) // 1)), 1)  # ceil(q * n), at least 1
    return ordered[min(rank, len(ordered)) - 1]


def rows_of(name: str, agents: int, report: RunReport) -> list[dict[str, Any]]:
    """One row per task an agent finished (agents that finished none: one row of None)."""
    host = hosting(name)
    start, overhead = start_cost_ns(name, agents), memory_overhead(name, agents)
    rows = []
    for agent, exit_code, stdout in agent_outputs(name, agents, report):
        found = parse_agent(stdout)
        common = {
            "hosting": name, "kernel": host.kernel, "agent": agent, "exit_code": exit_code,
            "startup_ms": (None if found["ready_ns"] is None
                           else (start + found["ready_ns"]) / NS_PER_MS),
            "memory_mib": (None if found["maxrss_kib"] is None
                           else (found["maxrss_kib"] * KIB + overhead) / MIB),
        }
        for index, task in enumerate(found["tasks"]):
            rows.append({**common, "task": index,
                         "latency_s": task["latency_ns"] / NS_PER_S,
                         "model_s": task["model_ns"] / NS_PER_S,
                         "tool_ms": task["tool_ns"] / NS_PER_MS,
                         "kernel_ms": task["kernel_ns"] / NS_PER_MS})
        if not found["tasks"]:
            rows.append({**common, "task": None, "latency_s": None, "model_s": None,
                         "tool_ms": None, "kernel_ms": None})
    return rows


def summary_of(name: str, rows: list[dict[str, Any]], simulated_s: float) -> dict[str, Any]:
    done = [r for r in rows if r["task"] is not None]
    agents = {r["agent"]: r for r in rows}

    def q(key: str, point: float) -> float | None:
        return quantile([r[key] for r in done], point)

    memory = [r["memory_mib"] for r in agents.values() if r["memory_mib"] is not None]
    startup = [r["startup_ms"] for r in agents.values() if r["startup_ms"] is not None]
    return {
        "hosting": name, "agents": len(agents), "tasks": len(done),
        "tasks_per_min": len(done) / simulated_s * SECONDS_PER_MINUTE if simulated_s else 0.0,
        "latency_p50_s": q("latency_s", 0.5), "latency_p99_s": q("latency_s", 0.99),
        "model_p50_s": q("model_s", 0.5), "model_p99_s": q("model_s", 0.99),
        "tool_p50_ms": q("tool_ms", 0.5), "tool_p99_ms": q("tool_ms", 0.99),
        "kernel_p50_ms": q("kernel_ms", 0.5), "kernel_p99_ms": q("kernel_ms", 0.99),
        "memory_per_agent_mib": sum(memory) / len(memory) if memory else None,
        "startup_ms": sum(startup) / len(startup) if startup else None,
        "failed_agents": sum(1 for r in agents.values() if r["exit_code"] != 0),
    }


def scenario_of(params: ExperimentParams) -> scenarios.Scenario:
    from dataclasses import replace

    chosen = scenarios.load(str(params.option("scenario", DEFAULT_SCENARIO)))
    tasks = params.option("tasks", 0, minimum=0)
    return replace(chosen, tasks=tasks) if tasks else chosen


def hostings_of(params: ExperimentParams) -> tuple[str, ...]:
    """The hosting models to compare: ``--set hosting=`` (``--hosting``), else the
    kernels if they were chosen, else all of :data:`ALL_HOSTING`."""
    if "hosting" in params.options:
        return hosting_list(str(params.options["hosting"]))
    return ALL_HOSTING if tuple(params.kernels) == ALL_KERNELS else tuple(params.kernels)


def misbehave_of(params: ExperimentParams) -> str:
    """``--misbehave`` as given; by default :data:`DEFAULT_KINDS` by
    :data:`DEFAULT_MISBEHAVING` agents (at most all but one: an experiment has at least
    2). "" means :data:`NO_MISBEHAVE` too (a sweep point's)."""
    agents = params.containers or DEFAULTS["containers"]
    default = f"{DEFAULT_KINDS}:{max(min(DEFAULT_MISBEHAVING, agents - 1), 1)}"
    chosen = str(params.option("misbehave", default)).strip()
    return chosen if chosen else NO_MISBEHAVE


def run(params: ExperimentParams) -> ExperimentResult:
    chosen = scenario_of(params)
    server = ModelServer(max_batch=params.option("max_batch", ModelServer().max_batch,
                                                 minimum=1))
    agents = params.containers or DEFAULTS["containers"]
    if misbehave_of(params) != NO_MISBEHAVE:
        from cofferos.sim.agents.harm import run_harm

        return run_harm(params, chosen, server)
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    names = hostings_of(params)
    limit = params.option("density", 0, minimum=0)
    remote = params.option("remote_model", False)
    cores = params.cores or DEFAULTS["cores"]
    searched: dict[str, dict[int, float | None]] = {}
    started = time.perf_counter()
    for index, name in enumerate(names, start=1):
        if params.progress:
            print(f"  [{NAME}] hosting {index}/{len(names)}: {name} "
                  f"({time.perf_counter() - started:.0f} s so far)", file=sys.stderr,
                  flush=True)
        report = run_hosting(name, agents, cores, params.seed, chosen, server, remote=remote)
        mine = rows_of(name, agents, report)
        rows += mine
        summary.append(summary_of(name, mine, report.simulated_seconds))
        if limit:
            summary[-1]["density"], searched[name] = density(
                name, limit, cores, params.seed, chosen, server, remote)
    return ExperimentResult(
        name=NAME, rows=rows, summary=summary,
        columns=(*COLUMNS, "density") if limit else COLUMNS,
        configuration=configuration(params, hosting=list(names), scenario=chosen.name,
                                    tasks=chosen.tasks, model_server=vars(server),
                                    density_limit=limit, remote_model=remote,
                                    density_search={name: {str(n): p99 for n, p99 in tried.items()}
                                                    for name, tried in searched.items()}),
        finding=finding(summary, limit), draw=lambda out: draw(summary, out))


def _name(row: dict[str, Any]) -> str:
    """A summary row's hosting model (results saved before ``processes`` say ``kernel``)."""
    return str(row.get("hosting", row.get("kernel")))


def _leaders(done: list[dict[str, Any]], key: str, best: Any) -> str:
    """The hosting models within :data:`TIE` of the best value of ``key``, and that value."""
    top = best(s[key] for s in done)
    names = [_name(s) for s in done if abs(s[key] - top) <= TIE * abs(top)]
    return f"{', '.join(names)} ({top:.3g})"


def finding(summary: list[dict[str, Any]], limit: int = 0) -> str:
    done = [s for s in summary if s["tasks"] and s["latency_p50_s"] is not None
            and s["memory_per_agent_mib"] is not None and s["startup_ms"] is not None]
    if not done:
        return "No agent finished a task."
    share = [s["model_p50_s"] / s["latency_p50_s"] for s in done if s["latency_p50_s"]]
    return (f"Tasks per simulated minute: best {_leaders(done, 'tasks_per_min', max)}; "
            f"memory per agent (MiB): least {_leaders(done, 'memory_per_agent_mib', min)}; "
            f"start-up (ms): fastest {_leaders(done, 'startup_ms', min)}. The model's time "
            f"is {min(share):.1%}-{max(share):.1%} of a median task, so the hosting models "
            "differ in memory and start-up far more than in task latency."
            + (f" Density (agents before p99 latency is {DOUBLING:g}x one agent's, searched "
               f"up to {limit}): most {_leaders(done, 'density', max)}." if limit else ""))


def draw(summary: list[dict[str, Any]], out: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from cofferos.results.plot import DPI, OKABE_ITO

    figure = Figure(figsize=FIGSIZE)
    FigureCanvasAgg(figure)
    kernels = [_name(s) for s in summary]
    colours = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(kernels))]
    panels = (("tasks_per_min", "tasks per simulated minute"),
              (("tool_p50_ms", "kernel_p50_ms"), "per task p50 (ms): tool | kernel"),
              ("memory_per_agent_mib", "memory per agent (MiB)"),
              ("startup_ms", "start-up (ms)"))
    for index, (key, label) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        keys = key if isinstance(key, tuple) else (key,)
        width = BAR_GROUP_WIDTH / len(keys)
        for offset, name in enumerate(keys):
            positions = [i + (offset - (len(keys) - 1) / 2) * width
                         for i in range(len(kernels))]
            axes.bar(positions, [s[name] or 0.0 for s in summary], width, color=colours,
                     hatch=HATCHES[offset])
        axes.set_xticks(range(len(kernels)), kernels)
        axes.set_title(label, fontsize=9)
        axes.tick_params(axis="x", labelrotation=30, labelsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=DPI)


def redraw(result: ExperimentResult, out: str) -> None:
    if result.summary and "misbehave" in result.summary[0]:
        from cofferos.sim.agents.harm import draw as draw_harm

        draw_harm(result.summary, out)
    else:
        draw(result.summary, out)


def check(params: ExperimentParams) -> None:
    """Usage errors before anything runs: the scenario, the settings, busybox (and python3
    for a scenario whose tools need it)."""
    if scenario_of(params).python3:
        from cofferos.sim.agents import pytools

        pytools.check()
    hostings_of(params)
    params.option("max_batch", ModelServer().max_batch, minimum=1)
    params.option("remote_model", False)
    limit = params.option("density", 0, minimum=0)
    if limit:
        bounds.check("containers", limit, label=f"--set density={limit}:")
    if misbehave_of(params) != NO_MISBEHAVE:
        from cofferos.sim.agents import misbehave

        misbehave.choose(misbehave.parse(misbehave_of(params)),
                         params.containers or DEFAULTS["containers"], params.seed)
    if params.option("policy", ""):
        from cofferos.sim.agents import policy

        policy.load(params.option("policy", ""))
    if not BUSYBOX.is_file():
        raise ConfigError(f"the agents' tools need {BUSYBOX} (apt-get install busybox-static)")
