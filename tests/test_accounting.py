"""Exact instruction accounting: the counter sees every instruction, no more, no less."""

from __future__ import annotations

import signal

import pytest

from cofferos.isa.costs import DEFAULT_COSTS
from cofferos.workloads import WORKLOADS, build, compilers_available
from tests.support import run_in_coffer

ASMLOOP = WORKLOADS["asmloop"]


@pytest.mark.parametrize("libc", ["glibc", "glibc-pie", "musl"])
def test_hand_written_loop_is_counted_exactly(libc: str) -> None:
    if libc == "musl" and not compilers_available()["musl-gcc"]:
        pytest.skip("musl-gcc not installed")
    outcome = run_in_coffer(build("asmloop", libc))
    assert outcome.status == 0
    assert outcome.result is not None
    assert outcome.result.instructions == ASMLOOP.expected_instructions


def test_counts_are_deterministic() -> None:
    first = run_in_coffer(build("compute"), ["100000"])
    second = run_in_coffer(build("compute"), ["100000"])
    assert first.result is not None and second.result is not None
    assert first.result.instructions == second.result.instructions
    assert first.result.user_cycles == second.result.user_cycles
    assert first.result.kernel_cycles == second.result.kernel_cycles


def test_more_work_counts_more_instructions() -> None:
    small = run_in_coffer(build("compute"), ["10000"]).result
    large = run_in_coffer(build("compute"), ["20000"]).result
    assert small is not None and large is not None
    # The loop body is a fixed number of instructions per iteration (19 with gcc 12 -O2);
    # printing a different count adds a few instructions of noise, hence the tolerance.
    per_iteration = (large.instructions - small.instructions) / 10000
    assert 10 <= round(per_iteration) <= 40
    assert abs(per_iteration - round(per_iteration)) < 0.05


def test_user_cycles_come_from_the_cost_table() -> None:
    outcome = run_in_coffer(build("compute"), ["10000"])
    cheap = run_in_coffer(build("compute"), ["10000"],
                          instruction_costs=DEFAULT_COSTS.with_overrides(imul=50))
    assert outcome.result is not None and cheap.result is not None
    assert cheap.result.instructions == outcome.result.instructions
    assert cheap.result.user_cycles > outcome.result.user_cycles + 10000 * 40


def test_instruction_budget_stops_the_guest() -> None:
    outcome = run_in_coffer(build("compute"), ["10000000"], instruction_limit=1_000_000)
    assert outcome.status == 128 + signal.SIGXCPU
    assert outcome.result is not None
    # Stopped at the first block boundary at or past the budget.
    assert 1_000_000 <= outcome.result.instructions < 1_000_000 + 100


def test_fault_does_not_count_the_faulting_instruction() -> None:
    outcome = run_in_coffer(build("segv"))
    assert outcome.status == 128 + signal.SIGSEGV
    assert outcome.result is not None and outcome.result.exit_status.core_dumped


def test_functional_mode_counts_nothing_but_runs_the_same() -> None:
    counted = run_in_coffer(build("compute"), ["5000"])
    functional = run_in_coffer(build("compute"), ["5000"], count_instructions=False)
    assert functional.stdout == counted.stdout
    assert functional.result is not None and functional.result.instructions == 0


def test_functional_mode_runs_programs_that_block_and_fork() -> None:
    """A blocking call takes back its SYSCALL instruction from the counter; with counting
    off the counter is 0, and it once wrapped round to 2^64 and the next slice's budget
    raised OverflowError."""
    counted = run_in_coffer(build("pipeline"), ["3"])
    functional = run_in_coffer(build("pipeline"), ["3"], count_instructions=False)
    assert counted.status == 0
    assert (functional.status, functional.stdout) == (counted.status, counted.stdout)
    assert functional.result is not None and functional.result.instructions == 0
