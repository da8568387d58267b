"""Ctrl-C while guest code runs: a request to stop the engine, raised once it has stopped.

Unicorn calls Python through ctypes (the SYSCALL trap, the block-miss handler, the TLB
fill and fault hooks), and an exception raised inside such a callback is printed
("Exception ignored on calling ctypes callback function") and dropped: a
KeyboardInterrupt that lands there is lost, the run goes on, and worse, the block
being costed may be recorded with a made-up cost. So while :func:`interruptible` is
in force, SIGINT does not raise where it lands:

* when no engine is running (the kernel, the scheduler, the CLI), it raises
  KeyboardInterrupt at once, as Python's own handler does, unless it landed in a
  finalizer (a ``weakref.finalize`` callback or a ``__del__``, run by the garbage
  collector at any moment), where Python would print it and drop it: then it is
  only recorded, and raised by the next engine run or when the interruptible
  block ends;
* while :meth:`cofferos.isa.cpu.Cpu.run` is inside ``emu_start``, it only records the
  request and asks the running engine to stop (``uc_emu_stop``, which Unicorn allows
  from a callback); :meth:`~cofferos.isa.cpu.Cpu.run` raises KeyboardInterrupt once
  ``emu_start`` has returned, outside every callback.

The hot paths (the compiled per-block counter, the SYSCALL trap) do no new work: the
flag is looked at only where emulation returns.

:func:`held_interrupts` covers the other place Python is called through ctypes: numba
compiling or loading the fallback block hook through llvmlite
(:mod:`cofferos.isa.native.jit`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Protocol


class _Stoppable(Protocol):
    def stop(self) -> None: ...


class EmulationState:
    """The engine running now (None: none) and whether Ctrl-C asked it to stop."""

    running: _Stoppable | None = None
    requested: bool = False


STATE = EmulationState()


def _in_finalizer(frame: FrameType | None) -> bool:
    """Is ``frame`` (or a caller of it) a finalizer, where an exception is dropped?"""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or (code.co_name == "__call__"
                                         and code.co_filename.endswith("weakref.py")):
            return True
        frame = frame.f_back
    return False


def _on_sigint(_signum: int, frame: FrameType | None) -> None:
    engine = STATE.running
    if engine is None:
        if _in_finalizer(frame):
            STATE.requested = True
            return
        raise KeyboardInterrupt
    STATE.requested = True
    engine.stop()


def take_request() -> bool:
    """Whether Ctrl-C asked the engine to stop since the last call (and forget it)."""
    if not STATE.requested:
        return False
    STATE.requested = False
    return True


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGINT stops the running engine and raises KeyboardInterrupt outside any callback.

    A no-op outside the main thread or when SIGINT is ignored (a child of a sweep).
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    STATE.requested = False
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if take_request():  # recorded in a finalizer, and no engine ran since to raise it
        raise KeyboardInterrupt
        STATE.running, STATE.requested = None, False


@contextmanager
def held_interrupts() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise KeyboardInterrupt.

    For imports of the simulator: they compile code through llvmlite, whose ctypes
    callbacks swallow a KeyboardInterrupt ("Exception ignored on calling ctypes callback
    function"), so Ctrl-C then would print a traceback and be lost. A no-op outside the
    main thread or when SIGINT is ignored.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt
