"""Host-time shortcuts of the timed machine change no figure (issue #17).

* A thread that keeps its core between slices (sim/machine.py ``_keeps_core``):
  where nothing else is due at the instant a slice's replay ends, the machine
  runs the thread's next slice without giving its core back and asking again.
* A slice replayed by moving the clock in place (``advance_in_place``) where its
  timeout would be the next event anyway.
* A recorded system call on the dispatcher's plain path (``record_plainly``):
  a timed run records every call for its replay; without lock tracing the call
  no longer goes through the general ``_observed`` path.
* Block costs shared while a program runs (coffers/sched.py ``run_slice``): a
  slice that priced blocks leaves its table to the run's other coffers of the
  same program at once, not when its process exits, so containers started
  together do not each price every block again.

Each saves host time only: every figure of the run (simulated times, the
breakdown, the guests' output, which includes the times they read from their
clocks, and their op marks) must be the same, bit for bit, as without it.
Compared here on one core and on a shared machine, for compute, threads,
system calls, metadata and timed sleeps.
"""

from __future__ import annotations

import io

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.isa.cpu import Cpu
from cofferos.sim.experiment import run_containers
from cofferos.sim.machine import Machine, MachineConfig
from cofferos.workloads import build

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
         plainly: bool = True, advance: bool = True) -> tuple[object, int]:
    coffers, outputs = [], []
    for index, name in enumerate(guests):
        program = str(build(name))
        out, err = io.BytesIO(), io.BytesIO()
        outputs.append((out, err))
        coffer = Coffer(CofferConfig(name=f"c{index}", page_faults=True), stdin=io.BytesIO(),
                        stdout=out, stderr=err)
        coffer.spawn(program, [program, *GUESTS[name]])
        coffer.dispatcher.record_plainly = plainly
        coffers.append(coffer)
    machine = Machine(MachineConfig(cores=cores, kernel=kernel), coffers)
    machine.keep_cores = keep
    machine.advance_in_place = advance
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
def test_recording_on_the_plain_path_changes_no_figure(guests: list[str], kernel: str,
                                                      cores: int) -> None:
    observed, _ = _run(guests, kernel, cores, keep=True, plainly=False)
    plain, _ = _run(guests, kernel, cores, keep=True)
    assert plain == observed


def test_block_costs_shared_while_running_change_no_figure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    program = str(build("metadata"))
    priced: list[int] = []
    pricing = Cpu._block_cost

    def counted(cpu: Cpu, address: int, size: int) -> tuple[int, int, bool]:
        priced.append(address)
        return pricing(cpu, address, size)

    def run() -> tuple[object, list[object]]:
        report = run_containers(program, ["/tmp/keep", "100"], kernel="cofferos",
                                containers=3, cores=3)
        return report.machine, [(c.stdout, c.stderr, c.exit_code, c.ops, c.p50_us, c.cycles)
                                for c in report.containers]

    monkeypatch.setattr(Cpu, "_block_cost", counted)
    shared = run()
    shared_priced, priced[:] = len(priced), []
    monkeypatch.setattr(Coffer, "remember_block_costs", lambda *_: None)  # nothing shared
    alone = run()
    assert shared == alone
    assert shared_priced * 2 < len(priced), "the others priced the first one's blocks again"
