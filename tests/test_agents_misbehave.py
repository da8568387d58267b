"""Misbehaving agents and live policies: harm observed, containment at its recorded time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cofferos.sim.agents import misbehave
from cofferos.sim.agents import scenario as scenarios
from cofferos.sim.agents.experiment import BUSYBOX, run_hosting, workspace
from cofferos.sim.agents.measures import parse_agent
from cofferos.sim.agents.model import ModelServer
from cofferos.sim.agents.orchestrator import Orchestrator
from cofferos.sim.agents.policy import load
from tests.test_agents import SCENARIO as PROBE_SCENARIO

pytestmark = pytest.mark.skipif(not BUSYBOX.is_file(), reason="busybox-static not installed")

#: One task of a few shell tools (each a fork and an exec), so that the other agents
#: are at work while one misbehaves: test_agents' probe scenario with four turns.
SCENARIO = PROBE_SCENARIO.format(n=4, commands='"ls src"')
#: A fast model: the runs are about the agents' own work.
SERVER = ModelServer(decode_ns=100_000)
AGENTS = 3


@pytest.fixture
def small(tmp_path: Path) -> scenarios.Scenario:
    path = tmp_path / "small.toml"
    path.write_text(SCENARIO)
    return scenarios.load(str(path))


def pair(kernel: str, chosen: scenarios.Scenario, kinds: str, **more: Any) -> Any:
    return misbehave.run_pair(kernel, AGENTS, 2, 0, chosen, SERVER, misbehave.parse(kinds),
                              **more)


def test_on_cofferos_a_fork_bomb_and_proc_probe_reach_no_other_agent(
        small: scenarios.Scenario) -> None:
    baseline, bad, chosen = pair("cofferos", small, "forkbomb,probe,killer,snoop")
    done = misbehave.reports(bad.containers[1 + chosen[0]].stdout)
    kinds = {d["kind"]: d for d in done["done"]}
    assert set(kinds) == {"forkbomb", "probe", "killer", "snoop"}
    assert kinds["forkbomb"]["forked"] > 0  # the bomb really went off
    rows, line = misbehave.harm("cofferos", "x", baseline, bad, chosen)
    assert len(rows) == AGENTS - 1
    assert line["harmed"] == 0 and line["others_seen"] == 0 and line["agents_seen"] == 0
    assert kinds["probe"]["tasks"] == 1  # the kernel it asks holds only the prober
    assert all(not r["died"] and not r["tasks_lost"] and not r["tool_errors"] for r in rows)


def test_on_a_shared_kernel_a_fork_bomb_fails_the_other_agents_forks(
        small: scenarios.Scenario) -> None:
    baseline, bad, chosen = pair("linux", small, "forkbomb")
    bomb = misbehave.reports(bad.containers[1 + chosen[0]].stdout)["done"][0]
    assert bomb["failed"] > 0  # the shared task table ran out ...
    rows, line = misbehave.harm("linux", "x", baseline, bad, chosen)
    assert line["harmed"] == AGENTS - 1  # ... for the other agents' tools too
    assert all(r["tool_errors"] > 0 for r in rows)
    assert any("fork failed" in line for line in bad.containers[0].stdout.decode().splitlines())


def test_on_a_shared_kernel_the_proc_probe_sees_the_other_agents(
        small: scenarios.Scenario) -> None:
    baseline, bad, chosen = pair("linux", small, "probe")
    _rows, line = misbehave.harm("linux", "x", baseline, bad, chosen)
    # The other agents and the model server, through the shared kernel's task count;
    # their processes themselves are behind each container's PID namespace.
    assert line["others_seen"] >= AGENTS
    seen = misbehave.reports(bad.containers[1 + chosen[0]].stdout)
    assert seen["pids_seen"] == 0 and line["agents_seen"] == 0


def test_in_one_container_the_probe_lists_the_other_agents_and_snoop_reads_them(
        small: scenarios.Scenario) -> None:
    """``processes``: every agent a process of one container, so the probe lists the
    others' processes (their cmdlines name them) and snoop reads their workspaces."""
    from cofferos.sim.agents.hosting import split_outputs

    baseline, bad, chosen = pair("processes", small, "probe,snoop")
    rows, line = misbehave.harm("processes", "x", baseline, bad, chosen, AGENTS)
    assert len(rows) == AGENTS - 1
    assert line["agents_seen"] == AGENTS - 1  # every other agent, by its own cmdline
    status, out = split_outputs(bad.containers[1].stdout, AGENTS)[chosen[0]]
    seen = misbehave.reports(out)
    others = {i for i in range(AGENTS) if i != chosen[0]}
    named = {pid: text for pid, text in seen["cmdlines"].items()
             if misbehave.agent_of_cmdline(text.split()) in others}
    assert len(named) == AGENTS - 1 and status == 0
    assert all(text.startswith("/bin/agent 10.0.0.1 7100 ") for text in named.values())
    assert line["files_read"] > 0 and line["harmed"] == AGENTS - 1
    assert all(r["files_read"] and r["files_changed"] for r in rows)


