"""The per-block instruction and cycle counter, compiled to native code.

Every guest instruction is counted, exactly, without slowing the guest to a
crawl. Unicorn calls a ``UC_HOOK_BLOCK`` callback each time a translated basic
block starts; a Python callback there runs at about 5 MIPS, so this one is a numba
``cfunc`` registered through Unicorn's C API. It looks the block up in an
open-addressing hash table (key: block address and size, value: instruction count
and user cycles, stored side by side so a hit touches one cache line) and adds
the two numbers to the counters. A miss, once per distinct block, calls back
into Python, which disassembles the block with capstone
(:class:`cofferos.isa.costs.BlockCoster`), fills the table and returns.

Everything the compiled hook touches lives in one ``uint64`` control array per
CPU (layout below); the compiled function itself holds no state, so it is
compiled once per process (and cached on disk) and shared by every CPU. The
miss handler and ``uc_emu_stop`` are reached through function pointers stored in
the control array, which keeps the compiled code free of process addresses.

Besides counting, the hook enforces an instruction budget: when the counter
has reached ``CTL_LIMIT`` at the start of a block, the block is not counted and
emulation stops there, so a scheduler can run a task for a bounded slice and
resume it at exactly that block.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic

# Layout of the control array shared between Python and the compiled hook.
CTL_INSNS = 0  #: instructions executed (counted at block entry)
CTL_CYCLES = 1  #: user-mode cycles of those instructions
CTL_TABLE = 2  #: address of the hash table: (key, value) pairs of uint64, side by side
CTL_SPARE = 3  #: unused (keeps the layout stable for readers of old notes)
CTL_MASK = 4  #: number of slots - 1 (the number of slots is a power of two)
CTL_LAST_ADDR = 5  #: address of the block entered last (to un-count its tail on a fault)
CTL_LAST_SIZE = 6  #: size in bytes of that block
CTL_LIMIT = 7  #: stop before the first block that starts at or past this many instructions
CTL_MISS_FN = 8  #: address of the Python miss handler: void(ctl*, address, size)
CTL_STOP_FN = 9  #: address of uc_emu_stop: int(uc_engine*)
CTL_STOPPED = 10  #: set to 1 by the hook when it stopped emulation for the budget
CTL_RECENT_KEY = 11  #: key of the block counted last: a loop that is one block hits here
CTL_RECENT_VALUE = 12  #: its value, so the repeat costs no table probe
CTL_WORDS = 13

#: No budget: a limit the counter never reaches.
NO_LIMIT = (1 << 64) - 1

KEY_SHIFT = 16  #: key = address << KEY_SHIFT | size; a translated block is < 64 KiB
VALUE_SHIFT = 32  #: value = cycles << VALUE_SHIFT | instructions
LOW32 = (1 << 32) - 1
HASH_SHIFT = 12  #: slot = (address ^ address >> 12) & mask: mixes page and offset bits,
#: two ALU operations where a multiplicative hash would cost a 3-cycle imul
INITIAL_SLOTS = 1 << 12

#: Where numba keeps the compiled hook between processes. Its default is the
#: package's own ``__pycache__``, which ``pip uninstall`` leaves behind and which then
#: shadows a later install; a user cache directory does not. ``NUMBA_CACHE_DIR``, when
#: set, still wins (numba read it at import).
NUMBA_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "cofferos-sim"
NUMBA_CACHE /= "numba"
if not os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = str(NUMBA_CACHE)
MAX_LOAD_NUMERATOR, MAX_LOAD_DENOMINATOR = 1, 2  #: grow when the table is half full

MISS_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32)


@intrinsic
def _as_u64_pointer(typingctx, address):  # type: ignore[no-untyped-def]
    """Reinterpret an integer held in the control array as a ``uint64*``."""
    sig = types.CPointer(types.uint64)(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@intrinsic
def _as_control(typingctx, user_data):  # type: ignore[no-untyped-def]
    """View the hook's ``void *user_data`` as the ``uint64*`` control array."""
    sig = types.CPointer(types.uint64)(types.voidptr)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@intrinsic
