"""Ctrl-C held over a block of code that must not be interrupted half-way.

Used around the first import of the simulator (a sweep's spec check, the local
executor's forkserver start): the imports compile code through llvmlite, whose
ctypes callbacks swallow a KeyboardInterrupt, so a Ctrl-C there would print a
traceback and be lost instead of stopping the command. The mechanism lives with the
engine's own interrupt handling, in :mod:`cofferos.isa.interrupts`.
"""

from __future__ import annotations

from cofferos.isa.interrupts import held_interrupts

__all__ = ["held_interrupts"]
