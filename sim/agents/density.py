"""Agent density: how many agents one machine hosts before p99 task latency doubles.

Agents differ (each draws its own tasks from the scenario), so the p99 of N agents'
tasks would grow with N even on an idle machine: more agents, longer tails of the
trace. The measure therefore compares each run with its own trace: the *slowdown*
of a run is its p99 task latency over the p99 of the same tasks' uncontended
latency (each turn's model time with the server to itself, :meth:`ModelServer.alone_ns`,
plus the think time; tools and network are left out, so one agent's slowdown is
slightly above 1). For one hosting model, :func:`density` measures the slowdown
with one agent (the baseline), then with 2, 4, 8 ... agents while it stays below
:data:`DOUBLING` x the baseline, then bisects between the last count below and the
first at or above; it tries at most ``limit`` agents (``--set density=LIMIT`` of
``coffersim experiment agents``). The answer is the largest count found below, and
every count tried with its slowdown (the search, saved in the experiment's
manifest). A run in which an agent fails or finishes no task counts as over. p99
is nearest-rank over all tasks of a run, so with few tasks it is near the slowest.

The search costs about 2 log2(limit) runs per hosting model, of up to ``limit``
agents each: 16 takes 6-7 runs.
"""

from __future__ import annotations

from collections.abc import Callable

from cofferos.sim.agents import scenario as scenarios
from cofferos.sim.agents.model import ModelServer

#: Latency grows past this factor of one agent's: the density's threshold (issue #18).
DOUBLING = 2.0

P99 = 0.99
NS_PER_US = 1_000
NS_PER_S = 1e9


def uncontended_s(scenario: scenarios.Scenario, agents: int, seed: int,
                  server: ModelServer) -> list[float]:
    """Every task's latency (s) in the trace of ``agents`` with nothing contended: the
    model's time alone for each of its turns, plus the think times."""
    tasks: list[float] = []
    current: dict[int, int] = {}
    for turn in scenarios.trace(scenario, agents, seed):
        current[turn.agent] = (current.get(turn.agent, 0) + turn.think_us * NS_PER_US
                               + server.alone_ns(turn.in_tokens, turn.out_tokens))
        if turn.call == scenarios.FINAL:
            tasks.append(current.pop(turn.agent) / NS_PER_S)
    return tasks


def slowdown(rows: list[dict], alone: list[float]) -> float | None:
    """A run's p99 task latency over its trace's uncontended p99 (None if an agent failed
    or finished no task)."""
    from cofferos.sim.agents.measures import quantile

    if any(r["exit_code"] != 0 or r["task"] is None for r in rows):
        return None
    measured, floor = quantile([r["latency_s"] for r in rows], P99), quantile(alone, P99)
    return measured / floor if measured is not None and floor else None


Search = dict[int, float | None]
"""Each agent count tried, with its slowdown (None: over, an agent failed)."""


def search(p99_at: Callable[[int], float | None], limit: int) -> tuple[int, Search]:
    """The largest agent count whose slowdown (``p99_at(n)``) is below DOUBLING x
    p99_at(1), at most ``limit``; and every count tried with its slowdown. 0 if one
    agent fails."""
    tried: Search = {}

    def below(n: int) -> bool:
        tried[n] = p99_at(n)
        return tried[n] is not None and tried[n] < DOUBLING * base  # type: ignore[operator]

    first = p99_at(1)
    tried[1] = first
    if first is None:
        return 0, tried
    base = first
    low, high, n = 1, None, 1
    while n < limit:
        n = min(n * 2, limit)
        if below(n):
            low = n
        else:
            high = n
            break
    while high is not None and high - low > 1:
        middle = (low + high) // 2
        if below(middle):
            low = middle
        else:
            high = middle
    return low, dict(sorted(tried.items()))


def density(name: str, limit: int, cores: int, seed: int, scenario: scenarios.Scenario,
            server: ModelServer, remote: bool = False) -> tuple[int, Search]:
    """:func:`search` over runs of hosting model ``name`` (see the module's docstring)."""
    from cofferos.sim.agents.experiment import run_hosting
    from cofferos.sim.agents.measures import rows_of

    def p99_at(agents: int) -> float | None:
        report = run_hosting(name, agents, cores, seed, scenario, server, remote=remote)
        return slowdown(rows_of(name, agents, report),
                        uncontended_s(scenario, agents, seed, server))

    return search(p99_at, limit)
