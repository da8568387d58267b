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
from cofferos.sim.agents.density import density
from cofferos.sim.agents.figure import draw
from cofferos.sim.agents.hosting import (
    AGENT_IN_TREE,
    ALL_HOSTING,
    hosting,
    hosting_list,
    processes_init,
)
from cofferos.sim.agents.measures import SERVICES, finding, rows_of, summary_of
from cofferos.sim.agents.model import MODEL_PORT, ModelServer
from cofferos.sim.agents.remote import LinkModel, run_two
from cofferos.sim.experiment import ADDRESS_PREFIX, ContainerSpec, RunReport, run_mix
from cofferos.sim.isolation.common import (
    ALL_KERNELS,
    ExperimentParams,
    ExperimentResult,
    configuration,
)
from cofferos.timing import DEFAULT_KERNEL_COSTS, KernelCosts, machine_for

if TYPE_CHECKING:
    from cofferos.sim.machine import Machine, MachineConfig

NAME = "agents"
DESCRIPTION = "tool-using agents and a model server: tasks/min, latency split, memory, start-up"
#: Its agents' tools and the model server are trees it builds, their whole root: no --image.
OWN_ROOT = True
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
TRACE_PATH = "/trace.txt"
WORK_DIR = "/work"
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
