"""The agents experiment's mechanisms: tools really run, runs replay, workspaces stay apart."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from cofferos.cli import main
from cofferos.errors import ConfigError
from cofferos.sim.agents import scenario as scenarios
from cofferos.sim.agents.density import search, slowdown, uncontended_s
from cofferos.sim.agents.experiment import BUSYBOX, run, run_hosting
from cofferos.sim.agents.hosting import ALL_HOSTING
from cofferos.sim.agents.measures import parse_agent, rows_of
from cofferos.sim.agents.model import ModelServer
from cofferos.sim.isolation.common import ExperimentParams
from cofferos.sim.kernels import CONTAINER_START_NS, OVERRIDABLE
from cofferos.timing import kernel_costs
from cofferos.workloads.build import build

pytestmark = pytest.mark.skipif(not BUSYBOX.is_file(), reason="busybox-static not installed")

#: A short task: write the workspace, then the given shell commands, then answer.
SCENARIO = """\
name = "probe"
tasks = 1
turns = [{n}, {n}]
think_us = [0, 0]
[tokens]
prompt = [10, 10]
growth = 0
output_mean = 2
output_sd = 0
output_min = 1
[files]
dir = "src"
suffix = ".c"
count = 2
bytes = 200
[tools]
shell = 1
[commands]
shell = [{commands}]
"""
NATIVE_PORT = 7211
NATIVE_TIMEOUT_S = 30
#: Simulated time a request and its reply may spend beyond the model's (the virtual
#: network, the server's polling, the agent's own work between turns).
NETWORK_SLACK_NS = 1_000_000
#: What a task's model time may differ by beyond the link's round trips: its messages'
#: bytes on the wire (a few hundred bytes at 10 Gb/s: under a microsecond each).
LINK_SLACK_NS = 10_000


def probe(tmp_path: Path, *commands: str) -> scenarios.Scenario:
    """A scenario whose tool calls are exactly ``commands``, in order (one of each per
    turn: the choice among one command is no choice)."""
    path = tmp_path / "probe.toml"
    quoted = ", ".join(f'"{command}"' for command in commands[:1])
    path.write_text(SCENARIO.format(n=1, commands=quoted))
    return scenarios.load(str(path))


def results(stdout: bytes, agent: int) -> list[str]:
    """The model server's lines of what ``agent``'s tools sent it."""
    prefix = f"agent {agent} turn "
    return [line for line in stdout.decode().splitlines() if line.startswith(prefix)]


def test_tools_run_in_the_agents_coffer_and_match_a_native_run(tmp_path: Path) -> None:
    chosen = probe(tmp_path, "echo marker-$((6*7)); ls src; head -1 src/f1.c")
    report = run_hosting("cofferos", 1, 1, 0, chosen, ModelServer(decode_ns=1000))
    server, agent = report.containers
    assert server.exit_code == 0 and agent.exit_code == 0, agent.stderr
    coffer_lines = results(server.stdout, 0)
    # The writes made the files; the shell's output (a subprocess) reached the server.
    assert "agent 0 turn 0 > wrote src/f0.c" in coffer_lines
    shell = [line.split(" > ", 1)[1] for line in coffer_lines
             if line.startswith("agent 0 turn 2 >")]
    assert shell == ["marker-42", "f0.c", "f1.c", "line 0 of src/f1.c: int v0 = 0;"]
    # Natively: the same binary, the same trace, a host directory as the workspace.
    assert coffer_lines == native_results(tmp_path, chosen)
    assert sorted(p.name for p in (tmp_path / "ws" / "src").iterdir()) == ["f0.c", "f1.c"]


def native_server_output(tmp_path: Path, turns: list[scenarios.Turn]) -> bytes:
    """What the model server prints when the same binaries run agent 0 natively on
    ``turns``: a host directory (``tmp_path/ws``) as the workspace, the host's /bin/sh."""
    trace = tmp_path / "trace.txt"
    trace.write_text(scenarios.trace_text(turns))
    native = subprocess.Popen([str(build("modelserver")), str(NATIVE_PORT), "1", str(trace),
                               "0", "1000", "0", "8"], stdout=subprocess.PIPE)
    try:
        time.sleep(0.2)  # the agent retries its connect meanwhile anyway
        subprocess.run([str(build("agent")), "127.0.0.1", str(NATIVE_PORT), "0",
                        str(tmp_path / "ws")], check=True, capture_output=True,
                       timeout=NATIVE_TIMEOUT_S)
        out, _ = native.communicate(timeout=NATIVE_TIMEOUT_S)
    finally:
        native.kill()
    return out