def _call_miss(typingctx, fn, ctl, address, size):  # type: ignore[no-untyped-def]
    """Call the miss handler whose address is ``fn``: void(void*, u64, u32)."""
    sig = types.void(types.uint64, types.voidptr, types.uint64, types.uint32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p, ir.IntType(64), ir.IntType(32)])
        fnptr = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(fnptr, [args[1], args[2], args[3]])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _call_stop(typingctx, fn, uc):  # type: ignore[no-untyped-def]
    """Call ``uc_emu_stop(uc)`` through its address ``fn``."""
    sig = types.void(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [i8p])
        fnptr = builder.inttoptr(args[0], fnty.as_pointer())
        builder.call(fnptr, [builder.inttoptr(args[1], i8p)])
        return context.get_dummy_value()

    return sig, codegen


@numba.cfunc(types.void(types.uint64, types.uint64, types.uint32, types.voidptr), cache=True)
def block_hook(uc, address, size, user_data):  # type: ignore[no-untyped-def]
    """UC_HOOK_BLOCK callback: count the block's instructions and cycles.

    Plain pointer arithmetic, no array objects: this runs once per executed block.
    """
    ctl = _as_control(user_data)
    if ctl[CTL_INSNS] >= ctl[CTL_LIMIT]:
        ctl[CTL_STOPPED] = 1
        _call_stop(ctl[CTL_STOP_FN], uc)
        return
    key = (address << numba.uint64(KEY_SHIFT)) | numba.uint64(size)
    ctl[CTL_LAST_ADDR] = address
    ctl[CTL_LAST_SIZE] = size
    if key == ctl[CTL_RECENT_KEY]:
        value = ctl[CTL_RECENT_VALUE]
        ctl[CTL_INSNS] += value & numba.uint64(LOW32)
        ctl[CTL_CYCLES] += value >> numba.uint64(VALUE_SHIFT)
        return
    for _attempt in range(2):
        mask = ctl[CTL_MASK]
        table = _as_u64_pointer(ctl[CTL_TABLE])
        slot = (address ^ (address >> numba.uint64(HASH_SHIFT))) & mask
        while True:
            probe = table[slot << numba.uint64(1)]
            if probe == key:
                value = table[(slot << numba.uint64(1)) | numba.uint64(1)]
                ctl[CTL_RECENT_KEY] = key
                ctl[CTL_RECENT_VALUE] = value
                ctl[CTL_INSNS] += value & numba.uint64(LOW32)
                ctl[CTL_CYCLES] += value >> numba.uint64(VALUE_SHIFT)
                return
            if probe == 0:
                break
            slot = (slot + numba.uint64(1)) & mask
        _call_miss(ctl[CTL_MISS_FN], user_data, address, size)


def _slot_of(key: int, mask: int) -> int:
    address = key >> KEY_SHIFT
    return (address ^ (address >> HASH_SHIFT)) & mask


