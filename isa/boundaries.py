"""Slice boundaries passed within one engine run (issue #17).

A timed run gives a task slices of ``slice_instructions`` and replays each in simulated
time; a slice costs a few microseconds of host time outside the guest (the engine's
start and stop, the scheduler's and the machine's Python). When nothing can happen
between two slices (no kernel code runs, no event is due), the C block hook
(:file:`native/blockhook.c`, ``pass_boundary``) notes the boundary instead of stopping
at it and runs on; the caller accounts the noted slices one by one afterwards, exactly
as it would have between engine runs. The kernel must not run while a boundary it has
not been told of lies behind the counter: :class:`Cpu` settles the noted boundaries
(:meth:`Cpu.settle_boundaries`) before any of its Python hooks that reach the kernel
(the system call trap, RDTSC, a full first-touch log) and when the engine stops.

The numba twin of the hook knows nothing of this: :func:`hook_passes` says whether the
hook in use does.
"""

from __future__ import annotations

from cofferos.isa import native, words
from cofferos.isa.blockcount import BlockCounter, cycle_units, whole_cycles
from cofferos.isa.layout import (
    CTL_PASS_CYCLES,
    CTL_PASS_LEFT,
    CTL_PASS_LOG,
    CTL_PASS_STEP,
    CTL_PASS_TOUCHED,
    CTL_PASSED,
)

#: Boundaries one engine run may pass: @compute's 570 slices in about 60 engine runs.
MAX_PASSES = 15


class BoundaryLog:
    """One CPU's noted boundaries: the C hook writes them, :meth:`take` reads them."""

    def __init__(self, counter: BlockCounter) -> None:
        self._array = words.new_array(2 * MAX_PASSES)
        self._items = words.items(self._array)
        self._ctl = counter.ctl
        self._ctl[CTL_PASS_LOG] = words.address(self._array)

    def allow(self, step: int, cycle_bound: int, touched_address: int) -> None:
        """Pass up to :data:`MAX_PASSES` boundaries, each ``step`` instructions after
        the last, while the counter's whole cycles are below ``cycle_bound`` and no
        first touch is logged in the word at ``touched_address`` (0: none to watch)."""
        ctl = self._ctl
        ctl[CTL_PASSED] = 0
        ctl[CTL_PASS_STEP] = step
        ctl[CTL_PASS_CYCLES] = min(cycle_units(cycle_bound), (1 << 64) - 1)
        ctl[CTL_PASS_TOUCHED] = touched_address
        ctl[CTL_PASS_LEFT] = MAX_PASSES

    def take(self) -> list[tuple[int, int]]:
        """Stop passing; the boundaries noted since :meth:`allow`, as (instructions,
        whole cycles) at each, in order."""
        ctl = self._ctl
        ctl[CTL_PASS_LEFT] = 0
        passed = ctl[CTL_PASSED]
        if not passed:
            return []
        ctl[CTL_PASSED] = 0
        items = self._items
        return [(items[2 * i], whole_cycles(items[2 * i + 1])) for i in range(passed)]


def hook_passes() -> bool:
    """Does the block hook in use pass boundaries (the C build; not numba's twin, which
    stops at every budget as before: allowing it to pass changes nothing there)?"""
    return native.C_BLOCK_HOOK_IN_USE
