"""Keeping a run's long-lived objects out of the garbage collector's full collections.

A timed run builds its machine, coffers, engines and kernel objects first and then
runs for a long time; CPython's full collections would walk all of them again and
again and find nothing (no cyclic garbage was found in a run of 64 containers of
@metadata with ``gc.DEBUG_SAVEALL``). :func:`frozen_heap` moves the objects alive on
entry to the permanent generation (``gc.freeze``) and back on exit, where any of them
that became garbage meanwhile is collected as usual (issue #17).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects alive now for the ``with`` block; a caller's own freeze (a
    non-empty permanent generation) is left alone, and then nothing is unfrozen."""
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    try:
        yield
    finally:
        if freezing:
            gc.unfreeze()
