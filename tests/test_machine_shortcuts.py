"""Host-time shortcuts of the timed machine change no figure (issue #17).

* A thread that keeps its core between slices (sim/machine.py ``_keeps_core``):
  where nothing else is due at the instant a slice's replay ends, the machine
  runs the thread's next slice without giving its core back and asking again.
* A slice replayed by moving the clock in place (``advance_in_place``) where its
  timeout would be the next event anyway.
* A recorded system call on the dispatcher's plain path (``record_plainly``):
  a timed run records every call for its replay; without lock tracing the call
  no longer goes through the general ``_observed`` path.
* Slices passed within one engine run (isa/boundaries.py, sim/passes.py): where
  nothing can happen between a task's slices, the block hook runs on past a
  slice's end and the machine replays the passed slices afterwards; the kernel
  is told of them before it next runs (a system call, RDTSC, a full log of first
  touches).
* Block costs shared while a program runs (coffers/sched.py ``run_slice``): a
  slice that priced blocks leaves its table to the run's other coffers of the
  same program at once, not when its process exits, and a CPU that priced
  nothing since takes the newer table at its next slice's start, so containers
  started together do not each price every block again.

Each saves host time only: every figure of the run (simulated times, the
breakdown, the guests' output, which includes the times they read from their
clocks, and their op marks) must be the same, bit for bit, as without it.
Compared here on one core and on a shared machine, for compute, threads,
system calls, metadata and timed sleeps.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.isa import touchlog
from cofferos.isa.boundaries import hook_passes
from cofferos.isa.cpu import Cpu
from cofferos.sim.experiment import run_containers
from cofferos.sim.machine import Machine, MachineConfig
from cofferos.workloads import build
from tests.support import compile_guest

PASSES_SOURCE = Path(__file__).parent / "machine" / "passes.c"

GUESTS = {
    "hello": [],
    "compute": ["300000"],
    "threads": ["3", "200"],
    "nullsys": ["2000"],
    "metadata": ["/tmp/keep", "100"],
    "bystander": ["3", "2"],  # compute and timed sleeps (nanosleep), timing itself
    "memtouch": ["2"],  # first-touch page faults, each recorded and replayed
}


def _run(guests: list[str], kernel: str, cores: int, keep: bool,
         plainly: bool = True, advance: bool = True, passing: bool = False,
         passed: list[int] | None = None) -> tuple[object, int]:
    """``passing``: let engine runs pass slice ends (counted into ``passed``)."""
    coffers, outputs = [], []
    for index, name in enumerate(guests):
        program = str(build(name)) if name in GUESTS else name
        out, err = io.BytesIO(), io.BytesIO()
        outputs.append((out, err))
        coffer = Coffer(CofferConfig(name=f"c{index}", page_faults=True), stdin=io.BytesIO(),
                        stdout=out, stderr=err)
        coffer.spawn(program, [program, *GUESTS.get(name, [])])
        coffer.dispatcher.record_plainly = plainly
        coffers.append(coffer)
    machine = Machine(MachineConfig(cores=cores, kernel=kernel), coffers)
    machine.keep_cores = keep
    machine.advance_in_place = advance
    machine.pass_slices = passing
    if passed is not None:
        passing_one = machine.pass_boundary

        def counted(task: object, end_cycles: int) -> None:
            passed.append(end_cycles)
            passing_one(task, end_cycles)  # type: ignore[arg-type]

        machine.pass_boundary = counted  # type: ignore[method-assign]
    kept = 0
    keeps, advances = machine._keeps_core, machine._advanced

    def counting(task: object, core: int) -> bool:
        nonlocal kept
        answer = keeps(task, core)  # type: ignore[arg-type]
        kept += answer
        return answer

    def advancing(delay: float) -> bool:
        nonlocal kept
        answer = advances(delay)
        kept += answer * ADVANCED
        return answer

    machine._keeps_core = counting  # type: ignore[method-assign]
    machine._advanced = advancing  # type: ignore[method-assign]
    result = machine.run()
    figures = (result, [(out.getvalue(), err.getvalue(), c.init and c.init.exit_status,
                         list(c.stats.ops), c.cycles, c.user_instructions)
                        for c, (out, err) in zip(coffers, outputs, strict=True)])
    return figures, kept


#: What one slice advanced in place adds to :func:`_run`'s count of shortcuts taken
#: (one kept core adds 1: the two counts share one number).
ADVANCED = 1 << 32

CONFIGURATIONS = [
    *[([name], "linux", 1) for name in GUESTS],
    (["compute", "threads", "bystander"], "cofferos", 2),
    (["compute", "metadata", "nullsys", "compute"], "linux", 3),
]


@pytest.mark.parametrize(("guests", "kernel", "cores"), CONFIGURATIONS)
def test_keeping_the_core_changes_no_figure(guests: list[str], kernel: str,
                                            cores: int) -> None:
    given_back, never = _run(guests, kernel, cores, keep=False, advance=False)
    kept, times = _run(guests, kernel, cores, keep=True, advance=False)
    assert never == 0
    assert kept == given_back  # (dataclasses and bytes: equal means bit for bit)
    if "compute" in guests:
        assert times > 0, "the compute guest never kept its core: the test compares nothing"


@pytest.mark.parametrize(("guests", "kernel", "cores"), CONFIGURATIONS)
def test_advancing_the_clock_in_place_changes_no_figure(guests: list[str], kernel: str,
                                                        cores: int) -> None:
    by_timeouts, _ = _run(guests, kernel, cores, keep=True, advance=False)
    in_place, taken = _run(guests, kernel, cores, keep=True)
    assert in_place == by_timeouts
    if "compute" in guests or "nullsys" in guests:
        assert taken >= ADVANCED, "no slice advanced the clock in place: nothing compared"


@pytest.mark.parametrize(("guests", "kernel", "cores"), CONFIGURATIONS)
def test_passing_slice_ends_in_one_engine_run_changes_no_figure(
        guests: list[str], kernel: str, cores: int) -> None:
    one_by_one, _ = _run(guests, kernel, cores, keep=True)
    passed: list[int] = []
    passing, _ = _run(guests, kernel, cores, keep=True, passing=True, passed=passed)
    assert passing == one_by_one
    if guests == ["compute"] and hook_passes():
        assert passed, "no engine run passed a slice's end: nothing compared"


@pytest.fixture(scope="module")
def passes_guest(tmp_path_factory: pytest.TempPathFactory) -> str:
    """RDTSC, system calls and bursts of first touches between spells of compute; a
    forked child computing while its parent waits (tests/machine/passes.c)."""
    return str(compile_guest(PASSES_SOURCE, tmp_path_factory.mktemp("passes")))


@pytest.mark.parametrize("log_entries", [touchlog.LOG_ENTRIES, 3])  # 3: full log mid-run
@pytest.mark.parametrize("cores", [1, 2])
def test_passed_slices_are_told_to_the_kernel_before_it_runs(
        passes_guest: str, log_entries: int, cores: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A system call, RDTSC or a full first-touch log after passed slice ends: each
    sees the clock and counts of the slice it runs in, as without passing."""
    monkeypatch.setattr(touchlog, "LOG_ENTRIES", log_entries)
    guests = [passes_guest, "compute"][:cores]
    one_by_one, _ = _run(guests, "linux", cores, keep=True)
    settled: list[int] = []
    settle = Cpu.settle_boundaries

    def settling(cpu: Cpu) -> None:
        settled.append(cpu.counter.instructions)
        settle(cpu)

    monkeypatch.setattr(Cpu, "settle_boundaries", settling)
    passed: list[int] = []
    passing, _ = _run(guests, "linux", cores, keep=True, passing=True, passed=passed)
    assert passing == one_by_one
    output = one_by_one[1][0][0]  # type: ignore[index]
    assert output.count(b"\n") == 6 and b"child" in output, output
    if hook_passes() and cores == 1:
        assert len(passed) > 10, "too few slice ends passed to compare anything"
        assert settled