def native_results(tmp_path: Path, chosen: scenarios.Scenario) -> list[str]:
    """The server's lines of agent 0's tool outputs when the same binaries run natively
    on ``chosen``'s trace."""
    return results(native_server_output(tmp_path, scenarios.trace(chosen, 1, 0)), 0)


def test_a_python3_script_tool_runs_in_the_agents_coffer_as_natively(tmp_path: Path) -> None:
    """The analysis scenario's python3 tool: the host's (dynamically linked) python3 in
    the agent's own tree, its output the same as the same script's native run."""
    from cofferos.sim.agents.pytools import host_python

    if host_python() is None:
        pytest.skip("no python3 (and ldd) on this host")
    script = scenarios.load("analysis").shell[0]  # glob, re: sums the data files
    path = tmp_path / "py.toml"
    path.write_text("python3 = true\n" + SCENARIO.format(n=1, commands=f"'''{script}'''")
                    .replace('dir = "src"', 'dir = "data"').replace('".c"', '".csv"'))
    chosen = scenarios.load(str(path))
    assert chosen.python3 and script.startswith("python3 ")
    report = run_hosting("cofferos", 1, 1, 0, chosen, ModelServer(decode_ns=1000))
    assert all(c.exit_code == 0 for c in report.containers)
    coffer_lines = results(report.containers[0].stdout, 0)
    assert "agent 0 turn 2 > 10 140 28" in coffer_lines  # 2 files of 0, 7, ... 28
    assert coffer_lines == native_results(tmp_path, chosen)


BROWSING = """\
name = "probe-web"
tasks = 1
turns = [3, 3]
think_us = [0, 0]
[tokens]
prompt = [10, 10]
growth = 0
output_mean = 2
output_sd = 0
output_min = 1
[files]
dir = "notes"
count = 1
bytes = 10
[tools]
fetch = 1
shell = 1
[commands]
shell = ["wget -q -O - http://$WEB/index.html | grep -c href; \
grep -o 'price [0-9]*' pages/*.html | sort | tail -2"]
[web]
pages = 3
page_bytes = 400
"""
NATIVE_WEB_PORT = 7212


def test_browsing_fetches_from_the_web_coffer_as_a_native_run_does(tmp_path: Path) -> None:
    path = tmp_path / "web.toml"
    path.write_text(BROWSING)
    chosen = scenarios.load(str(path))
    report = run_hosting("cofferos", 1, 1, 0, chosen, ModelServer(decode_ns=1000))
    assert [(c.name, c.exit_code) for c in report.containers] == [
        ("model", 0), ("web", 0), ("agent0", 0)]
    coffer_lines = results(report.containers[0].stdout, 0)
    assert any("fetched /p" in line for line in coffer_lines)
    assert any(line.endswith(f"> {chosen.web_pages}") for line in coffer_lines)  # wget's
    # Natively: the same three programs on the loopback, the same trace.
    trace = tmp_path / "trace.txt"
    trace.write_text(scenarios.trace_text(scenarios.trace(chosen, 1, 0)))
    servers = [subprocess.Popen([str(build("modelserver")), str(NATIVE_PORT), "1", str(trace),
                                 "0", "1000", "0", "8"], stdout=subprocess.PIPE),
               subprocess.Popen([str(build("webserver")), str(NATIVE_WEB_PORT), "1",
                                 str(chosen.web_pages), str(chosen.page_bytes)],
                                stdout=subprocess.PIPE)]
    try:
        time.sleep(0.2)
        subprocess.run([str(build("agent")), "127.0.0.1", str(NATIVE_PORT), "0",
                        str(tmp_path / "ws"), f"127.0.0.1:{NATIVE_WEB_PORT}"], check=True,
                       capture_output=True, timeout=NATIVE_TIMEOUT_S,
                       env={"PATH": str(Path(BUSYBOX).parent)})
        out, _ = servers[0].communicate(timeout=NATIVE_TIMEOUT_S)
        web_out, _ = servers[1].communicate(timeout=NATIVE_TIMEOUT_S)
    finally:
        for server in servers:
            server.kill()
    assert coffer_lines == results(out, 0)
    assert report.containers[1].stdout == web_out  # the same pages served, then it ended