#: Revoke exec after a storm of 8 execs in 50 ms (a fork bomb's children exec at once).
REVOKE_EXEC = """\
[base]
connect = "10.0.0.1:7100"
write = "{workspace}:/tmp"
[[rule]]
name = "storm"
event = "exec"
count = 8
window_ms = 50
action = "revoke"
capability = "exec"
"""
RESTORE_EXEC = """\
[[rule]]
name = "forgive"
action = "restore"
after = "storm"
after_ms = 1
"""


def policed(kernel: str, small: scenarios.Scenario, rules: Path) -> Orchestrator:
    """Agent 0 sets off a fork bomb under the policy in ``rules``; the orchestrator."""
    orchestrators: list[Orchestrator] = []

    def prepare(machine: Any) -> None:
        orchestrators.append(Orchestrator(load(str(rules)), workspace))
        orchestrators[-1].prepare(machine)

    turns = misbehave.inject(scenarios.trace(small, 2, 0), [0], ("forkbomb",),
                             small.files_count)
    run_hosting(kernel, 2, 2, 0, small, SERVER, turns=turns, prepare=prepare,
                agent_config=lambda i, c: misbehave.agent_limits(c),
                machine=misbehave.machine())
    return orchestrators[0]


def execs(orchestrator: Orchestrator, agent: int) -> tuple[list[int], list[int]]:
    """The times of agent ``agent``'s permitted execs and of its execs denied EACCES."""
    assert orchestrator.machine is not None
    audit = Orchestrator.agent_of(orchestrator.machine.coffers[1 + agent]).audit
    allowed = [e["time_ns"] for e in audit if e["event"] == "exec"]
    denied = [e["time_ns"] for e in audit if e["event"] == "deny"
              and e.get("errno") == "EACCES" and e["syscall"] == "execve"]
    return allowed, denied


def test_a_revoked_capability_takes_effect_at_the_recorded_time_and_not_before(
        small: scenarios.Scenario, tmp_path: Path) -> None:
    rules = tmp_path / "revoke.toml"
    rules.write_text(REVOKE_EXEC)
    orchestrator = policed("cofferos", small, rules)
    [firing] = orchestrator.firings
    assert firing.agent == "agent0" and firing.cost_ns > 0
    assert firing.effect_ns == firing.fired_ns + firing.cost_ns
    allowed, denied = execs(orchestrator, 0)
    assert allowed and denied
    assert max(allowed) < firing.effect_ns <= min(denied)
    # The other agent kept its exec: its own stack was never changed.
    assert execs(orchestrator, 1)[0] and not execs(orchestrator, 1)[1]


@pytest.mark.parametrize(("kernel", "relaxed"), [("cofferos", True), ("linux", False)])
def test_a_restore_relaxes_live_on_cofferos_and_is_refused_under_seccomp(
        small: scenarios.Scenario, tmp_path: Path, kernel: str, relaxed: bool) -> None:
    rules = tmp_path / "restore.toml"
    rules.write_text(REVOKE_EXEC + RESTORE_EXEC)
    orchestrator = policed(kernel, small, rules)
    revoke, restore = orchestrator.firings
    assert restore.first_event_ns == revoke.effect_ns
    assert restore.fired_ns >= revoke.effect_ns + 1_000_000  # after_ms
    assert restore.applied is relaxed
    allowed, denied = execs(orchestrator, 0)
    assert denied and revoke.effect_ns <= min(denied)
    if relaxed:  # its later shell tools exec again, from the restore's effect on
        later = [t for t in allowed if t >= revoke.effect_ns]
        assert later and min(later) >= restore.effect_ns
        assert max(denied) < restore.effect_ns
    else:  # a seccomp filter stays: no exec after the revoke, ever
        assert max(allowed) < revoke.effect_ns


def test_a_misbehaving_run_under_a_policy_replays_bit_for_bit(
        small: scenarios.Scenario) -> None:
    chosen = replace(small, turns=(2, 2))

    def once() -> tuple[Any, list[Any]]:
        orchestrators: list[Orchestrator] = []

        def prepare(machine: Any) -> None:
            orchestrators.append(Orchestrator(load("contain"), workspace))
            orchestrators[-1].prepare(machine)

        return pair("cofferos", chosen, "spin,exfil", prepare=prepare), orchestrators

    (_b1, one, picked), policed_one = once()
    (_b2, two, again), policed_two = once()
    assert picked == again
    for first, second in zip(one.containers, two.containers, strict=True):
        assert first.stdout == second.stdout
    assert one.machine.elapsed_ns == two.machine.elapsed_ns
    assert policed_one[-1].firings  # the exfiltration was seen ...
    assert policed_one[-1].firings == policed_two[-1].firings  # ... at the same instants


