"""What an agents run measured: each agent's output parsed into one row per task, and
the per-hosting-model summary (tasks per minute, latency quantiles and their split,
memory and start-up per agent) and its one-line finding.

:mod:`.experiment` runs the hosting models and calls these; :mod:`.density`,
:mod:`.misbehave` and :mod:`.harm` read the same rows.
"""

from __future__ import annotations

from typing import Any

from cofferos.sim.agents.density import DOUBLING
from cofferos.sim.agents.hosting import hosting, split_outputs
from cofferos.sim.experiment import RunReport
from cofferos.sim.kernels import architecture

#: The coffers that serve the agents (the model server; the web service of a browsing
#: scenario), not agents.
SERVICES = ("model", "web")
NS_PER_MS = 1e6
NS_PER_S = 1e9
SECONDS_PER_MINUTE = 60
KIB = 1024
MIB = 1 << 20
#: Values within this fraction of the best count as tied for it in the finding.
TIE = 0.01


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