@pytest.mark.parametrize(("guests", "kernel", "cores"), CONFIGURATIONS)
def test_recording_on_the_plain_path_changes_no_figure(guests: list[str], kernel: str,
                                                      cores: int) -> None:
    observed, _ = _run(guests, kernel, cores, keep=True, plainly=False)
    plain, _ = _run(guests, kernel, cores, keep=True)
    assert plain == observed


def test_block_costs_shared_while_running_change_no_figure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    program = str(build("metadata"))
    priced: list[tuple[int, int]] = []
    pricing = Cpu._block_cost

    def counted(cpu: Cpu, address: int, size: int) -> tuple[int, int, bool]:
        priced.append((address, size))
        return pricing(cpu, address, size)

    def run() -> tuple[object, list[object]]:
        report = run_containers(program, ["/tmp/keep", "100"], kernel="cofferos",
                                containers=3, cores=3)
        return report.machine, [(c.stdout, c.stderr, c.exit_code, c.ops, c.p50_us, c.cycles)
                                for c in report.containers]

    monkeypatch.setattr(Cpu, "_block_cost", counted)
    shared = run()
    # Each block priced once in the whole run: also those the first container meets
    # only after the others started (a CPU takes the newer table at a slice's start).
    assert len(priced) == len(set(priced)), "a block was priced again"
    shared_priced, priced[:] = len(priced), []
    monkeypatch.setattr(Coffer, "remember_block_costs", lambda *_: None)  # nothing shared
    alone = run()
    assert shared == alone
    assert shared_priced * 2 < len(priced), "the others priced the first one's blocks again"