def test_filling_a_shared_disk_fails_the_other_agents_writes(
        small: scenarios.Scenario) -> None:
    chosen = replace(small, tools={"patch": 1.0})  # a patch needs new blocks
    _b, bad, picked = pair("linux", chosen, "fillfs")
    filled = misbehave.reports(bad.containers[1 + picked[0]].stdout)["done"][0]
    assert filled["errno"] == 28  # ENOSPC: the shared host disk is full
    others = [parse_agent(c.stdout) for c in bad.containers[1:]
              if c.name != f"agent{picked[0]}"]
    assert all(o["tool_errors"] for o in others)


def test_misbehave_spec_and_the_choice_of_agents() -> None:
    spec = misbehave.parse("probe,exfil:2")
    assert spec.kinds == ("probe", "exfil") and spec.agents == 2
    assert misbehave.choose(spec, 5, 3) == misbehave.choose(spec, 5, 3)
    assert len(misbehave.choose(spec, 5, 3)) == 2


#: Misbehaviours safe to run on the host, at small sizes (snoop, probe and killer would
#: read, or signal, the host's own files and processes; exfil would wait on the network).
HOST_SAFE = ("forkbomb 4 1000", "memhog 4", "fillfs 1", "spin 1")


def test_misbehaviours_match_a_native_run(small: scenarios.Scenario, tmp_path: Path) -> None:
    from tests.test_agents import native_server_output

    first = scenarios.trace(small, 1, 0)[0]
    turns = [first, *(replace(first, call=call) for call in HOST_SAFE),
             replace(first, call="final")]
    report = run_hosting("cofferos", 1, 1, 0, small, SERVER, turns=turns)
    assert all(c.exit_code == 0 for c in report.containers)

    def said(stdout: bytes) -> list[str]:
        return [line for line in stdout.decode().splitlines() if " > " in line]

    simulated = said(report.containers[0].stdout)
    assert "agent 0 turn 1 > forked=4 failed=0 asked=4" in simulated
    assert "agent 0 turn 3 > written_kib=1024 asked_mib=1 errno=0" in simulated
    assert simulated == said(native_server_output(tmp_path, turns))


@pytest.mark.parametrize(("text", "message"), [
    ('[[rule]]\nevent = "deny"\naction = "jail"\n', "action must be one of"),
    ('[[rule]]\nevent = "deny"\naction = "revoke"\n', "revoke needs capability"),
    ('[[rule]]\naction = "restore"\nafter = "nothing"\n', "restore needs after"),
    ('[[rule]]\nevent = "exec"\naction = "set"\noptions = { rate = "fork=1/s" }\n',
     "rate expects class=n/s"),
    ('[base]\nwrites = "/tmp"\n', "[base] takes agent personality options"),
])
def test_a_bad_policy_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    from cofferos.errors import ConfigError

    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load(str(path))


def test_the_shipped_policy_loads() -> None:
    policy = load("contain")
    assert {rule.action for rule in policy.rules} == {"revoke", "set", "rollback", "kill",
                                                      "restore"}


def test_the_defaults_are_16_agents_2_misbehaving_under_all_five_hosting_models() -> None:
    """What ``coffersim experiment agents`` runs with no options, parsed as the CLI does
    (not run: the run is measured in docs/agents.md)."""
    from cofferos.cli import build_parser
    from cofferos.cli_experiment import _params
    from cofferos.sim.agents import experiment
    from cofferos.sim.agents.hosting import ALL_HOSTING

    def resolved(*argv: str) -> Any:
        params = _params(build_parser().parse_args(["experiment", "agents", *argv]))
        return params.resolved(experiment.DEFAULTS)

    params = resolved()
    assert (params.containers, params.cores) == (16, 2)
    assert experiment.hostings_of(params) == ALL_HOSTING
    spec = misbehave.parse(experiment.misbehave_of(params))
    assert spec.kinds == ("forkbomb", "snoop", "probe") and spec.agents == 2
    assert len(misbehave.choose(spec, params.containers, params.seed)) == 2
    # Fewer agents: at most all but one misbehave; asked, none does.
    assert experiment.misbehave_of(resolved("--agents", "2")).endswith(":1")
    assert experiment.misbehave_of(resolved("--misbehave", "none")) == experiment.NO_MISBEHAVE


def test_a_policy_leaves_out_processes_whose_agents_share_one_container() -> None:
    """The policy's personality and audit trail are a container's: under ``processes``
    it would hold every agent to agent 0's workspace, so that model is left out."""
    from cofferos.errors import ConfigError
    from cofferos.sim.agents.experiment import run
    from cofferos.sim.isolation.common import ExperimentParams

    params = ExperimentParams(kernels=("linux",), containers=2, cores=1,
                              options={"hosting": "processes", "policy": "contain",
                                       "misbehave": "exfil"})
    with pytest.raises(ConfigError, match="processes left out: a policy acts per container"):
        run(params)