def test_one_agents_workspace_is_invisible_to_another_on_cofferos(tmp_path: Path) -> None:
    chosen = probe(tmp_path, "ls /work; cat /work/a0/src/f0.c | head -1")
    report = run_hosting("cofferos", 2, 1, 0, chosen, ModelServer(decode_ns=1000))
    assert all(c.exit_code == 0 for c in report.containers)
    shell_turn = len(chosen.files)  # after the writes that set the workspace up

    def shell_output(agent: int) -> list[str]:
        prefix = f"agent {agent} turn {shell_turn} > "
        return [line[len(prefix):] for line in results(report.containers[0].stdout, agent)
                if line.startswith(prefix)]

    assert shell_output(0) == ["a0", "line 0 of src/f0.c: int v0 = 0;"]  # its own files
    theirs = shell_output(1)
    assert theirs[0] == "a1"  # no a0 in agent 1's /work ...
    assert not any("line 0" in line for line in theirs)  # ... nor its file's contents
    assert any("can't open" in line or "No such file" in line for line in theirs[1:])


def test_processes_hosting_puts_every_agent_in_one_container_that_they_share(
        tmp_path: Path) -> None:
    chosen = probe(tmp_path, "ls /work; cat /work/a0/src/f0.c | head -1")
    report = run_hosting("processes", 2, 1, 0, chosen, ModelServer(decode_ns=1000))
    assert [c.name for c in report.containers] == ["model", "agents"]  # one for all agents
    assert all(c.exit_code == 0 for c in report.containers)
    prefix = f"agent 1 turn {len(chosen.files)} > "
    theirs = [line[len(prefix):] for line in results(report.containers[0].stdout, 1)
              if line.startswith(prefix)]
    # Unlike in a coffer each (the test above), agent 1 sees agent 0's workspace and file.
    assert theirs[:2] == ["a0", "a1"] and "line 0 of src/f0.c: int v0 = 0;" in theirs
    rows = rows_of("processes", 2, report)
    assert [(r["agent"], r["exit_code"], r["task"]) for r in rows] == [
        ("agent0", 0, 0), ("agent1", 0, 0)]
    # The one container's start is shared: each agent bears half of docker start.
    assert rows[0]["startup_ms"] < CONTAINER_START_NS / 2 / 1e6 + 10


def test_the_model_server_sleeps_the_modelled_time_and_queues_past_its_batch(
        tmp_path: Path) -> None:
    chosen = probe(tmp_path, "true")
    turns = scenarios.trace(chosen, 1, 0)
    server = ModelServer(prefill_ns_per_token=1_000, decode_ns=2_000_000,
                         batch_ns_per_sequence=500_000, max_batch=1)
    alone = sum(server.alone_ns(t.in_tokens, t.out_tokens) for t in turns)
    one = parse_agent(run_hosting("cofferos", 1, 1, 0, chosen, server).containers[1].stdout)
    model_ns = one["tasks"][0]["model_ns"]
    assert alone <= model_ns < alone + len(turns) * NETWORK_SLACK_NS
    # Two agents, one batch slot: the second waits for the first, turn after turn.
    two = run_hosting("cofferos", 2, 1, 0, chosen, server)
    waits = sorted(parse_agent(c.stdout)["tasks"][0]["model_ns"] for c in two.containers[1:])
    assert waits[1] >= alone + len(turns) * server.decode_ns
    # Two slots: they share steps, each step longer by batch_ns_per_sequence.
    shared = run_hosting("cofferos", 2, 1, 0, chosen, replace(server, max_batch=2))
    both = [parse_agent(c.stdout)["tasks"][0]["model_ns"] for c in shared.containers[1:]]
    assert all(model_ns < wait < waits[1] for wait in both)


def test_the_same_seed_gives_the_same_table_and_another_seed_another() -> None:
    def table(seed: int) -> tuple[list, list]:
        params = ExperimentParams(kernels=("cofferos",), containers=2, cores=1, seed=seed,
                                  options={"scenario": "coding", "tasks": "1",
                                           "misbehave": "none"})
        result = run(params)
        return result.summary, result.rows

    first = table(3)
    assert first == table(3)
    assert first[0][0]["tasks"] == 2 and first[0][0]["failed_agents"] == 0
    assert first != table(4)


def test_traces_are_deterministic_per_seed() -> None:
    chosen = scenarios.load("data")
    text = scenarios.trace_text(scenarios.trace(chosen, 3, 7))
    assert text == scenarios.trace_text(scenarios.trace(chosen, 3, 7))
    assert text != scenarios.trace_text(scenarios.trace(chosen, 3, 8))
    assert {line.split()[0] for line in text.splitlines()} == {"0", "1", "2"}


