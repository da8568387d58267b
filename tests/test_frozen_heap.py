"""sim/frozen_heap.py: a timed run's objects are frozen for the run and only then."""

import gc

from cofferos.sim.frozen_heap import frozen_heap


def test_objects_alive_on_entry_are_frozen_for_the_block_only() -> None:
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_unfrozen_after_an_exception() -> None:
    try:
        with frozen_heap():
            raise ValueError("the run failed")
    except ValueError:
        pass
    assert gc.get_freeze_count() == 0


def test_a_callers_own_freeze_is_left_alone() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
