"""A loop that is one block, in its steady state, is counted as the full model counts it.

blockhook.c counts such a loop's iterations without running the predictor or the front
end's clock (``CTL_STEADY_KEY``, :mod:`cofferos.isa.layout`), once one more iteration
would change neither. Each test runs one sequence of blocks twice through the C hook:
as it comes, and with the steady state broken after every block (so every iteration
takes the full path), and the counters and the front end's clock after each block, and
the predictor at the end, must come out the same, to the unit.
"""

from __future__ import annotations

import ctypes

import pytest

from cofferos.isa import native
from cofferos.isa.blockcount import BlockCounter, cycle_units
from cofferos.isa.layout import (
    COUNTER_MAX,
    CTL_BRANCH_END,
    CTL_CYCLES,
    CTL_FETCH,
    CTL_HISTORY,
    CTL_INSNS,
    CTL_MISPREDICTS,
    CTL_STEADY_KEY,
    CTL_STEADY_LAG,
    HISTORY_MASK,
    KEY_SHIFT,
    PREDICTOR_MASK,
)

HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                        ctypes.c_void_p)
LOOP = 0x401000  #: a block of LOOP_SIZE bytes ending with a Jcc back to its start
LOOP_SIZE = 6
EXIT = LOOP + LOOP_SIZE  #: its fall-through: a block ending with a jump back to LOOP
#: Iterations of the loop in each round, over the ``iterations`` asked: rounds too short
#: to fill the history with taken branches leave it, and the loop's counter, mixed.
ROUNDS = (0, -50, 1, -45, 2, -40, 3)
PENALTY = 13


def _state(counter: BlockCounter) -> tuple[int, ...]:
    """The counter's words, with the front end's clock as it stands (in the steady state
    the counter's clock less the lag), read without settling it, and the predictor's
    counter for the loop's branch under an all-taken history."""
    ctl = counter.ctl
    fetch = ctl[CTL_CYCLES] - ctl[CTL_STEADY_LAG] if ctl[CTL_STEADY_KEY] else ctl[CTL_FETCH]
    assert counter._predictor is not None
    loop_counter = counter._predictor[(EXIT ^ HISTORY_MASK) & PREDICTOR_MASK]
    return (ctl[CTL_INSNS], ctl[CTL_CYCLES], fetch, ctl[CTL_HISTORY], ctl[CTL_MISPREDICTS],
            ctl[CTL_BRANCH_END], loop_counter)


def _run(loop_cycles: float, fetch_ahead: float, iterations: int, break_steady: bool,
         lag: float | None = None) -> tuple[list[tuple[int, ...]], bool]:
    """The counter's state after each block of ROUNDS rounds of the loop run about
    ``iterations`` times then left, and after the budget's kind of interruptions in the
    middle (cycles taken back, a re-counted instruction); and whether the steady state
    was ever entered. Broken after each block (its key cleared: the front end's clock is
    exact when the hook enters it), it is entered but never used. ``lag``: after the
    interruptions, the front end is put that many cycles behind the counter."""
    counter = BlockCounter(lambda _address, _size: (1, 1, False), stop_fn=0)
    counter.predict_branches(PENALTY, marked=True, fetch_ahead=fetch_ahead)
    counter.remember(LOOP, LOOP_SIZE, 3, loop_cycles, branch=True)
    counter.remember(EXIT, LOOP_SIZE, 2, 0.75)  # ends with a jump (a taken transfer)
    hook = HOOK(native.block_hook_address())
    steady = False
    trace = []
    for round_, more in enumerate(ROUNDS):
        for iteration in range(iterations + more):
            hook(None, LOOP, LOOP_SIZE, counter.user_data)
            steady = steady or counter.ctl[CTL_STEADY_KEY] != 0
            if break_steady:
                counter.ctl[CTL_STEADY_KEY] = 0
            trace.append(_state(counter))
            if iteration == iterations // 2:
                counter.uncount(1, 0.5)
                trace.append(_state(counter))
                counter.add(1, 2)
                trace.append(_state(counter))
                if lag is not None and round_ == 0:
                    counter.settle_fetch()
                    counter.ctl[CTL_FETCH] = counter.ctl[CTL_CYCLES] - cycle_units(lag)
                    trace.append(_state(counter))
        hook(None, EXIT, LOOP_SIZE, counter.user_data)
        if round_ % 2:  # a branch that shares the loop's counter has trained it
            counter._predictor[(EXIT ^ HISTORY_MASK) & PREDICTOR_MASK] = COUNTER_MAX
        trace.append(_state(counter))
    assert counter._predictor is not None
    trace.append(tuple(bytes(counter._predictor)))
    return trace, steady


@pytest.mark.parametrize("fetch_ahead", [0, 1, 16])
@pytest.mark.parametrize("loop_cycles", [1, 2.5, 6.125])
def test_the_steady_loop_counts_as_every_iteration_resolved(loop_cycles: float,
                                                             fetch_ahead: float) -> None:
    steady, entered = _run(loop_cycles, fetch_ahead, 60, break_steady=False)
    full, _ = _run(loop_cycles, fetch_ahead, 60, break_steady=True)
    assert entered
    assert steady == full


@pytest.mark.parametrize("lag", [None, 16.5])
def test_a_block_under_a_cycle_never_settles(lag: float | None) -> None:
    """Its front end gains on the back end (a redirect a cycle, the block less), so no
    lag is kept: no steady state, even from a lag that one iteration turns into the
    steady lag of a longer block (2b + A - T: blockhook.c's try_steady), and the counts
    are those of the full path."""
    steady, entered = _run(0.5, 16, 60, break_steady=False, lag=lag)
    assert not entered
    assert steady == _run(0.5, 16, 60, break_steady=True, lag=lag)[0]


def test_leaving_the_loop_ends_the_steady_state() -> None:
    counter = BlockCounter(lambda _address, _size: (1, 1, False), stop_fn=0)
    counter.predict_branches(PENALTY, marked=True, fetch_ahead=16)
    counter.remember(LOOP, LOOP_SIZE, 3, 4, branch=True)
    counter.remember(EXIT, LOOP_SIZE, 2, 1)
    hook = HOOK(native.block_hook_address())
    for _ in range(40):
        hook(None, LOOP, LOOP_SIZE, counter.user_data)
    assert counter.ctl[CTL_STEADY_KEY] == (LOOP << KEY_SHIFT) | LOOP_SIZE
    hook(None, EXIT, LOOP_SIZE, counter.user_data)
    assert counter.ctl[CTL_STEADY_KEY] == 0
    assert counter.mispredicts == 1  # the exit: predicted taken
