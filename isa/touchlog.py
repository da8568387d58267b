"""The log of first-touch page faults the compiled TLB hook keeps for the kernel.

A timing run counts the first use of each mapped page as a page fault
(``tlb_fill_track_hook`` in :file:`native/tlbhook.c`). Calling into Python at
each one, through a ctypes callback, cost a memory-bound guest a fifth of its
functional run (issue #17: 65,749 faults for ``@memtouch 128``). With a log, the
hook writes down the block counter's cycles at the fault, the one figure the
kernel's record of the fault needs (:meth:`cofferos.coffers.coffer.Coffer._page_fault`),
and the kernel takes the whole log whenever Python next runs on this CPU: at a
system call's trap, at RDTSC, on a full log, and when the engine stops
(:meth:`cofferos.isa.cpu.Cpu.take_touches`). Nothing in the kernel can look at
its counts in between (no kernel code runs while the guest does), so every
figure is the same as with a callback per fault, in the same order.
"""

from __future__ import annotations

from cofferos.isa import words
from cofferos.isa.blockcount import whole_cycles_of
from cofferos.isa.blockmap import TLB_CYCLES, TLB_LOG, TLB_LOG_CAP, TLB_LOGGED

#: Faults the log holds before the hook calls Python (32 KiB per engine that counts).
LOG_ENTRIES = 4096


class TouchLog:
    """One engine's log: words of its block map's ``tlb_ctl`` point the hook at it."""

    def __init__(self, tlb_ctl: memoryview, cycles_address: int) -> None:
        self._entries = words.new_array(LOG_ENTRIES)
        self._entry_items = words.items(self._entries)
        self._ctl = tlb_ctl
        #: ``tlb_ctl``, a memoryview of words: reading the count gives an int, cheaply
        #: (its check runs on every system call of an engine that counts).
        self.words = tlb_ctl
        tlb_ctl[TLB_LOG_CAP] = LOG_ENTRIES
        tlb_ctl[TLB_CYCLES] = cycles_address
        tlb_ctl[TLB_LOGGED] = 0

    def enable(self, on: bool) -> None:
        """Log faults (True), or call the CPU's per-fault callback for each (False)."""
        self._ctl[TLB_LOG] = words.address(self._entries) if on else 0

    def take(self) -> list[int]:
        """The cycles of the faults logged since the last take, oldest first; empties
        the log. (The hook logs the counter's fixed-point word: whole cycles here, as
        :attr:`cofferos.isa.blockcount.BlockCounter.cycles` reads it.)"""
        logged = self.words[TLB_LOGGED]
        if not logged:
            return []
        cycles = whole_cycles_of(self._entry_items[:logged].tolist())
        self.words[TLB_LOGGED] = 0
        return cycles
