"""Personalities that fail are contained, always (issue #12).

A hook that returns the wrong type, a policy slot that raises, a plugin that
cannot be loaded or created: each ends only what it must (the calling task, with
SIGSYS and a report naming the personality and the hook; or one line on the
command line), never the run. Also: what a denied call costs, and the host time
spent in each hook.

Third-party personalities are faked by adding entry points to the group (the
classes below, loaded as ``tests.test_personality_containment:NAME``), as an
installed package would.
"""

from __future__ import annotations

import errno
import io
import json
import signal
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from cofferos import cli
from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.personalities import registry
from cofferos.personalities.base import (
    DENIAL_CYCLES,
    NOT_HANDLED,
    SECCOMP_ENTRY_CYCLES,
    SECCOMP_FILTER_CYCLES,
    Option,
    Personality,
    PersonalityError,
    SyscallContext,
)
from cofferos.personalities.stack import available, parse_spec
from cofferos.sim.costmodel import DEFAULT_KERNEL_COSTS
from cofferos.workloads import build

HERE = "tests.test_personality_containment"
SIGSYS_STATUS = 128 + signal.SIGSYS
WRONG = {"str": "nope", "float": 1.5, "none": None}


class Misbehaving(Personality):
    """Returns a wrong value from one hook, for getppid, in the coffer named ``where``."""

    name = "misbehaving"
    description = "returns a wrong type from one hook"
    options = {"hook": Option(str, "on_entry", "on_entry, handle or on_exit"),
               "value": Option(str, "str", "str, float or none"),
               "where": Option(str, "", "coffer name to misbehave in (empty: every coffer)")}

    def _wrong(self, ctx: SyscallContext, hook: str) -> bool:
        return (self.config["hook"] == hook and ctx.name == "getppid"
                and self.config["where"] in ("", ctx.task.coffer.config.name))

    def on_entry(self, ctx: SyscallContext) -> Any:
        return WRONG[self.config["value"]] if self._wrong(ctx, "on_entry") else None

    def handle(self, ctx: SyscallContext) -> Any:
        return WRONG[self.config["value"]] if self._wrong(ctx, "handle") else NOT_HANDLED

    def on_exit(self, ctx: SyscallContext, result: int) -> Any:
        return WRONG[self.config["value"]] if self._wrong(ctx, "on_exit") else result


class FailsToStart(Personality):
    name = "fails-to-start"

    def __init__(self, **options: Any) -> None:
        raise RuntimeError("no licence server")


class NoMemory(Personality):
    name = "no-memory"

    def memory_limit(self) -> int | None:
        raise RuntimeError("memory slot bug")