@pytest.mark.parametrize("argv, message", [
    (["experiment", "fault", "--scenario", "data"], "only the agents experiment"),
    (["experiment", "agents", "--scenario", "nope"], "no such scenario"),
    (["experiment", "agents", "--agents", "2", "--containers", "2"], "choose one"),
])
def test_agents_options_are_one_line_usage_errors(argv: list[str], message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("coffersim: error: ") and message in err[0]


def test_density_search_doubles_then_bisects_to_the_last_count_below_twice_one() -> None:
    def slowdown(n: int) -> float | None:  # 1.0 alone, 2.0 (doubled) from 11 agents on
        return 1.0 + (n - 1) / 10 if n < 11 else 2.0

    found, tried = search(slowdown, 64)
    assert found == 10 and tried[16] == 2.0 and 32 not in tried  # stops at the first over
    assert search(slowdown, 6)[0] == 6  # the limit bounds it: nothing over was found
    assert search(lambda n: None if n > 3 else 1.0, 64)[0] == 3  # a failed run is over
    assert search(lambda n: None, 64) == (0, {1: None})


def test_density_compares_a_run_with_its_own_trace_uncontended() -> None:
    chosen = replace(scenarios.load("coding"), tasks=1)
    server = ModelServer()
    alone = uncontended_s(chosen, 3, 0, server)
    assert len(alone) == 3  # one task each
    turns = [t for t in scenarios.trace(chosen, 3, 0) if t.agent == 0]
    assert alone[0] == sum(server.alone_ns(t.in_tokens, t.out_tokens) + t.think_us * 1000
                           for t in turns) / 1e9
    rows = [{"exit_code": 0, "task": 0, "latency_s": 2 * s} for s in alone]
    assert slowdown(rows, alone) == 2.0
    assert slowdown([*rows, {"exit_code": 1, "task": None, "latency_s": None}], alone) is None


def test_a_sweep_point_runs_the_agents_experiment_under_its_hosting_model() -> None:
    from cofferos.sim.sweeps.point import run_point
    from cofferos.sim.sweeps.spec import load, parse_text

    spec = parse_text('[base]\nworkload = "@agent"\nexperiment = "agents"\ncontainers = 2\n'
                      'cores = 1\n[vary]\nhosting = ["processes", "cofferos"]\n')
    configs = [point["config"] for point in spec.points]
    assert [c["hosting"] for c in configs] == ["processes", "cofferos"]
    rows = run_point(configs[0])["rows"]
    metrics = {row["metric"]: row["value"] for row in rows}
    assert metrics["agents"] == 2 and metrics["tasks"] == 4 and metrics["failed_agents"] == 0
    shipped = load(scenarios.SCENARIO_DIR.parent / "specs" / "agents.toml")
    assert {p["config"]["hosting"] for p in shipped.points} == {
        "processes", "linux", "cofferos", "vm", "sandbox"}
    with pytest.raises(ConfigError, match="unknown hosting model 'lxc'"):
        parse_text('[base]\nworkload = "@agent"\nexperiment = "agents"\nhosting = "lxc"\n')
    with pytest.raises(ConfigError, match="unknown experiment 'fault'"):
        parse_text('[base]\nworkload = "@agent"\nexperiment = "fault"\n')


def test_without_misbehaving_agents_hosting_models_differ_only_by_modelled_costs() -> None:
    """The same trace under every hosting model: the same tool outputs; with the
    architectures' mechanism costs set to 0, the same times on the per-container kernels
    (cofferos, vm, sandbox) bit for bit, and on the shared one (linux, processes) within
    what its shared kernel objects cost."""
    chosen = replace(scenarios.load("coding"), tasks=1)
    zero = kernel_costs([f"arch.{name}=0" for name in OVERRIDABLE])
    outputs, times = {}, {}
    for name in ALL_HOSTING:
        report = run_hosting(name, 2, 1, 0, chosen, costs=zero)
        outputs[name] = report.containers[0].stdout  # every tool output, turn by turn
        times[name] = [(r["latency_s"], r["tool_ms"], r["kernel_ms"])
                       for r in rows_of(name, 2, report)]
    assert len(set(outputs.values())) == 1
    assert times["cofferos"] == times["vm"] == times["sandbox"]
    for name in ("linux", "processes"):
        for theirs, ours in zip(times[name], times["cofferos"], strict=True):
            assert theirs[0] == pytest.approx(ours[0], rel=1e-6)
            assert theirs[1:] == pytest.approx(ours[1:], rel=0.01)
    # With their costs, the tools run slower where a mechanism adds work to their calls.
    costed = {name: rows_of(name, 2, run_hosting(name, 2, 1, 0, chosen))
              for name in ("cofferos", "vm")}
    assert all(vm["tool_ms"] > own["tool_ms"]
               for vm, own in zip(costed["vm"], costed["cofferos"], strict=True))


def test_data_agents_load_and_query_sqlite_as_a_native_run_does(tmp_path: Path) -> None:
    data = scenarios.load("data")
    queries = [command for command in data.shell if "sqlquery" in command]
    assert len(queries) == 3  # load, query, report
    chosen = replace(data, tasks=1, turns=(1, 1), think_us=(0, 0), tools={"shell": 1.0},
                     shell=(f"{queries[0]}; {queries[1]}",))  # load, then query
    report = run_hosting("cofferos", 1, 1, 0, chosen, ModelServer(decode_ns=1000))
    assert all(c.exit_code == 0 for c in report.containers)
    coffer_lines = results(report.containers[0].stdout, 0)
    trace = tmp_path / "trace.txt"
    trace.write_text(scenarios.trace_text(scenarios.trace(chosen, 1, 0)))
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "sqlquery").symlink_to(build("sqlquery"))
    native = subprocess.Popen([str(build("modelserver")), str(NATIVE_PORT), "1", str(trace),
                               "0", "1000", "0", "8"], stdout=subprocess.PIPE)
    try:
        time.sleep(0.2)
        subprocess.run([str(build("agent")), "127.0.0.1", str(NATIVE_PORT), "0",
                        str(tmp_path / "ws")], check=True, capture_output=True,
                       timeout=NATIVE_TIMEOUT_S, env={"PATH": f"{tools}:/usr/bin:/bin"})
        out, _ = native.communicate(timeout=NATIVE_TIMEOUT_S)
    finally:
        native.kill()
    assert coffer_lines == results(out, 0)
    shell_turn = f"agent 0 turn {len(chosen.files)} > "
    assert [line[len(shell_turn):] for line in coffer_lines if line.startswith(shell_turn)] \
        == ["78|20482", "0|9|490", "1|8|511", "2|8|532"]  # 78 rows loaded; a GROUP BY


