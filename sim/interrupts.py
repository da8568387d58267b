"""Ctrl-C held over a block of code that must not be interrupted half-way.

Used around the first import of the simulator (a sweep's spec check, the local
executor's forkserver start): the imports compile code through llvmlite, whose
ctypes callbacks swallow a KeyboardInterrupt, so a Ctrl-C there would print a
traceback and be lost instead of stopping the command.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


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
