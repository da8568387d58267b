"""The block hook compiled by numba: the fallback when no C compiler is available.

The same function as :file:`blockhook.c` (see :mod:`cofferos.isa.native`), written
in numba's Python subset and compiled to a ``cfunc`` whose address Unicorn calls.
Importing numba and loading its cached code costs about half a second, which is why
the C build is preferred; ``COFFERSIM_BLOCK_HOOK=numba`` selects this one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba
from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic

from cofferos.isa.layout import (
    BRANCH_FLAG,
    COUNTER_MAX,
    COUNTER_TAKEN,
    CTL_BRANCH_END,
    CTL_CYCLES,
    CTL_FETCH,
    CTL_FETCH_AHEAD,
    CTL_HISTORY,
    CTL_INSNS,
    CTL_LAST_ADDR,
    CTL_LAST_SIZE,
    CTL_LIMIT,
    CTL_MASK,
    CTL_MISPREDICT_CYCLES,
    CTL_MISPREDICTS,
    CTL_MISS_FN,
    CTL_PREDICTOR,
    CTL_RECENT_KEY,
    CTL_RECENT_VALUE,
    CTL_STOP_FN,
    CTL_STOPPED,
    CTL_TABLE,
    HASH_SHIFT,
    HISTORY_MASK,
    INSN_MASK,
    KEY_SHIFT,
    PREDICTOR_MASK,
    TAKEN_BRANCH_UNITS,
    TRANSFER_FLAG,
    VALUE_SHIFT,
)

#: Where numba keeps the compiled hook between processes. Its default is the
#: package's own ``__pycache__``, which ``pip uninstall`` leaves behind and which then
#: shadows a later install; a user cache directory does not. ``NUMBA_CACHE_DIR``, when
#: set, still wins (numba read it at import).
NUMBA_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "cofferos-sim"
NUMBA_CACHE /= "numba"
if not os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = str(NUMBA_CACHE)

def pointer_cast(source: types.Type, target: types.Type):  # type: ignore[no-untyped-def]
    """An intrinsic that reinterprets ``source`` (an integer, or a ``void*``) as a
    ``target*``: how the compiled hooks read the arrays whose addresses they are given."""

    @intrinsic
    def cast(typingctx, value):  # type: ignore[no-untyped-def]
        sig = types.CPointer(target)(source)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            pointer = context.get_value_type(signature.return_type)
            if source is types.voidptr:
                return builder.bitcast(args[0], pointer)
            return builder.inttoptr(args[0], pointer)

        return sig, codegen

    return cast


#: An integer held in the control array as a ``uint64*`` (the block table).
_as_u64_pointer = pointer_cast(types.uint64, types.uint64)
#: The hook's ``void *user_data`` as the ``uint64*`` control array.
_as_control = pointer_cast(types.voidptr, types.uint64)
#: The branch predictor's counters, an integer in the control array, as a ``uint8*``.
_as_u8_pointer = pointer_cast(types.uint64, types.uint8)


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


@numba.njit(cache=True, inline="always")
def _fetch_redirect(ctl, start):  # type: ignore[no-untyped-def]
    """blockhook.c's fetch_redirect: the front end's clock passes a taken transfer."""
    ahead = ctl[CTL_FETCH_AHEAD]
    fetch = ctl[CTL_FETCH]
    stalled = start - ahead if start > ahead else numba.uint64(0)
    if fetch < stalled:
        fetch = stalled
    fetch += numba.uint64(TAKEN_BRANCH_UNITS)
    ctl[CTL_FETCH] = fetch
    if fetch > ctl[CTL_CYCLES]:
        ctl[CTL_CYCLES] = fetch


@numba.njit(cache=True, inline="always")
def _resolve_branch(ctl, address):  # type: ignore[no-untyped-def]
    """blockhook.c's resolve_branch: charge a gshare misprediction, train the counter."""
    end = ctl[CTL_BRANCH_END]
    taken = numba.uint64(1) if address != end else numba.uint64(0)
    history = ctl[CTL_HISTORY]
    counters = _as_u8_pointer(ctl[CTL_PREDICTOR])
    slot = (end ^ history) & numba.uint64(PREDICTOR_MASK)
    counter = counters[slot]
    ctl[CTL_BRANCH_END] = numba.uint64(0)  # resolved
    if taken == 1:
        block = ctl[CTL_RECENT_VALUE] >> numba.uint64(VALUE_SHIFT)  # the last block counted
        cycles = ctl[CTL_CYCLES]
        _fetch_redirect(ctl, cycles - block if cycles > block else numba.uint64(0))
        if counter < COUNTER_MAX:
            counters[slot] = counter + numba.uint8(1)
    elif counter > 0:
        counters[slot] = counter - numba.uint8(1)
    if (counter >= COUNTER_TAKEN) != (taken == 1):
        ctl[CTL_MISPREDICTS] += numba.uint64(1)
        ctl[CTL_CYCLES] += ctl[CTL_MISPREDICT_CYCLES]
        ctl[CTL_FETCH] = ctl[CTL_CYCLES]
    ctl[CTL_HISTORY] = ((history << numba.uint64(1)) | taken) & numba.uint64(HISTORY_MASK)


@numba.njit(cache=True, inline="always")
def _count(ctl, value, address, size):  # type: ignore[no-untyped-def]
    start = ctl[CTL_CYCLES]
    ctl[CTL_INSNS] += value & numba.uint64(INSN_MASK)
    ctl[CTL_CYCLES] = start + (value >> numba.uint64(VALUE_SHIFT))
    if value & numba.uint64(BRANCH_FLAG):
        ctl[CTL_BRANCH_END] = address + numba.uint64(size)
    elif value & numba.uint64(TRANSFER_FLAG):
        _fetch_redirect(ctl, start)


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
    if ctl[CTL_BRANCH_END] != 0:
        _resolve_branch(ctl, address)
    key = (address << numba.uint64(KEY_SHIFT)) | numba.uint64(size)
    ctl[CTL_LAST_ADDR] = address
    ctl[CTL_LAST_SIZE] = size
    if key == ctl[CTL_RECENT_KEY]:
        _count(ctl, ctl[CTL_RECENT_VALUE], address, size)
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
                _count(ctl, value, address, size)
                return
            if probe == 0:
                break
            slot = (slot + numba.uint64(1)) & mask
        _call_miss(ctl[CTL_MISS_FN], user_data, address, size)


