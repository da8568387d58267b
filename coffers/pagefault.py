"""A coffer's page faults: a guest's first use of each mapped page, counted and charged.

The CPU shows the kernel each first touch of a page since it was mapped: every
TLB miss (the Python TLB hook: :meth:`PageFaults._tlb_fill` asks the address
space), one callback per first use (:meth:`PageFaults._first_touch`), or the C
hook's log of them, each at the counter's cycles then (:meth:`PageFaults._first_touches`,
:mod:`cofferos.isa.touchlog`). Each fault is counted in the kernel's statistics,
charged ``page_fault_cycles`` to its task, and recorded (as call
:data:`PAGE_FAULT_EVENT`) for a timing machine's replay.

:class:`PageFaults` is a part of :class:`cofferos.coffers.coffer.Coffer`, which
binds these callbacks to each engine it takes (``Coffer._bind_engine``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofferos.coffers import locktrace

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.isa.cpu import Cpu

PAGE_FAULT_EVENT = 1 << 20  #: the recorder's "call number" for a page fault (no real call)


class PageFaults:
    """The page faults of a :class:`~cofferos.coffers.coffer.Coffer` (a part of it)."""

    def _tlb_fill(self: Coffer, cpu: Cpu, address: int) -> int | None:
        """A TLB miss: the page's protection; its first use is a page fault, charged."""
        task = cpu.task
        if task is None:
            return None
        mm = task.mm  # type: ignore[attr-defined]
        prot = mm.protection_at(address)
        if prot is not None and mm.first_touch(address):
            self._page_fault(cpu, task)
        return prot

    def _first_touch(self: Coffer, cpu: Cpu, _address: int) -> None:
        """The first use of a mapped page, as the compiled TLB hook tells it: a page fault."""
        task = cpu.task
        if task is not None:
            self._page_fault(cpu, task)

    def _first_touches(self: Coffer, cpu: Cpu, at_cycles: list[int]) -> None:
        """First touches the C hook logged (isa/touchlog.py), each at the counter's
        cycles then: charged and recorded as :meth:`_page_fault` does one by one."""
        task = cpu.task
        if task is None:
            return
        cycles = self.page_fault_cycles
        if not isinstance(cycles, int):  # (a float cost: summed in the same order)
            for at in at_cycles:
                self._page_fault(cpu, task, at)
            return
        faults = len(at_cycles)
        self.stats.page_faults += faults
        task.mm.faulted_pages += faults  # type: ignore[attr-defined]
        task.charge(cycles * faults)  # type: ignore[attr-defined]
        recorder = self.dispatcher.recorder
        if recorder is not None:
            locks = locktrace.fault_records(self) if locktrace.trace is not None else ()
            recorder.extend([(task, PAGE_FAULT_EVENT, at, cycles, locks) for at in at_cycles])

    def _page_fault(self: Coffer, cpu: Cpu, task: object, at: int | None = None) -> None:
        """Count and charge one first-touch page fault of ``task`` (and record it for
        a timing machine's replay)."""
        self.stats.page_faults += 1
        task.mm.faulted_pages += 1  # type: ignore[attr-defined]
        cycles = self.page_fault_cycles
        task.charge(cycles)  # type: ignore[attr-defined]
        recorder = self.dispatcher.recorder
        if recorder is not None:  # (its locks only while a machine records them)
            locks = locktrace.fault_records(self) if locktrace.trace is not None else ()
            recorder.append((task, PAGE_FAULT_EVENT, cpu.counter.cycles if at is None else at,
                             cycles, locks))