def test_remote_services_run_on_another_machine_and_cost_the_agents_only_the_link(
        tmp_path: Path) -> None:
    from cofferos.sim.agents.remote import REMOTE_CORES, LinkModel

    chosen = probe(tmp_path, "echo x; ls src")
    server = ModelServer(decode_ns=1000)
    here = run_hosting("linux", 1, 1, 0, chosen, server)
    free, wired = (run_hosting("linux", 1, 1, 0, chosen, server, remote=True, link=link)
                   for link in (LinkModel(latency_ns=0, bytes_per_s=10**18), LinkModel()))
    # The machine under study holds the agent alone: the model server's work is on the
    # other machine's books, which the same run fills.
    assert set(here.machine.times) == {"model", "agent0"}
    for report in (free, wired):
        assert set(report.machine.times) == {"agent0"} and report.cores == 1
        assert report.remote is not None and report.remote.cores == REMOTE_CORES
        assert report.remote.times["model"].busy > 0
        assert all(c.exit_code == 0 for c in report.containers)
        assert results(report.containers[0].stdout, 0) == results(here.containers[0].stdout, 0)
    # With the server alone on its machine, only the link differs: the agent's own work
    # is the same, and each of its replies comes one round trip of the link later.
    assert wired.machine.times["agent0"].busy == free.machine.times["agent0"].busy
    (before,), (after,) = (parse_agent(r.containers[1].stdout)["tasks"] for r in (free, wired))
    assert after["tool_ns"] == before["tool_ns"]
    replies = len(scenarios.trace(chosen, 1, 0))
    round_trip = 2 * LinkModel().latency_ns
    assert after["model_ns"] - before["model_ns"] == pytest.approx(replies * round_trip,
                                                                   abs=LINK_SLACK_NS)
    assert wired.link is not None and wired.link["delay_ns"] >= replies * round_trip


def test_a_python3_scenario_without_python3_is_one_clear_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cofferos.sim.agents import experiment, pytools

    monkeypatch.setattr(pytools, "host_python", lambda: None)
    params = ExperimentParams(kernels=("cofferos",), containers=2, cores=1,
                              options={"scenario": "analysis"})
    with pytest.raises(ConfigError, match="this host has no /usr/bin/python3"):
        experiment.check(params)
    experiment.check(replace(params, options={"scenario": "data"}))  # others need none
