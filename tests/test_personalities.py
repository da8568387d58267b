"""Personalities: validation, the composition rule, containment, live change, built-ins."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.errors import ConfigError
from cofferos.personalities.base import KillTask, Personality, SyscallContext
from cofferos.personalities.stack import available, parse_spec
from cofferos.workloads import build
from tests.support import compile_guest, needs_gcc, run_in_coffer, run_native

BUSYBOX = Path("/bin/busybox")
GETPPID_FAILURES = r"""
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    int failed = 0;
    for (int i = 0; i < 20; i++)
        if (syscall(SYS_getppid) < 0 && errno == EPERM) failed++;
    printf("%d of 20 denied\n", failed);
    return 0;
}
"""


class DenyGetppid(Personality):
    name = "deny-getppid"

    def on_entry(self, ctx: SyscallContext) -> int | None:
        return -errno.EPERM if ctx.name == "getppid" else None


class Recorder(Personality):
    name = "recorder"

    def __init__(self, log: list[str], tag: str, extra: int = 0) -> None:
        super().__init__()
        self.log, self.tag, self.extra = log, tag, extra

    def on_entry(self, ctx: SyscallContext) -> int | None:
        self.log.append(f"enter {self.tag}")
        return None

    def on_exit(self, ctx: SyscallContext, result: int) -> int:
        self.log.append(f"exit {self.tag}")
        return result

    def cost(self, ctx: SyscallContext, cycles: int) -> int:
        self.log.append(f"cost {self.tag}")
        return cycles + self.extra


class Broken(Personality):
    name = "broken"

    def on_entry(self, ctx: SyscallContext) -> int | None:
        if ctx.name == "getppid":
            raise RuntimeError("a bug in a personality")
        return None


def _coffer(program: Path | str, args: list[str], stack: list[Personality],
            **config: object) -> tuple[Coffer, io.BytesIO]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(**config), stdin=io.BytesIO(), stdout=out,  # type: ignore[arg-type]
                    stderr=io.BytesIO())
    coffer.dispatcher.personalities.replace(stack)
    coffer.spawn(str(program), [Path(program).name, *args])
    return coffer, out


def test_builtins_are_installed_through_entry_points() -> None:
    assert {"linux", "fastpath", "hardened"} <= set(available())


@pytest.mark.parametrize(("spec", "message"), [
    ("nosuch", "unknown personality 'nosuch'; installed:"),
    ("hardened:nosuch=1", "unknown option 'nosuch'; options: profile, action, audit"),
    ("fastpath:cycles=many", "option cycles expects int"),
    ("hardened:profile", "expected key=value"),
    ("hardened:action=maybe", "action must be deny or kill"),
])
def test_bad_specs_are_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_spec(spec)


def test_linux_changes_nothing() -> None:
    plain = run_in_coffer(build("nullsys"), ["500"])
    linux = run_in_coffer(build("nullsys"), ["500"], personalities=("linux",))
    assert plain.stdout == linux.stdout and plain.result and linux.result
    assert plain.result.kernel_cycles == linux.result.kernel_cycles
    assert plain.result.instructions == linux.result.instructions


def test_fastpath_saves_kernel_cycles_and_keeps_results(native) -> None:
    program = build("nullsys")
    plain = run_in_coffer(program, ["2000"])
    fast = run_in_coffer(program, ["2000"], personalities=("fastpath",))
    assert fast.stdout == plain.stdout == native(program, ["2000"]).stdout
    assert fast.result and plain.result
    assert fast.result.kernel_cycles < plain.result.kernel_cycles - 2000 * 500


def test_policy_personalities_cost_what_their_checks_cost() -> None:
    """hardened pays one seccomp filter per call; agent its counters per call, and a
    second path walk on the calls whose path it resolves: nothing else changes."""
    from cofferos.personalities.builtin import agent, hardened

    plain = run_in_coffer(build("nullsys"), ["500"])
    filtered = run_in_coffer(build("nullsys"), ["500"], personalities=("hardened",))
    policed = run_in_coffer(build("nullsys"), ["500"], personalities=("agent",))
    assert plain.result and filtered.result and policed.result
    assert plain.stdout == filtered.stdout == policed.stdout
    calls = sum(plain.result.syscalls.values())
    assert filtered.result.kernel_cycles - plain.result.kernel_cycles == \
        calls * hardened.FILTER_CYCLES
    path_calls = sum(n for name, n in plain.result.syscalls.items()
                     if name in agent.OPEN_CALLS or name in agent.EXEC_CALLS
                     or name in agent.NAME_CALLS)
    assert policed.result.kernel_cycles - plain.result.kernel_cycles == \
        calls * agent.POLICY_CYCLES + path_calls * agent.PATH_CHECK_CYCLES


def test_composition_order() -> None:
    log: list[str] = []
    coffer, _ = _coffer(build("exitcode"), ["0"],
                        [Recorder(log, "p1", extra=10), Recorder(log, "p2", extra=100)])
    coffer.run()
    first = log[:6]
    assert first == ["enter p1", "enter p2", "exit p2", "exit p1", "cost p1", "cost p2"]


def test_an_early_result_skips_the_rest_of_the_stack() -> None:
    log: list[str] = []
    coffer, _ = _coffer(build("nullsys"), ["5"], [DenyGetppid(), Recorder(log, "after")])
    coffer.run()  # (nullsys stops at the first failed getppid)
    assert coffer.stats.calls[110] >= 1  # getppid was attempted
    # getppid never reached the recorder's on_entry; every other call did.
    assert log.count("enter after") == coffer.stats.total_calls - coffer.stats.calls[110]


@needs_gcc
def test_denial_and_live_change(tmp_path: Path) -> None:
    source = tmp_path / "denied.c"
    source.write_text(GETPPID_FAILURES)
    program = compile_guest(source, tmp_path)
    assert run_native(program).stdout == b"0 of 20 denied\n"
    coffer, out = _coffer(program, [], [])
    coffer.dispatcher.change_personalities([DenyGetppid()], after=("getppid", 10))
    coffer.run()
    assert out.getvalue() == b"10 of 20 denied\n"  # the stack changed after the tenth


def test_a_failing_personality_is_contained() -> None:
    coffer, _ = _coffer(build("nullsys"), ["5"], [Broken()])
    result = coffer.run()
    assert result.exit_status.signal == 31  # SIGSYS
    assert any("a bug in a personality" in oops for oops in result.oopses)
    assert run_in_coffer(build("hello")).status == 0  # the simulator goes on


def test_kill_task_from_a_hook() -> None:
    class Killer(Personality):
        name = "killer"

        def on_entry(self, ctx: SyscallContext) -> int | None:
            if ctx.name == "getppid":
                raise KillTask(9, "no getppid here")
            return None

    coffer, out = _coffer(build("nullsys"), ["5"], [Killer()])
    assert coffer.run().exit_code == 128 + 9
    assert out.getvalue() == b""


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox-static not installed")
def test_hardened_profiles(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    # Docker's default profile lets ordinary programs run unchanged.
    ok = run_in_coffer(BUSYBOX, ["echo", "fine"], argv0="busybox",
                       personalities=("hardened",))
    assert ok.status == 0 and ok.stdout == b"fine\n"
    # The minimal profile denies prctl (busybox calls it at start): EPERM, audited...
    denied = run_in_coffer(BUSYBOX, ["echo", "still"], argv0="busybox",
                           personalities=(f"hardened:profile=minimal,audit={audit}",))
    assert denied.stdout == b"still\n"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert records and records[0]["syscall"] == "prctl" and records[0]["action"] == "deny"
    # ... or kills with SIGSYS.
    killed = run_in_coffer(BUSYBOX, ["echo", "never"], argv0="busybox",
                           personalities=("hardened:profile=minimal,action=kill",))
    assert killed.status == 128 + 31 and killed.stdout == b""
    # A custom allow list from a file: names are checked against the table.
    listing = tmp_path / "allow.txt"
    listing.write_text("# only this\nexit_group\nnot_a_call\n")
    with pytest.raises(ConfigError, match="unknown system calls"):
        parse_spec(f"hardened:profile=file:{listing}")
    listing.write_text("# only this\nexit_group\n")
    only_exit = run_in_coffer(BUSYBOX, ["echo", "x"], argv0="busybox",
                              personalities=(f"hardened:profile=file:{listing}",))
    assert only_exit.stdout == b""  # even write(2) is denied


def test_scheduling_slot_sets_the_slice_and_the_cores() -> None:
    from cofferos.personalities.base import SchedulingPolicy
    from cofferos.sim.machine import Machine, MachineConfig

    class Pinned(Personality):
        name = "pinned"

        def scheduling(self, task: object) -> SchedulingPolicy:
            return SchedulingPolicy(slice_instructions=5_000, cores=frozenset({1}))

    coffer, _ = _coffer(build("compute"), ["20000"], [Pinned()])
    machine = Machine(MachineConfig(cores=4, kernel="cofferos"), [coffer])
    used: set[int] = set()
    original = machine._choose_core

    def spy(task: object) -> int:
        core = original(task)  # type: ignore[arg-type]
        used.add(core)
        return core

    machine._choose_core = spy  # type: ignore[method-assign]
    machine.run()
    assert used == {1}
    assert coffer.result().exit_code == 0
    assert coffer.result().instructions > 5_000 * 10  # ran in many short slices


def test_memory_slot_lowers_the_coffers_limit_and_never_raises_it() -> None:
    small = Coffer(CofferConfig(personalities=("agent:max_memory=33554432",)))
    assert small.memory.limit_bytes == 32 << 20
    capped = Coffer(CofferConfig(memory_limit=16 << 20,
                                 personalities=("agent:max_memory=33554432",)))
    assert capped.memory.limit_bytes == 16 << 20
    hog = run_in_coffer(build("memtouch"), ["64"], personalities=("agent:max_memory=33554432",))
    assert hog.status != 0  # 64 MiB cannot fit in 32


def test_agent_cycle_and_process_quotas() -> None:
    spent = run_in_coffer(build("compute"), ["2000000"],
                          personalities=("agent:max_cycles=1000000",))
    assert spent.status == 128 + 24  # SIGXCPU at the first call past the quota
    if BUSYBOX.exists():
        forks = run_in_coffer(BUSYBOX, ["-c", "true & true & true & wait; echo done"],
                              argv0="sh", personalities=("agent:max_processes=2",))
        assert b"can't fork" in forks.stderr


def test_live_change_from_configuration() -> None:
    plain = run_in_coffer(build("nullsys"), ["30"])
    assert plain.status == 0
    changed = run_in_coffer(build("nullsys"), ["30"],
                            personality_changes=(("after=getppid:10",
                                                  ("hardened:profile=minimal",)),))
    assert changed.status == 0  # minimal allows getppid: the change keeps it working
    with pytest.raises(ConfigError, match="trigger"):
        Coffer(CofferConfig(personality_changes=(("sometime", ("linux",)),)))


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox-static not installed")
def test_mounts_slot_adds_a_copy_on_write_host_directory(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note.txt").write_text("from the host\n")

    class Mounting(Personality):
        name = "mounting"

        def mounts(self) -> list[tuple[str, str]]:
            return [("/data/in", str(shared))]

    coffer, out = _coffer(BUSYBOX, ["sh", "-c", "cat /data/in/note.txt; echo x > /data/in/new"],
                          [Mounting()])
    assert coffer.run().exit_code == 0
    assert out.getvalue() == b"from the host\n"
    assert sorted(p.name for p in shared.iterdir()) == ["note.txt"]  # host untouched
