"""The fault experiment: blast radius and recovery follow from where kernel state lives."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cofferos.api import resolve_program
from cofferos.cli import main
from cofferos.coffers.coffer import CofferConfig
from cofferos.errors import ConfigError
from cofferos.sim import kernels
from cofferos.sim.experiment import ContainerSpec, run_mix
from cofferos.sim.isolation import fault
from cofferos.sim.isolation.common import ExperimentParams
from cofferos.sim.isolation.faults import FaultInjector, FaultSpec
from cofferos.sim.machine import MachineConfig

WINDOW_NS = 1_000_000
FAULT_AT_NS = 200_000


@pytest.fixture(scope="module")
def outcomes() -> dict[tuple[str, str, str], dict]:
    result = fault.run(ExperimentParams(kernels=("linux", "cofferos"), containers=3))
    return {(row["kernel"], row["fault"], row["container"]): row for row in result.rows}


def _outcome(outcomes: dict, kernel: str, kind: str, container: str) -> str:
    return outcomes[(kernel, kind, container)]["outcome"]


def test_a_panic_takes_every_container_of_a_shared_kernel_and_one_coffer(outcomes):
    assert [_outcome(outcomes, "linux", "panic", c) for c in ("c0", "c1", "c2")] == ["died"] * 3
    assert [_outcome(outcomes, "cofferos", "panic", c) for c in ("c0", "c1", "c2")] == \
        ["died", "ok", "ok"]


def test_an_oops_leaves_shared_locks_held_and_the_others_hang(outcomes):
    assert _outcome(outcomes, "linux", "oops", "c0") == "died"
    assert {_outcome(outcomes, "linux", "oops", c) for c in ("c1", "c2")} == {"hung"}
    assert {_outcome(outcomes, "cofferos", "oops", c) for c in ("c1", "c2")} == {"ok"}


def test_corruption_crashes_whoever_touches_the_object_next(outcomes):
    assert {_outcome(outcomes, "linux", "corrupt", c) for c in ("c1", "c2")} == {"died"}
    assert {_outcome(outcomes, "cofferos", "corrupt", c) for c in ("c1", "c2")} == {"ok"}


def test_a_lockup_hangs_the_shared_kernel_and_only_its_own_coffer(outcomes):
    assert _outcome(outcomes, "cofferos", "lockup", "c0") == "hung"
    assert {_outcome(outcomes, "linux", "lockup", c) for c in ("c0", "c1", "c2")} == {"hung"}
    assert {_outcome(outcomes, "cofferos", "lockup", c) for c in ("c1", "c2")} == {"ok"}


def test_a_kernel_leak_needs_the_shared_kernel_restarted(outcomes):
    linux = outcomes[("linux", "leak", "c1")]
    assert linux["domain_broken"] and linux["recovery_s"] >= kernels.HOST_REBOOT_NS / 1e9
    coffer = outcomes[("cofferos", "leak", "c1")]
    assert not coffer["domain_broken"] and coffer["recovery_s"] == 0
    assert _outcome(outcomes, "cofferos", "leak", "c0") == "died"  # its own OOM killer


def test_work_lost_is_measured_against_the_clean_run(outcomes):
    died = outcomes[("cofferos", "panic", "c0")]
    assert 0 < died["ops"] < died["ops_baseline"]
    assert died["lost_ops"] == died["ops_baseline"] - died["ops"]


def _mix(kernel: str, programs: list[tuple[str, tuple[str, ...]]], spec: FaultSpec):
    held = {}

    def prepare(machine):
        held["injector"] = FaultInjector(spec, machine)

    machine = MachineConfig(until_ns=WINDOW_NS, slice_instructions=fault.SLICE_INSTRUCTIONS)
    report = run_mix([ContainerSpec(resolve_program(p), a) for p, a in programs],
                     kernel=kernel, cores=4, machine=machine, prepare=prepare)
    return report, held["injector"]


METADATA = ("@metadata", ("/tmp/shared", "100000"))
COMPUTE = ("@compute", ("50000000",))


def test_the_blast_radius_follows_the_domain_not_the_architecture_name(monkeypatch):
    # cofferos's costs, but one kernel for both containers: a panic now takes both.
    shared = replace(kernels.architecture("cofferos"), name="shared-coffers",
                     shared_kernel=True)
    monkeypatch.setitem(kernels.ARCHITECTURES, "shared-coffers", shared)
    _report, injector = _mix("shared-coffers", [METADATA, METADATA],
                             FaultSpec("panic", at_ns=FAULT_AT_NS))
    assert set(injector.log.killed) == {"c0", "c1"}


def test_an_oops_hangs_only_those_who_take_the_held_locks():
    report, injector = _mix("linux", [METADATA, COMPUTE], FaultSpec("oops", at_ns=FAULT_AT_NS))
    assert set(injector.log.killed) == {"c0"}
    # the compute container takes no lock: it kept its core busy to the end of the window
    assert report.machine.times["c1"].user >= 0.9 * WINDOW_NS


def _leak_next_to_a_big_neighbour(kernel: str):
    """c0 leaks kernel memory on openat; c1 holds 24 MiB (mapped: the bigger task)."""
    held = {}

    def prepare(machine):
        held["injector"] = FaultInjector(FaultSpec("leak", at_ns=FAULT_AT_NS,
                                                   leak_bytes=4 << 20), machine)

    machine = MachineConfig(until_ns=WINDOW_NS, slice_instructions=fault.SLICE_INSTRUCTIONS,
                            memory_bytes=64 << 20)
    base = CofferConfig(memory_limit=32 << 20)
    report = run_mix([ContainerSpec(resolve_program("@metadata"), METADATA[1]),
                      ContainerSpec(resolve_program("@hog"), ("memory", "24", "5000"))],
                     kernel=kernel, cores=4, base=base, machine=machine, prepare=prepare)
    held["injector"].report = report
    return held["injector"]


def test_a_leak_on_a_shared_kernel_makes_its_oom_killer_take_a_bystander():
    """The leaked memory is the shared kernel's: its OOM killer picks the biggest task
    of every container, the neighbour; in a coffer the leak is charged to the leaker."""
    linux = _leak_next_to_a_big_neighbour("linux")
    assert linux.log.oom_kills >= 1 and "c1" in linux.log.killed
    # the report says why the bystander ended: the kernel's OOM killer, not a plain SIGKILL
    assert linux.report.containers[1].end_reason == "oom-kill"
    coffers = _leak_next_to_a_big_neighbour("cofferos")
    assert coffers.log.oom_kills >= 1 and set(coffers.log.killed) == {"c0"}


def test_a_leak_of_nothing_breaks_nothing():
    result = fault.run(ExperimentParams(kernels=("linux",), containers=2,
                                        options={"kinds": "leak", "leak_mb": "0"}))
    assert all(row["outcome"] == "ok" and not row["domain_broken"] for row in result.rows)
    assert result.summary[0]["bystanders_hit"] == 0


@pytest.mark.parametrize("kernel", ["vm", "sandbox"])
def test_a_panic_in_a_guest_kernel_or_sentry_takes_only_its_container(kernel):
    result = fault.run(ExperimentParams(kernels=(kernel,), containers=2,
                                        options={"kinds": "panic,oops"}))
    outcome = {(row["fault"], row["container"]): row["outcome"] for row in result.rows}
    assert outcome[("panic", "c0")] == "died" and outcome[("panic", "c1")] == "ok"
    assert outcome[("oops", "c1")] == "ok"
    assert all(line["bystanders_hit"] == 0 for line in result.summary)


def test_a_fault_on_a_path_nobody_calls_never_fires():
    _report, injector = _mix("linux", [METADATA, METADATA],
                             FaultSpec("panic", path="getppid", at_ns=FAULT_AT_NS))
    assert injector.log.fired_ns is None and not injector.log.killed


def test_cli_writes_table_manifest_and_figure(tmp_path, capsys):
    out = tmp_path / "fault"
    status = main(["experiment", "fault", "--kernels", "linux,cofferos", "--containers", "2",
                   "--set", "kinds=panic", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr()
    assert "panic" in printed.out
    assert "kernel 2/2: cofferos" in printed.err  # progress on the long work
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["configuration"]["experiment"] == "fault"
    assert manifest["configuration"]["kinds"] == ["panic"]
    assert manifest["kind"] == "experiment:fault"
    assert (out / "results.csv").read_text().startswith("kernel,")
    rows = [json.loads(p.read_text())["row"] for p in sorted((out / "points").glob("*.json"))]
    assert rows and {row["fault"] for row in rows} == {"panic"}
    assert (out / "fault.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["experiment", "fault", "--set", "kinds=meltdown"], "unknown fault"),
    (["experiment", "fault", "--set", "path=nosuchcall"], "no system call named"),
    (["experiment", "fault", "--containers", "1"], "--containers must be at least 2"),
    (["experiment", "fault", "--personality", "nosuch"], "nosuch"),
    (["experiment", "fault", "--set", "kind=panic"], "--set kind: unknown setting"),
    (["experiment", "surface", "--set", "x=1"], "takes no settings"),
    (["experiment", "all", "--set", "x=1"], "--set x: unknown setting"),
    (["experiment", "fault", "--out", "/proc/nosuch/dir"], "--out /proc/nosuch/dir"),
    (["experiment", "fault", "--set", "memory_mb=-5"], "memory_mb='-5': must be at least 1"),
    (["experiment", "exhaustion", "--set", "disk_mb=0"], "must be at least 1"),
    (["experiment", "exhaustion", "--set", "limits=careless"], "unknown careless"),
    (["experiment", "fault", "--set", "repeats=0"], "repeats='0': must be at least 1"),
    (["experiment", "infoflow", "--set", "stat_loops=-3"], "must be at least 1"),
    (["experiment", "fault", "--set", "at_us=inf"], "finite"),
    (["experiment", "infoflow", "--personality", "hardened"], "compares kernels only"),
    (["experiment", "noisy-neighbor", "--personality", "hardened"], "compares kernels only"),
])
def test_cli_bad_settings_are_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_tradeoff_takes_the_settings_of_the_experiments_it_runs():
    from cofferos.sim.isolation import experiment, options_of

    names = options_of(experiment("tradeoff"))
    assert {"kinds", "storms", "attacks", "delay_us"} <= set(names)


def test_cli_all_json_is_one_document(monkeypatch, capsys, tmp_path):
    """``experiment all --json`` prints one JSON object, by experiment (not one array
    after another)."""
    from cofferos.sim import isolation
    from cofferos.sim.isolation.common import ExperimentResult

    def tiny(module, params, check_options=True):
        return ExperimentResult(name=module.__name__, rows=[{"kernel": "linux", "x": 1}],
                                configuration={}, finding="")

    monkeypatch.setattr(isolation, "run_experiment", tiny)
    assert main(["experiment", "all", "--json", "--no-figure", "--out", str(tmp_path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == set(isolation.EXPERIMENTS)


@pytest.mark.parametrize("argv, message", [
    (["experiment", "nosuch"], "invalid choice"),
    (["experiment", "fault", "--kernels", "linux,,cofferos"], "empty kernel name"),
])
def test_cli_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_trigger_and_its_time_are_chosen():
    params = ExperimentParams(kernels=("cofferos",), containers=2,
                              options={"kinds": "panic", "container": "1", "at_us": "300"})
    result = fault.run(params)
    rows = {row["container"]: row for row in result.rows}
    assert rows["c1"]["role"] == "trigger" and rows["c1"]["outcome"] == "died"
    assert rows["c0"]["role"] == "bystander" and rows["c0"]["outcome"] == "ok"
    assert 300 <= rows["c1"]["fired_us"] < 400
    assert result.configuration["trigger_container"] == 1


@pytest.mark.parametrize("options, message", [
    ({"container": "5"}, "choose 0 to 1"),
    ({"at_us": "999999"}, "the run lasts"),
])
def test_a_trigger_outside_the_run_is_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        fault.check(ExperimentParams(kernels=("cofferos",), containers=2, options=options))


@pytest.fixture(scope="module")
def summary_lines(outcomes) -> dict[tuple[str, str], dict]:
    return {(line["kernel"], line["fault"]): line for line in fault.summarise(
        [row for row in outcomes.values()])}


def test_a_bystander_without_observed_harm_is_not_counted_as_hit(outcomes, summary_lines):
    """A leak on a shared kernel: the bystanders keep working (no harm observed), so
    they are not hit; the kernel they run on must still be restarted, a column apart."""
    assert {_outcome(outcomes, "linux", "leak", c) for c in ("c1", "c2")} == {"ok"}
    assert all(outcomes[("linux", "leak", c)]["domain_broken"] for c in ("c1", "c2"))
    line = summary_lines[("linux", "leak")]
    assert line["bystanders_hit"] == 0 and line["shared_kernel_restart"] == "yes"
    # a coffer's leak breaks only its own kernel: nothing shared to restart
    assert summary_lines[("cofferos", "leak")]["shared_kernel_restart"] == "no"


def test_harmed_bystanders_are_hit_and_their_shared_kernel_restarted(summary_lines):
    for kind in ("panic", "oops", "corrupt", "lockup"):
        line = summary_lines[("linux", kind)]
        assert line["bystanders_hit"] == 2 and line["shared_kernel_restart"] == "yes"
        assert summary_lines[("cofferos", kind)]["bystanders_hit"] == 0


def test_the_restart_of_a_shared_kernel_fails_the_isolation_check(outcomes):
    from cofferos.sim.isolation.common import ExperimentResult

    rows = list(outcomes.values())
    result = ExperimentResult("fault", rows, {}, "", summary=fault.summarise(rows))
    checks = dict(fault.isolation_checks(result)[("linux", "none")])
    assert checks["fault.leak"] is False
    assert all(dict(fault.isolation_checks(result)[("cofferos", "none")]).values())


class _Report:
    def __init__(self, exit_code: int = 137, cut_off: bool = True, end_reason: str = "signal"):
        self.exit_code, self.cut_off, self.end_reason = exit_code, cut_off, end_reason


class _Log:
    killed: dict = {}


class _Injector:
    log = _Log()


@pytest.mark.parametrize("after, spread, expected", [
    (98, 3, "ok"),        # 2 operations lost: within the clean runs' spread
    (98, 1, "degraded"),  # beyond it
    (100, 0, "ok"),
    (101, 0, "ok"),       # more work than the clean run is no harm
])
def test_lost_work_is_harm_only_beyond_the_spread_of_clean_runs(after, spread, expected):
    assert fault._outcome("c1", _Injector(), _Report(), (after, after // 2), (100, 50),
                          spread) == expected


def test_a_bystander_that_ends_with_an_error_of_its_own_failed():
    """A wrong result: @metadata exits 1 when a file reads back wrong."""
    report = _Report(exit_code=1, cut_off=False, end_reason="exit")
    assert fault._outcome("c1", _Injector(), report, (10, 5), (100, 50), 0) == "failed"


def test_clean_runs_arrive_at_other_offsets_and_give_a_spread():
    params = ExperimentParams(kernels=("linux",), containers=3, cores=4)
    assert fault._arrivals(params, 0) == [0, 0, 0]
    offsets = fault._arrivals(params, 1)
    assert offsets == fault._arrivals(params, 1)  # seeded
    assert any(offsets) and all(0 <= o < fault.ARRIVAL_JITTER_NS for o in offsets)
    clean = fault.baseline(params, "linux", (), fault.MEMORY_MB, 3)
    assert clean.runs[0] != clean.runs[1]  # the arrivals moved the operations
    fired = kernels.architecture("linux").boot_ns + fault.FAULT_AT_NS
    assert max(clean.spread(name, fired) for name in ("c0", "c1", "c2")) > 0
