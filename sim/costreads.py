"""Which constants of the cost model a run reads: the proof behind the variations that
``coffersim sensitivity`` does not run.

The simulator is deterministic: a run that never reads a constant follows the same path,
bit for bit, whatever that constant's value. Within :func:`recording`, every read that
can reach a run's outcome is noted with the value read:

* a scalar figure of the kernel costs (``wakeup``, ``page_cache_miss`` ...): every
  coffer created reads its :class:`~cofferos.sim.costmodel.KernelCosts` through a
  :class:`RecordingCosts` (``Coffer.__init__`` asks :func:`costs_for`);
* a system call's work (``call.NAME``): its cycles are bound once per coffer for every
  call in the table, so what counts is which calls a coffer completed (its
  ``stats.calls``, read when recording ends: :func:`watch_calls`);
* an architecture constant (``arch.FIELD``): the architectures are swapped for
  :class:`RecordingArchitecture` copies while recording;
* a lock's hold times (``lock.NAME``) and the cache-line hand-off (``lock.handoff``):
  the lock instances a timing machine created (:func:`watch_locks`, read at the end,
  as ``validate --sensitivity`` reads them by lock name).

:func:`untouched` then says whether a variation can change a run: not when none of
its keys was read, nor when every value read is the value the variation gives it (an
architecture constant that is 0 in every architecture run stays 0 at x0.5 and x2).
Reads are over-approximated (a figure read to build a table counts even if the entry
is never used), never missed: a constant found unread provably cannot change the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cofferos.sim.costmodel import NOT_OVERRIDABLE, KernelCosts
from cofferos.sim.kernels import ARCH_PREFIX, OVERRIDABLE, KernelArchitecture

CALL_PREFIX = "call."
LOCK_PREFIX = "lock."
HANDOFF = "lock.handoff"  #: kernel_locks.HANDOFF_KEY under its --cost prefix
#: A read whose value is not recorded (a lock's holds: several rules, several values).
UNKNOWN = None
#: The scalar figures of KernelCosts that a run reads by attribute.
COST_FIELDS = frozenset(f.name for f in dataclasses.fields(KernelCosts)) - NOT_OVERRIDABLE
ARCH_FIELDS = frozenset(OVERRIDABLE)

Reads = dict[str, set[Any]]
"""Each key read (``wakeup``, ``call.read``, ``arch.io_exit``, ``lock.i_mutex``) -> the
values read (``UNKNOWN`` where the value is not one number)."""


class _Recorder:
    def __init__(self) -> None:
        self.reads: Reads = {}
        self.dispatchers: list[tuple[Any, Any, Any]] = []  # (stats, table, costs)
        self.lock_tables: list[Any] = []

    def note(self, key: str, value: Any) -> None:
        self.reads.setdefault(key, set()).add(value)

    def finish(self) -> Reads:
        for stats, table, costs in self.dispatchers:
            for nr, count in enumerate(stats.calls):
                entry = table.entries[nr] if nr < len(table.entries) else None
                if count and entry is not None:
                    self.note(CALL_PREFIX + entry.name,
                              object.__getattribute__(costs, "work")(entry.name))
        for locks in self.lock_tables:
            for instance in locks.locks.values():
                self.note(LOCK_PREFIX + instance.name.split("@", 1)[0].split("#", 1)[0],
                          UNKNOWN)
                self.note(HANDOFF, locks.handoff_cycles)
        return self.reads


_recorder: _Recorder | None = None


class RecordingCosts(KernelCosts):
    """Kernel costs that note each scalar figure read (only while :func:`recording`)."""

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if name in COST_FIELDS and _recorder is not None:
            _recorder.note(name, value)
        return value


class RecordingArchitecture(KernelArchitecture):
    """An architecture that notes each constant read (only while :func:`recording`)."""

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if name in ARCH_FIELDS and _recorder is not None:
            _recorder.note(ARCH_PREFIX + name, value)
        return value


def _copy_as(kind: type, original: Any) -> Any:
    """``original``'s fields in an instance of ``kind``, read past any recording (and
    without touching ``original.__dict__``, which would give it a dict of its own that
    every coffer sharing the frozen original would then reach)."""
    copy = object.__new__(kind)
    for item in dataclasses.fields(original):
        object.__setattr__(copy, item.name, object.__getattribute__(original, item.name))
    return copy


def costs_for(costs: KernelCosts) -> KernelCosts:
    """The costs a new coffer reads: ``costs`` itself, or a recording copy of them."""
    if _recorder is None or isinstance(costs, RecordingCosts):
        return costs
    return _copy_as(RecordingCosts, costs)


def watch_calls(stats: Any, table: Any, costs: KernelCosts) -> None:
    """A coffer's dispatcher: the calls it completes (``stats.calls``) read their work."""
    if _recorder is not None:
        _recorder.dispatchers.append((stats, table, costs))


def watch_locks(locks: Any) -> None:
    """A timing machine's lock table: each lock it creates reads that lock's holds."""
    if _recorder is not None:
        _recorder.lock_tables.append(locks)


def note(key: str, value: Any) -> None:
    """A read made from costs no coffer holds (a machine's clock from a base config)."""
    if _recorder is not None:
        _recorder.note(key, value)


def active() -> bool:
    return _recorder is not None


@contextmanager
def recording() -> Iterator[Reads]:
    """Within: every read is noted; the dict yielded is filled when the block ends."""
    from cofferos.sim import kernels

    global _recorder
    if _recorder is not None:
        raise RuntimeError("costreads.recording() does not nest")
    found: Reads = {}
    saved = dict(kernels.ARCHITECTURES)
    _recorder = _Recorder()
    kernels.ARCHITECTURES.update({name: _copy_as(RecordingArchitecture, arch)
                                  for name, arch in saved.items()})
    try:
        yield found
    finally:
        recorder, _recorder = _recorder, None
        kernels.ARCHITECTURES.update(saved)
        found.update(recorder.finish())


def untouched(keys: tuple[str, ...], after: Callable[[str, Any], Any], reads: Reads) -> bool:
    """Whether a variation that sets each of ``keys`` leaves a run that read ``reads`` as
    it was: for every key read, every value read is the value the variation gives it
    (``after(key, value)``; ``UNKNOWN`` when it cannot say): 0 stays 0 at x0.5 and x2."""
    for key in keys:
        for value in reads.get(key, ()):
            if value is UNKNOWN or after(key, value) != value:
                return False
    return True
