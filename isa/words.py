"""Arrays of machine words shared with the compiled hooks, without numpy.

The block counter's control words and cost table (:mod:`cofferos.isa.blockcount`),
the block map's per-page protections and TLB tables (:mod:`cofferos.isa.blockmap`)
and the first-touch log (:mod:`cofferos.isa.touchlog`) are read by C (or numba)
code through their addresses. They were numpy arrays, and ``import numpy`` was
60-90 ms of every command's start-up (issue #17); a ctypes array has a fixed
address as well, and a ``memoryview`` cast to the item's format reads and writes
its items as Python ints, with slices copied by C. numpy stays for what needs
vector arithmetic (fork's copy-on-write bookkeeping, the mca model, results), and
is imported there only when used.
"""

from __future__ import annotations

import ctypes
from typing import Final, Literal

Format = Literal["Q", "B", "b"]
#: memoryview formats of the item types used here (native sizes, as the C hooks see).
U64: Final = "Q"
U8: Final = "B"
I8: Final = "b"
_CTYPES = {U64: ctypes.c_uint64, U8: ctypes.c_uint8, I8: ctypes.c_int8}


def new_array(count: int, fmt: Format = U64, fill: int = 0) -> ctypes.Array:
    """``count`` zeroed items of ``fmt`` (or every byte ``fill``: item types of one byte)."""
    array = (_CTYPES[fmt] * count)()
    if fill:
        ctypes.memset(array, fill & 0xFF, ctypes.sizeof(array))
    return array


def items(array: ctypes.Array, fmt: Format = U64) -> memoryview:
    """``array``'s items as a memoryview of ``fmt``: indexing gives a Python int."""
    return memoryview(array).cast("B").cast(fmt)


def address(array: ctypes.Array) -> int:
    """Where the compiled code finds ``array``."""
    return ctypes.addressof(array)


def copy_of(data: bytes | memoryview, fmt: Format = U64) -> ctypes.Array:
    """A new array holding ``data``'s bytes (a saved table, another CPU's)."""
    raw = memoryview(data).cast("B")
    ctype = _CTYPES[fmt]
    return (ctype * (raw.nbytes // ctypes.sizeof(ctype))).from_buffer_copy(raw)
