"""Call plans: a personality's optional declarations (``hooks_for``, ``static_cost``)
change which hooks a call reaches and how fast, never what the guest sees or is charged.

Each declared built-in is run against the same personality without its declarations
(the form every plugin had before them, which must still work): same output, status,
calls, kernel cycles and denials."""

from __future__ import annotations

import errno
import io
import signal
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.config import RunResult
from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS
from cofferos.personalities.base import Personality, PersonalityError, SyscallContext
from cofferos.personalities.builtin.agent import Agent
from cofferos.personalities.builtin.deterministic import Deterministic
from cofferos.personalities.builtin.fastpath import FastPath
from cofferos.personalities.builtin.hardened import Hardened
from cofferos.personalities.builtin.linux import Linux
from cofferos.personalities.plans import undeclared
from cofferos.workloads import build

GETPPID, WRITE = SYSCALL_NUMBERS["getppid"], SYSCALL_NUMBERS["write"]


UndeclaredHardened, UndeclaredFastPath = undeclared(Hardened), undeclared(FastPath)


def _coffer(workload: str, args: list[str], stack: list[Personality]) -> tuple[Coffer, io.BytesIO]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=out,  # type: ignore[arg-type]
                    stderr=io.BytesIO())
    coffer.dispatcher.personalities.replace(stack)
    program = build(workload)
    coffer.spawn(str(program), [Path(program).name, *args])
    return coffer, out


def _seen(result: RunResult, out: io.BytesIO) -> tuple[object, ...]:
    return (out.getvalue(), result.exit_status, result.syscalls, result.kernel_cycles,
            result.unimplemented_syscalls, result.oopses)


@pytest.mark.parametrize(("workload", "args", "profile"), [
    ("nullsys", ["300"], "docker"), ("fileio", ["3"], "docker"),
    ("fileio", ["3"], "minimal"), ("hello", [], "file:/dev/null")])
def test_declared_built_ins_charge_and_answer_as_undeclared_ones(
        workload: str, args: list[str], profile: str) -> None:
    runs = []
    for hardened, fastpath in ((Hardened, FastPath), (UndeclaredHardened, UndeclaredFastPath)):
        stack = [Linux(), hardened(profile=profile), fastpath()]
        coffer, out = _coffer(workload, args, stack)
        runs.append((_seen(coffer.run(), out), stack[1].denials))  # type: ignore[attr-defined]
    assert runs[0] == runs[1]
    if profile == "file:/dev/null":  # everything refused: on_entry is declared for each
        assert runs[0][1]


UndeclaredDeterministic = undeclared(Deterministic)


@pytest.mark.parametrize("mode", ["off", "record"])
def test_declared_deterministic_serves_and_records_as_undeclared(mode: str,
                                                                 tmp_path: Path) -> None:
    runs = []
    for kind in (Deterministic, UndeclaredDeterministic):
        log = tmp_path / f"{kind.__name__}.jsonl"
        options = {"mode": mode, "log": str(log)} if mode == "record" else {}
        coffer, out = _coffer("lmbench", ["null", "50"], [kind(seed=5, **options)])
        result = coffer.run()
        runs.append((_seen(result, out), result.personality_counters,
                     log.read_text() if mode == "record" else ""))
    assert runs[0] == runs[1]
    assert runs[0][1]["deterministic"]["clock_elapsed_ns"] > 0  # its clock served lmbench
    if mode == "record":
        assert runs[0][2].count("\n") == sum(runs[0][0][2].values()) - 1  # all but exit


UndeclaredAgent = undeclared(Agent)


@pytest.mark.parametrize(("workload", "args", "options"), [
    ("fileio", ["3"], {"write": "/nowhere", "rate": "open=2/s"}),
    ("fileio", ["3"], {"write": "/", "max_bytes_written": 100}),
    ("forkexec", [], {"max_processes": 1, "max_execs": 1}),
    ("nullsys", ["2000"], {"max_cycles": 200_000})])
def test_declared_agent_decides_as_undeclared(workload: str, args: list[str],
                                              options: dict[str, object]) -> None:
    runs = []
    for kind in (Agent, UndeclaredAgent):
        agent = kind(**options)
        coffer, out = _coffer(workload, args, [agent])
        result = coffer.run()
        runs.append((_seen(result, out), result.personality_counters, agent.audit))
    assert runs[0] == runs[1]
    assert runs[0][2] or runs[0][0][1].signal  # each case is refused or killed somewhere


def test_a_call_no_hook_needs_takes_the_plain_path_and_static_costs_are_kept() -> None:
    coffer, _ = _coffer("nullsys", ["50"], [Linux(), Hardened(), FastPath()])
    dispatcher = coffer.dispatcher
    plain_getppid = dispatcher.fast[GETPPID]
    assert dispatcher.fast[GETPPID] is None and dispatcher.fast[WRITE] is None
    coffer.run()
    handler, _, cycles = dispatcher.fast[GETPPID]  # type: ignore[misc]
    assert cycles == 60 and plain_getppid is None  # fastpath's vDSO charge, kept once asked
    assert dispatcher.fast[WRITE][2] == dispatcher.base_cycles[WRITE] + 85  # type: ignore[index]
    # A personality that does not declare static costs is asked on every call.
    coffer, _ = _coffer("nullsys", ["50"], [UndeclaredFastPath()])
    coffer.run()
    assert coffer.dispatcher.fast[GETPPID] is None