def _raising(slot: str) -> Personality:
    """A personality whose policy slot ``slot`` raises RuntimeError."""
    def broken(self: Personality, *args: object) -> Any:
        raise RuntimeError(f"{slot} bug")
    return type(f"Raising_{slot}", (Personality,), {"name": "raising", slot: broken})()


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Install fake entry points, NAME="module:attr", beside the real ones."""
    real = registry.entry_points

    def install(**points: str) -> None:
        extra = [EntryPoint(name, value, registry.GROUP) for name, value in points.items()]
        monkeypatch.setattr(registry, "entry_points",
                            lambda group: [*real(group=group), *extra])
    return install


def _coffer(program: Path, args: list[str], stack: list[Personality],
            stderr: io.BytesIO | None = None) -> Coffer:
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=stderr or io.BytesIO())
    coffer.dispatcher.personalities.replace(stack)
    coffer.spawn(str(program), [program.name, *args])
    return coffer


def _one_line_error(err: str, name: str) -> None:
    assert err.startswith(f"coffersim: error: personality {name!r}: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err


# -- wrong result types ----------------------------------------------------------------------
@pytest.mark.parametrize(("hook", "value"), [
    ("on_entry", "str"), ("on_entry", "float"), ("handle", "str"), ("handle", "float"),
    ("handle", "none"), ("on_exit", "str"), ("on_exit", "float"), ("on_exit", "none")])
def test_a_wrong_result_type_kills_the_task_with_sigsys(hook: str, value: str) -> None:
    coffer = _coffer(build("nullsys"), ["5"], [Misbehaving(hook=hook, value=value)])
    result = coffer.run()
    assert result.exit_code == SIGSYS_STATUS  # not the call number left in RAX
    typename = type(WRONG[value]).__name__
    assert any(f"personality 'misbehaving': {hook} returned {typename}" in oops
               and "SIGSYS" in oops for oops in result.oopses), result.oopses


@pytest.mark.parametrize(("hook", "value"), [
    ("on_entry", "str"), ("handle", "float"), ("on_exit", "none")])
def test_a_wrong_result_ends_one_container_of_three(
        plugins: Callable[..., None], tmp_path: Path, hook: str, value: str) -> None:
    plugins(misbehaving=f"{HERE}:Misbehaving")
    stats = tmp_path / "stats.json"
    status = cli.main(["run", "--containers", "3", "--stats", str(stats), "--personality",
                       f"misbehaving:hook={hook},value={value},where=c1", "--",
                       "@nullsys", "5"])
    assert status == SIGSYS_STATUS
    record = json.loads(stats.read_text())
    assert {c["name"]: c["exit_code"] for c in record["per_container"]} == {
        "c0": 0, "c1": SIGSYS_STATUS, "c2": 0}


# -- loading and creating plugins ------------------------------------------------------------
def test_a_broken_entry_point_is_listed_and_the_others_work(
        plugins: Callable[..., None], capfd: pytest.CaptureFixture[str]) -> None:
    plugins(broken="no_such_module_anywhere:Thing", notapersonality="cofferos.cli:main")
    assert cli.main(["personalities"]) == 0
    rows = {line.split()[0]: line for line in capfd.readouterr().out.splitlines()[2:]}
    assert "BROKEN: cannot load entry point no_such_module_anywhere:Thing: " \
           "ModuleNotFoundError" in rows["broken"]
    assert "BROKEN: entry point cofferos.cli:main is a function, not a subclass" \
           in rows["notapersonality"]
    assert "vDSO-like shortcuts" in rows["fastpath"] and "cycles=60" in rows["fastpath"]
    assert cli.main(["run", "--personality", "fastpath", "--", "@hello"]) == 0
    assert "hello from a coffer" in capfd.readouterr().out
    assert cli.main(["run", "--personality", "broken", "--", "@hello"]) == 2
    _one_line_error(capfd.readouterr().err, "broken")


def test_only_the_personalities_asked_for_are_loaded(plugins: Callable[..., None]) -> None:
    plugins(broken="no_such_module_anywhere:Thing")
    known = available()
    assert "broken" in known and "fastpath" in known  # listed without loading
    assert parse_spec("fastpath", known).name == "fastpath"
    with pytest.raises(PersonalityError, match="cannot load entry point"):
        parse_spec("broken", known)


def test_an_entry_point_that_is_no_personality(plugins: Callable[..., None],
                                               capfd: pytest.CaptureFixture[str]) -> None:
    plugins(main="cofferos.cli:main")
    assert cli.main(["run", "--personality", "main", "--", "@hello"]) == 2
    err = capfd.readouterr().err
    _one_line_error(err, "main")
    assert "not a subclass of cofferos.personalities.base.Personality" in err


def test_init_raising_is_one_line(plugins: Callable[..., None],
                                  capfd: pytest.CaptureFixture[str]) -> None:
    plugins(**{"fails-to-start": f"{HERE}:FailsToStart", "no-memory": f"{HERE}:NoMemory"})
    for timed in ([], ["--containers", "2"]):
        assert cli.main(["run", *timed, "--personality", "fails-to-start", "--",
                         "@hello"]) == 2
        err = capfd.readouterr().err
        _one_line_error(err, "fails-to-start")
        assert "__init__ raised RuntimeError: no licence server" in err
    # A slot the coffer asks while it is created fails the same way, not a traceback.
    assert cli.main(["run", "--personality", "no-memory", "--", "@hello"]) == 2
    err = capfd.readouterr().err
    _one_line_error(err, "no-memory")
    assert "memory_limit raised RuntimeError: memory slot bug" in err


# -- policy slots ----------------------------------------------------------------------------
@pytest.mark.parametrize(("slot", "workload", "args"), [
    ("may_open", "fileio", ["2"]),
    ("may_exec", "forkexec", []),
    ("may_connect", "tcpclient", ["127.0.0.1", "7000", "1"]),
    ("scheduling", "hello", []),
])
def test_a_policy_slot_that_raises_is_a_personality_failure(
        slot: str, workload: str, args: list[str]) -> None:
    result = _coffer(build(workload), args, [_raising(slot)]).run()
    failures = [oops for oops in result.oopses if f"{slot} raised RuntimeError" in oops]
    assert failures, result.oopses
    assert all(oops.startswith("personality failed") and "SIGSYS" in oops
               and f"personality 'raising': {slot} raised" in oops for oops in result.oopses)
    if slot != "may_exec":  # (forkexec's child execs; its parent sees the child's death)
        assert result.exit_status.signal == signal.SIGSYS


def test_the_scheduling_slot_on_the_timing_machine() -> None:
    from cofferos.sim.machine import Machine, MachineConfig

    coffer = _coffer(build("hello"), [], [_raising("scheduling")])
    Machine(MachineConfig(cores=2, kernel="cofferos"), [coffer]).run()
    assert coffer.result().exit_status.signal == signal.SIGSYS
    assert "scheduling raised RuntimeError" in coffer.result().oopses[0]


@pytest.mark.parametrize("slot", ["memory_limit", "mounts"])
def test_the_coffer_wide_slots_fail_creation_or_the_calling_task(slot: str) -> None:
    coffer = Coffer(CofferConfig())
    with pytest.raises(PersonalityError, match=f"'raising': {slot} raised RuntimeError"):
        coffer.dispatcher.personalities.replace([_raising(slot)])
    # In a live change, the task whose call made the change is killed instead.
    coffer = _coffer(build("nullsys"), ["5"], [])
    coffer.dispatcher.change_personalities([_raising(slot)], after=("getppid", 2))
    result = coffer.run()
    assert result.exit_status.signal == signal.SIGSYS
    assert f"{slot} raised RuntimeError" in result.oopses[0]
    assert result.syscalls["getppid"] == 2


# -- what a denial costs ---------------------------------------------------------------------
class DenyOpenat(Personality):
    name = "deny-openat"

    def on_entry(self, ctx: SyscallContext) -> int | None:
        return -errno.EPERM if ctx.name == "openat" else None


class Charges(Personality):
    """Records the cycles each call is charged (cost runs last, at the top)."""

    name = "charges"

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, list[int]] = {}

    def cost(self, ctx: SyscallContext, cycles: int) -> int:
        self.seen.setdefault(ctx.name, []).append(cycles)
        return cycles


def test_a_denied_call_costs_a_seccomp_denial(tmp_path: Path) -> None:
    seccomp_denial = DEFAULT_KERNEL_COSTS.entry_exit + SECCOMP_ENTRY_CYCLES + SECCOMP_FILTER_CYCLES
    assert DENIAL_CYCLES == SECCOMP_ENTRY_CYCLES + SECCOMP_FILTER_CYCLES
    allowed = Charges()
    _coffer(build("fileio"), ["1"], [allowed]).run()
    openat = DEFAULT_KERNEL_COSTS.entry_exit + DEFAULT_KERNEL_COSTS.work("openat")
    assert openat in allowed.seen["openat"]  # the call's work, when it runs
    denied = Charges()
    _coffer(build("fileio"), ["1"], [DenyOpenat(), denied]).run()
    assert denied.seen["openat"] and set(denied.seen["openat"]) == {seccomp_denial}
    # hardened's denials cost the same: its filter is in the denial, not added twice.
    allow = tmp_path / "allow.txt"
    names = set(allowed.seen) - {"openat"}
    allow.write_text("\n".join(sorted(names)) + "\n")
    filtered = Charges()
    _coffer(build("fileio"), ["1"],
            [parse_spec(f"hardened:profile=file:{allow}"), filtered]).run()
    assert set(filtered.seen["openat"]) == {seccomp_denial}


# -- host time per hook ----------------------------------------------------------------------
def test_host_seconds_per_hook_in_stats(tmp_path: Path) -> None:
    functional, timed = tmp_path / "functional.json", tmp_path / "timed.json"
    assert cli.main(["run", "--stats", str(functional), "--personality", "fastpath",
                     "--personality", "hardened", "--", "@nullsys", "20"]) == 0
    assert cli.main(["run", "--containers", "2", "--stats", str(timed), "--personality",
                     "fastpath", "--", "@nullsys", "20"]) == 0
    one = json.loads(functional.read_text())["personality_host_seconds"]
    assert set(one) == {"fastpath.cost", "hardened.on_entry", "hardened.cost"}
    # hardened declares on_entry only for the calls it refuses (hooks_for): none here.
    assert one.pop("hardened.on_entry") == 0
    assert all(seconds > 0 for seconds in one.values())
    two = json.loads(timed.read_text())["personality_host_seconds"]
    assert set(two) == {"fastpath.cost"} and two["fastpath.cost"] > 0
    plain = _coffer(build("nullsys"), ["20"], []).run()
    assert plain.personality_host_seconds == {}


def test_the_connect_slot_is_asked_with_the_peer() -> None:
    asked: list[tuple[str, int]] = []

    class NoPeers(Personality):
        name = "no-peers"

        def may_connect(self, task: object, address: str, port: int) -> bool:
            asked.append((address, port))
            return False

    err = io.BytesIO()
    result = _coffer(build("tcpclient"), ["127.0.0.1", "7001", "1"], [NoPeers()], err).run()
    assert asked and set(asked) == {("127.0.0.1", 7001)}
    assert result.exit_code == 1 and not result.oopses
    assert b"connection refused" in err.getvalue()


def test_sampled_hook_times_stand_for_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a host clock that advances 1 us per read, every hook call takes 1 us: the
    weighted sample must add up to the number of calls (within one gap), and the
    policy slots, timed on every call, exactly."""
    from itertools import count

    from cofferos.personalities import stack

    ticks = count(0, 1_000)
    monkeypatch.setattr(stack, "perf_counter_ns", lambda: next(ticks))

    class Busy(Personality):
        name = "busy"

        def on_entry(self, ctx: SyscallContext) -> int | None:
            return None

        def cost(self, ctx: SyscallContext, cycles: int) -> int:
            return cycles

        def may_open(self, task: object, path: str, write: bool) -> bool:
            return True

    personalities = stack.PersonalityStack([Busy()])
    ctx = SyscallContext(None, 39, "getpid", [0] * 6)  # type: ignore[arg-type]
    calls = 1_000
    for _ in range(calls):
        personalities.enter(ctx)
        personalities.cost(ctx, 700)
        personalities.allows("may_open", None, "/x", False)
    host = personalities.host_ns
    slack = 2 * stack.SAMPLE_MEAN * 1_000
    assert abs(host["busy.on_entry"] - calls * 1_000) < slack
    assert host["busy.cost"] == host["busy.on_entry"]  # the same calls, the same weights
    assert host["busy.may_open"] == calls * 1_000