class BlockCounter:
    """One CPU's counters and block-cost table, shared with the compiled hook.

    ``cost_of(address, size)`` supplies (instructions, cycles) for a block on a
    miss; the owner (the CPU) reads guest memory and asks the cost model.
    """

    def __init__(self, cost_of: Callable[[int, int], tuple[int, int]], stop_fn: int) -> None:
        self.ctl = np.zeros(CTL_WORDS, dtype=np.uint64)
        self._cost_of = cost_of
        self._table = np.zeros((INITIAL_SLOTS, 2), dtype=np.uint64)  # rows of (key, value)
        self._used = 0
        self._install_table()
        self._miss_cb = MISS_HANDLER(self._on_miss)  # kept alive as long as the counter
        self.ctl[CTL_MISS_FN] = ctypes.cast(self._miss_cb, ctypes.c_void_p).value or 0
        self.ctl[CTL_STOP_FN] = stop_fn
        self.ctl[CTL_LIMIT] = NO_LIMIT
        self.miss_error: BaseException | None = None

    # -- the table -------------------------------------------------------------
    def _install_table(self) -> None:
        self.ctl[CTL_TABLE] = self._table.ctypes.data
        self.ctl[CTL_MASK] = len(self._table) - 1

    def _insert(self, key: int, value: int) -> None:
        table, mask = self._table, len(self._table) - 1
        slot = _slot_of(key, mask)
        while table[slot, 0] != 0 and table[slot, 0] != key:
            slot = (slot + 1) & mask
        if table[slot, 0] == 0:
            self._used += 1
        table[slot] = (key, value)

    def _grow(self) -> None:
        old = self._table
        self._table = np.zeros((len(old) * 2, 2), dtype=np.uint64)
        self._used = 0
        for key, value in old.tolist():
            if key:
                self._insert(key, value)
        self._install_table()

    def _on_miss(self, _ctl: int, address: int, size: int) -> None:
        try:
            insns, cycles = self._cost_of(address, size)
            self.remember(address, size, insns, cycles)
        except BaseException as exc:  # noqa: BLE001 - a ctypes callback must never raise
            # Count the block as one instruction so the hook's retry terminates;
            # the CPU reports the error once emulation has stopped.
            self.miss_error = exc
            self.remember(address, size, 1, 1)

    def remember(self, address: int, size: int, insns: int, cycles: int) -> None:
        """Store the cost of the block at ``address`` of ``size`` bytes."""
        if (self._used + 1) * MAX_LOAD_DENOMINATOR > len(self._table) * MAX_LOAD_NUMERATOR:
            self._grow()
        self._insert((address << KEY_SHIFT) | size, (cycles << VALUE_SHIFT) | insns)

    def copy_table_from(self, other: BlockCounter) -> None:
        """fork: the child's code is the parent's, so are its block costs."""
        self.load_table(other._table)

    def table_copy(self) -> np.ndarray:
        return self._table.copy()

    def load_table(self, table: np.ndarray) -> None:
        """Start from a saved table of block costs (same code at the same addresses)."""
        self._table = table.copy()
        self._used = int(np.count_nonzero(self._table[:, 0]))
        self._install_table()
        self.ctl[CTL_RECENT_KEY] = 0

    def forget_all(self) -> None:
        """Drop every cached block cost (code was unmapped or rewritten)."""
        self._table = np.zeros((INITIAL_SLOTS, 2), dtype=np.uint64)
        self._used = 0
        self._install_table()
        self.ctl[CTL_RECENT_KEY] = 0

    # -- counters --------------------------------------------------------------
    @property
    def instructions(self) -> int:
        return int(self.ctl[CTL_INSNS])

    @property
    def cycles(self) -> int:
        return int(self.ctl[CTL_CYCLES])

    def uncount(self, insns: int, cycles: int) -> None:
        """Take back instructions that were counted at block entry but never ran."""
        self.ctl[CTL_INSNS] -= np.uint64(insns)
        self.ctl[CTL_CYCLES] -= np.uint64(cycles)

    def add(self, insns: int, cycles: int) -> None:
        """Count instructions that ran outside a counted block (a re-counted SYSCALL)."""
        self.ctl[CTL_INSNS] += np.uint64(insns)
        self.ctl[CTL_CYCLES] += np.uint64(cycles)

    def set_budget(self, instructions: int | None) -> None:
        """Stop emulation before the first block starting at or past ``instructions``."""
        self.ctl[CTL_STOPPED] = 0
        self.ctl[CTL_LIMIT] = NO_LIMIT if instructions is None else instructions

    @property
    def stopped_for_budget(self) -> bool:
        return bool(self.ctl[CTL_STOPPED])

    @property
    def last_block(self) -> tuple[int, int]:
        return int(self.ctl[CTL_LAST_ADDR]), int(self.ctl[CTL_LAST_SIZE])

    @property
    def user_data(self) -> int:
        return int(self.ctl.ctypes.data)
