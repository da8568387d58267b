"""Keeping the garbage collector's work in a timed run to what the run makes.

A timed run builds its machine, coffers, engines and kernel objects first and then
runs for a long time; CPython's full collections would walk all of them again and
again and find nothing (no cyclic garbage was found in a run of 64 containers of
@metadata with ``gc.DEBUG_SAVEALL``). :func:`frozen_heap` moves the objects alive on
entry to the permanent generation (``gc.freeze``) and back on exit, where any of them
that became garbage meanwhile is collected as usual (issue #17).

Meanwhile the young generation is collected every :data:`YOUNG_THRESHOLD` container
allocations instead of CPython's 700: a slice's records of its calls (one tuple a
call, thousands in a slice of cheap calls) live until the slice's replay, and at 700
a young collection ran every 700 calls and walked them (about 7 of them a slice of
getppid calls); at the larger threshold there are a fourteenth as many, and most
records are freed before one sees them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: The young generation's threshold during a timed run: more than the records of a
#: slice of 100,000 instructions of getppid calls (about 5,000).
YOUNG_THRESHOLD = 10_000


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects alive now for the ``with`` block; a caller's own freeze (a
    non-empty permanent generation) is left alone, and then nothing is unfrozen. The
    young generation's threshold is at least :data:`YOUNG_THRESHOLD` in the block."""
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if freezing:
            gc.unfreeze()
