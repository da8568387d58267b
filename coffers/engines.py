"""Engine pools: wiped emulator engines kept for the next address space.

Starting a Unicorn engine costs milliseconds and about a megabyte of host memory
(:data:`cofferos.coffers.mm.ENGINE_BYTES`); wiping one (:meth:`Cpu.reset
<cofferos.isa.cpu.Cpu.reset>`: no guest memory, no block costs, pristine
registers) is cheap, because its empty blocks stay mapped in the engine, parked,
and the code it translated stays where the next program maps the same bytes
(:mod:`cofferos.isa.wipe`). When a process ends, its engine is wiped at once and
goes back to a pool, and the next process created takes it: the next coffer's
``@hello`` finds its code translated.

A pool holds only *wiped* engines: no guest memory, no registers, no task, so an
engine carries nothing of one kernel's state into another and a pool may be shared
by many coffers (as a host's memory is shared by its containers). The wipe is the
one place an engine's memory is given back: its host blocks, its block charges, the
frozen pages of fork's copy-on-write files and the shared objects its mappings
hold. (Wiping only when a pooled engine was taken again saved the unmap for engines
never reused, but the exit credited the memory to the accounts while the host kept
it: up to a pool's worth of ended processes' memory, :data:`DEFAULT_POOL_SIZE` times
a coffer's limit, resident and charged to no one.) Each coffer has a pool of its
own by default; a run of many containers
(:func:`cofferos.sim.experiment.run_mix`) gives them one shared pool, so that a
container that has ended hands its engine to the next one to start instead of
keeping it for the rest of the run: 10,000 coffers of ``@hello`` then hold a few
engines between them, not 10,000.

Engines differ in what was wired into them when they were made (the block
counter, the page-fault TLB hook), so a pool keeps them by that :data:`EngineKind`
and gives a coffer only an engine of its own kind. What a coffer binds to the
engine it takes (its trap, its clock, its cycle model) is set again by the coffer
each time (:meth:`cofferos.coffers.coffer.Coffer.new_cpu`).
"""

from __future__ import annotations

from cofferos.isa.cpu import Cpu

#: Wiped engines a pool keeps (per kind) by default: more are released to the host.
DEFAULT_POOL_SIZE = 8

#: What was wired into an engine when it was made: (counting, track_pages).
EngineKind = tuple[bool, bool]


class EnginePool:
    """Wiped engines waiting for an address space, at most ``size`` of each kind."""

    def __init__(self, size: int = DEFAULT_POOL_SIZE) -> None:
        self.size = size
        self._free: dict[EngineKind, list[Cpu]] = {}
        self.made = 0  #: engines made for lack of a pooled one (what the pool saved: reused)
        self.reused = 0  #: engines handed out again

    def __len__(self) -> int:
        return sum(len(engines) for engines in self._free.values())

    def take(self, kind: EngineKind) -> Cpu | None:
        """A wiped engine of ``kind``, or None (the caller makes one and counts it)."""
        engines = self._free.get(kind)
        if not engines:
            return None
        self.reused += 1
        return engines.pop()

    def note_made(self) -> None:
        self.made += 1

    def has_room(self, kind: EngineKind) -> bool:
        """Would :meth:`give` keep an engine of ``kind`` now (else it drops it)?"""
        return len(self._free.get(kind, ())) < self.size

    def give(self, cpu: Cpu, kind: EngineKind) -> None:
        """Keep a wiped engine (beyond :attr:`size` of its kind it is dropped: the host
        gets its memory back when nothing refers to it)."""
        engines = self._free.setdefault(kind, [])
        if len(engines) < self.size:
            engines.append(cpu)
        else:  # (an engine in a reference cycle waits for the collector: not its copy)
            cpu.forget_kept_code()