def test_hooks_for_leaves_out_the_hooks_a_call_does_not_need() -> None:
    class Watch(Personality):
        name = "watch"

        def __init__(self, only: str | None) -> None:
            super().__init__()
            self.only, self.entered, self.exited = only, 0, 0

        def hooks_for(self, name: str, nr: int) -> tuple[str, ...] | None:
            if self.only is None:
                return None  # every hook it overrides
            return ("on_entry",) if name == self.only else ()

        def on_entry(self, ctx: SyscallContext) -> int | None:
            self.entered += 1
            return None

        def on_exit(self, ctx: SyscallContext, result: int) -> int:
            self.exited += 1
            return result

    everything, getppid_only = Watch(None), Watch("getppid")
    results = []
    for watch in (everything, getppid_only):
        coffer, out = _coffer("nullsys", ["40"], [watch])
        results.append(_seen(coffer.run(), out))
    assert results[0] == results[1]
    calls = sum(results[0][2].values())  # type: ignore[attr-defined]
    assert everything.entered == calls > 40
    assert everything.exited == calls - 1  # exit_group returns nothing to rewrite
    assert (getppid_only.entered, getppid_only.exited) == (40, 0)


def test_a_live_change_drops_the_kept_costs() -> None:
    runs = []
    for fastpath in (FastPath, UndeclaredFastPath):
        coffer, out = _coffer("nullsys", ["100"], [Hardened(), fastpath()])
        coffer.dispatcher.change_personalities([Hardened(), fastpath(cycles=7)],
                                               after=("getppid", 30))
        coffer.dispatcher.change_personalities([Hardened()], after=("getppid", 60))
        runs.append(_seen(coffer.run(), out))
    assert runs[0] == runs[1]
    coffer, out = _coffer("nullsys", ["100"], [Hardened(), FastPath()])
    coffer.dispatcher.change_personalities([Hardened()], after=("getppid", 30))
    assert _seen(coffer.run(), out)[3] > runs[0][3]  # type: ignore[operator]


def test_added_call_costs_drop_the_kept_costs() -> None:
    coffer, _ = _coffer("nullsys", ["20"], [Hardened()])
    dispatcher = coffer.dispatcher
    coffer.run()
    kept = dispatcher.fast[GETPPID][2]  # type: ignore[index]
    dispatcher.add_call_costs(lambda name: 1000)
    assert dispatcher.fast[GETPPID] is None  # asked again on the next call
    assert kept == dispatcher.base_cycles[GETPPID] - 1000 + 85


class Declares(Personality):
    name = "declares"

    def __init__(self, answer: object) -> None:
        super().__init__()
        self.answer = answer

    def hooks_for(self, name: str, nr: int) -> object:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def on_entry(self, ctx: SyscallContext) -> int | None:
        return -errno.EPERM


@pytest.mark.parametrize(("answer", "problem"), [
    ("cost", "hooks_for('read') returned 'cost', not None or a collection of"),
    ({"on_entry", "cots"}, "not None or a collection of on_entry, handle, on_exit, cost"),
    (3, "hooks_for('read') returned 3"),
    (RuntimeError("no table"), "hooks_for raised RuntimeError: no table")])
def test_a_wrong_declaration_names_the_personality_and_hooks_for(
        answer: object, problem: str) -> None:
    coffer = Coffer(CofferConfig())
    with pytest.raises(PersonalityError, match="'declares'") as failure:
        coffer.dispatcher.personalities.replace([Declares(answer)])
    assert failure.value.hook == "hooks_for" and problem in failure.value.problem
    assert not coffer.dispatcher.personalities  # the old stack (none) stays


def test_a_policy_slot_keeps_every_call_on_the_stack_path() -> None:
    """The kernel asks may_open inside open: its failure must be contained as the
    personality's, so with a policy slot no call takes the plain path."""

    class Opens(Personality):
        name = "opens"

        def may_open(self, task: object, path: str, write: bool) -> bool:
            return True

    coffer, out = _coffer("fileio", ["2"], [Opens()])
    assert not any(coffer.dispatcher.fast)
    guarded = _seen(coffer.run(), out)
    coffer, out = _coffer("fileio", ["2"], [])
    assert guarded == _seen(coffer.run(), out)  # and charged as with no personality


def test_hooks_for_is_asked_with_the_name_a_hook_sees() -> None:
    """A new call of the kernel's table (a reserved number) is asked by its table name."""
    from cofferos.coffers.syscalls.dispatch import KernelStats, SyscallDispatcher
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.sim.costmodel import KernelCosts

    asked: dict[int, str] = {}

    class Asks(Declares):
        def hooks_for(self, name: str, nr: int) -> object:
            asked[nr] = name
            return ()

    table = SyscallTable()
    table.add("coffer_probe", lambda task: 0, nr=1001)
    table.add("getppid", lambda task: 0)
    dispatcher = SyscallDispatcher(table, KernelCosts(), KernelStats())
    dispatcher.personalities.replace([Asks(None)])
    assert (asked[1001], asked[GETPPID], asked[1002]) == ("coffer_probe", "getppid",
                                                           "syscall_1002")


def test_a_policy_slot_that_fails_later_is_contained_under_static_costs() -> None:
    """hardened's static cost is not kept under a policy slot: a kept cost would send
    the opens down the plain path, where the slot's failure would escape."""

    class FailsLater(Personality):
        name = "fails-later"

        def __init__(self) -> None:
            super().__init__()
            self.asked = 0

        def may_open(self, task: object, path: str, write: bool) -> bool:
            self.asked += 1
            if self.asked > 1:
                raise RuntimeError("may_open bug")
            return True

    coffer, _ = _coffer("fileio", ["3"], [Hardened(), FailsLater()])
    result = coffer.run()
    assert result.exit_status.signal == signal.SIGSYS
    assert "may_open raised RuntimeError: may_open bug" in result.oopses[0]
