"""The per-block instruction and cycle counter, with its hook in native code.

Every guest instruction is counted, exactly, without slowing the guest to a
crawl. Unicorn calls a ``UC_HOOK_BLOCK`` callback each time a translated basic
block starts; a Python callback there runs at about 5 MIPS, so this one is native
code registered through Unicorn's C API: a small C function built on first use
(:mod:`cofferos.isa.native`), or numba's compilation of the same when no C
compiler is at hand. It looks the block up in an
open-addressing hash table (key: block address and size, value: instruction count
and user cycles, stored side by side so a hit touches one cache line) and adds
the two numbers to the counters. A miss, once per distinct block, calls back
into Python, which disassembles the block with capstone
(:class:`cofferos.isa.costs.BlockCoster`), fills the table and returns.

Everything the compiled hook touches lives in one ``uint64`` control array per
CPU (layout in :mod:`cofferos.isa.layout`; ctypes arrays, :mod:`cofferos.isa.words`,
so a run need not import numpy); the compiled function itself holds no
state, so it is built once (and cached on disk) and shared by every CPU. The
miss handler and ``uc_emu_stop`` are reached through function pointers stored in
the control array, which keeps the compiled code free of process addresses.

Besides counting, the hook enforces an instruction budget: when the counter
has reached ``CTL_LIMIT`` at the start of a block, the block is not counted and
emulation stops there, so a scheduler can run a task for a bounded slice and
resume it at exactly that block.

A cycle model that charges branch mispredictions (:mod:`cofferos.isa.mca`) marks
every block: one that ends with a conditional branch (``BRANCH_FLAG`` in the value),
whose outcome the hook learns from the next block's address (taken unless it is the
fall-through) and runs a gshare predictor on (:meth:`predict_branches`), and any other
(``TRANSFER_FLAG``). A taken transfer advances the front end's clock by a cycle, which
runs ahead of the counter by at most ``CTL_FETCH_AHEAD``. Under ``simple`` no block is
marked and neither the predictor nor the front end's clock runs.
"""

from __future__ import annotations

import ctypes
import operator
from collections.abc import Callable, Iterable

from cofferos.isa import words
from cofferos.isa.layout import (
    BRANCH_FLAG,
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
    CTL_STEADY_KEY,
    CTL_STEADY_LAG,
    CTL_STOP_FN,
    CTL_STOPPED,
    CTL_TABLE,
    CTL_WORDS,
    CYCLE_FRACTION_BITS,
    CYCLE_UNITS,
    HASH_SHIFT,
    KEY_SHIFT,
    MAX_BLOCK_UNITS,
    PREDICTOR_MASK,
    TRANSFER_FLAG,
    VALUE_SHIFT,
)

#: No budget: a limit the counter never reaches.
NO_LIMIT = (1 << 64) - 1
INITIAL_SLOTS = 1 << 12
MAX_LOAD_NUMERATOR, MAX_LOAD_DENOMINATOR = 1, 2  #: grow when the table is half full

MISS_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32)


def cycle_units(cycles: float) -> int:
    """``cycles`` (whole, or a fraction from a model that prices blocks finer) in the
    counter's fixed-point units, to the nearest unit."""
    if isinstance(cycles, int):
        return cycles << CYCLE_FRACTION_BITS
    return round(cycles * CYCLE_UNITS)


class CycleWord(ctypes.Structure):
    """The counter's cycle word (``CTL_CYCLES``), read in place as its two fields: whole
    cycles, and the fraction below them in 1/``CYCLE_UNITS`` (x86-64's ctypes lays bit
    fields from the low bit up). ctypes extracts a field in C: reading ``whole`` costs
    less than reading the word and shifting it in Python (46 ns against 75)."""

    _fields_ = [("fraction", ctypes.c_uint64, CYCLE_FRACTION_BITS),
                ("whole", ctypes.c_uint64, 64 - CYCLE_FRACTION_BITS)]


def whole_cycles(units: int) -> int:
    """A cycle word copied out of the counter in whole cycles, as :class:`CycleWord`
    reads the live one."""
    return units >> CYCLE_FRACTION_BITS


def whole_cycles_of(units: Iterable[int]) -> list[int]:
    """Cycle words copied out of the counter (the TLB hook logs the word raw,
    :mod:`cofferos.isa.touchlog`) in whole cycles, as :func:`whole_cycles` reads each."""
    shift = CYCLE_FRACTION_BITS
    return [unit >> shift for unit in units]


def _slot_of(key: int, mask: int) -> int:
    address = key >> KEY_SHIFT
    return (address ^ (address >> HASH_SHIFT)) & mask


class BlockCounter:
    """One CPU's counters and block-cost table, shared with the compiled hook.

    ``cost_of(address, size)`` supplies (instructions, cycles) for a block on a
    miss; the owner (the CPU) reads guest memory and asks the cost model.
    """

    def __init__(self, cost_of: Callable[[int, int], tuple[int, int]], stop_fn: int) -> None:
        self._ctl_array = words.new_array(CTL_WORDS)
        #: The control words as a memoryview: indexing reads or writes a Python int.
        #: Private: the cycle word is fixed point, and :attr:`cycle_word` is the one way
        #: to read it.
        self._ctl_items = self.ctl = words.items(self._ctl_array)
        #: The cycle word in place: ``cycle_word.whole`` is :attr:`cycles` without the
        #: property (a timed run's record of each call reads it so).
        self.cycle_word = CycleWord.from_address(self.cycles_address)
        self._cost_of = cost_of
        #: The table: ``slots`` rows of (key, value), flat (row i at items 2i, 2i + 1).
        self._table = words.new_array(2 * INITIAL_SLOTS)
        self._rows = words.items(self._table)
        self._used = 0
        #: The saved table this counter last loaded or gave (:meth:`load_table`,
        #: :meth:`gave`) and its entries then: while they are still all it has, a newer
        #: table of the same program may replace its own (coffers/sched.py).
        self.synced: tuple[bytes | None, int] = (None, 0)
        self._install_table()
        self._miss_cb = MISS_HANDLER(self._on_miss)  # kept alive as long as the counter
        self.ctl[CTL_MISS_FN] = ctypes.cast(self._miss_cb, ctypes.c_void_p).value or 0
        self.ctl[CTL_STOP_FN] = stop_fn
        self.ctl[CTL_LIMIT] = NO_LIMIT
        self.miss_error: BaseException | None = None
        #: The predictor's 2-bit counters (allocated when a model charges mispredictions).
        self._predictor: ctypes.Array | None = None

    # -- the table -------------------------------------------------------------
    def _install_table(self) -> None:
        self._rows = words.items(self._table)
        self.ctl[CTL_TABLE] = words.address(self._table)
        self.ctl[CTL_MASK] = len(self._rows) // 2 - 1

    def _insert(self, key: int, value: int) -> None:
        rows, mask = self._rows, len(self._rows) // 2 - 1
        slot = _slot_of(key, mask)
        while rows[2 * slot] != 0 and rows[2 * slot] != key:
            slot = (slot + 1) & mask
        if rows[2 * slot] == 0:
            self._used += 1
        rows[2 * slot] = key
        rows[2 * slot + 1] = value

    def _grow(self) -> None:
        old = self._rows.tolist()
        self._table = words.new_array(2 * len(old))
        self._install_table()
        self._used = 0
        for row in range(0, len(old), 2):
            if old[row]:
                self._insert(old[row], old[row + 1])

    def _on_miss(self, _ctl: int, address: int, size: int) -> None:
        try:
            insns, cycles, branch = self._cost_of(address, size)
            self.remember(address, size, insns, cycles, branch)
        except BaseException as exc:  # noqa: BLE001 - a ctypes callback must never raise
            # Count the block as one instruction so the hook's retry terminates;
            # the CPU reports the error once emulation has stopped.
            self.miss_error = exc
            self.remember(address, size, 1, 1)

    def remember(self, address: int, size: int, insns: int, cycles: float,
                 branch: bool = False) -> None:
        """Store the cost of the block at ``address`` of ``size`` bytes (``cycles`` to
        1/``CYCLE_UNITS``); ``branch``: it ends with a conditional branch (predicted only
        when :meth:`predict_branches`)."""
        if (self._used + 1) * MAX_LOAD_DENOMINATOR > len(self._rows) // 2 * MAX_LOAD_NUMERATOR:
            self._grow()
        flag = 0 if self._predictor is None else BRANCH_FLAG if branch else TRANSFER_FLAG
        units = min(cycle_units(cycles), MAX_BLOCK_UNITS)
        self._insert((address << KEY_SHIFT) | size, (units << VALUE_SHIFT) | flag | insns)

    # -- the branch predictor ---------------------------------------------------------
    def predict_branches(self, mispredict_cycles: int, marked: bool | None = None,
                         fetch_ahead: float = 0) -> None:
        """Resolve the conditional branches that end marked blocks (``marked``: whether
        the model marks them; by default, when it charges mispredictions), charging
        ``mispredict_cycles`` per misprediction, and run the front end's clock, a
        cycle (``TAKEN_BRANCH_UNITS``) per taken transfer, at most ``fetch_ahead``
        cycles ahead of the counter (0: every block that ends with a taken transfer
        costs at least a cycle). A new setting starts from an untrained predictor and
        an empty table (whose values carry the marks)."""
        ctl = self.ctl
        marked = mispredict_cycles > 0 if marked is None else marked
        if int(ctl[CTL_MISPREDICT_CYCLES]) == cycle_units(mispredict_cycles) and (
                (self._predictor is not None) == marked) and (
                int(ctl[CTL_FETCH_AHEAD]) == cycle_units(fetch_ahead)):
            return
        self._predictor = words.new_array(PREDICTOR_MASK + 1, words.U8) if marked else None
        ctl[CTL_MISPREDICT_CYCLES] = cycle_units(mispredict_cycles)
        ctl[CTL_FETCH_AHEAD] = cycle_units(fetch_ahead)
        ctl[CTL_PREDICTOR] = 0 if self._predictor is None else words.address(self._predictor)
        self.forget_all()
        self.reset_predictor()

    def settle_fetch(self) -> None:
        """Bring the front end's clock (``CTL_FETCH``) up to date: while a loop that is
        one block runs in its steady state the hook does not keep it up (it is the
        counter's clock minus ``CTL_STEADY_LAG``: :mod:`cofferos.isa.layout`). Called
        before anything that reads it or changes the counter's clock, the pending branch
        or the table, each of which can end the steady state."""
        ctl = self.ctl
        if ctl[CTL_STEADY_KEY]:
            ctl[CTL_FETCH] = ctl[CTL_CYCLES] - ctl[CTL_STEADY_LAG]
            ctl[CTL_STEADY_KEY] = 0

    def reset_predictor(self) -> None:
        """Untrained: every counter weakly taken, no history, no branch pending."""
        self.ctl[CTL_STEADY_KEY] = 0
        if self._predictor is not None:
            ctypes.memset(self._predictor, COUNTER_TAKEN, ctypes.sizeof(self._predictor))
        self.ctl[CTL_HISTORY] = 0
        self.ctl[CTL_BRANCH_END] = 0
        self.ctl[CTL_FETCH] = self.ctl[CTL_CYCLES]

    def cancel_branch(self) -> None:
        """The last block did not reach its end (a fault): it resolves no branch."""
        self.settle_fetch()
        self.ctl[CTL_BRANCH_END] = 0

    @property
    def mispredicts(self) -> int:
        """Conditional branches the predictor got wrong (each charged its cycles)."""
        return self._ctl_items[CTL_MISPREDICTS]  # type: ignore[no-any-return]

    def copy_table_from(self, other: BlockCounter) -> None:
        """fork: the child's code is the parent's, so are its block costs."""
        self.load_table(other.table_copy())

    @property
    def entries(self) -> int:
        """Block costs in the table (each priced once, by the miss handler or a load)."""
        return self._used

    def table_copy(self) -> bytes:
        """The table's bytes, for :meth:`load_table` (a program's next run, a child)."""
        return self._rows.tobytes()

    def load_table(self, table: bytes) -> None:
        """Start from a saved table of block costs (same code at the same addresses)."""
        self._table = words.copy_of(table)
        self.settle_fetch()
        self._install_table()
        keys = self._rows[0::2].tolist()
        self._used = len(keys) - keys.count(0)
        self.ctl[CTL_RECENT_KEY] = 0
        self.synced = (table, self._used)

    def gave(self, table: bytes) -> None:
        """``table`` is a :meth:`table_copy` of this counter's table, kept for others."""
        self.synced = (table, self._used)

    def forget_all(self) -> None:
        """Drop every cached block cost (code was unmapped or rewritten)."""
        self.settle_fetch()
        self._table = words.new_array(2 * INITIAL_SLOTS)
        self._used = 0
        self._install_table()
        self.ctl[CTL_RECENT_KEY] = 0
        self.synced = (None, -1)  # (code of its own now: no program's table replaces it)

    # -- counters --------------------------------------------------------------
    @property
    def instructions(self) -> int:
        return self._ctl_items[CTL_INSNS]  # type: ignore[no-any-return]

    #: User cycles counted, whole (the fraction a finer model carries is dropped): the
    #: cycle word's ``whole`` field, fetched in C (103 ns a read, against 145 for a
    #: Python property that shifts the word).
    cycles = property(operator.attrgetter("cycle_word.whole"))

    def uncount(self, insns: int, cycles: float) -> None:
        """Take back instructions that were counted at block entry but never ran (never
        below zero: a CPU that does not count has nothing to take back, and the unsigned
        counters would wrap round to 2^64)."""
        self.settle_fetch()
        ctl = self.ctl
        ctl[CTL_INSNS] -= min(insns, ctl[CTL_INSNS])
        units = max(self._units() - cycle_units(cycles), 0)
        self._set_units(units)
        if ctl[CTL_FETCH] > units:  # the front end is not ahead of what was taken back
            ctl[CTL_FETCH] = units

    def add(self, insns: int, cycles: float) -> None:
        """Count instructions that ran outside a counted block (a re-counted SYSCALL)."""
        self.settle_fetch()
        ctl = self.ctl
        ctl[CTL_INSNS] = (ctl[CTL_INSNS] + insns) & NO_LIMIT  # uint64, as the hook adds
        self._set_units(self._units() + cycle_units(cycles))

    def _units(self) -> int:
        """The cycles counted, in 1/``CYCLE_UNITS`` (the fraction included)."""
        return self._ctl_items[CTL_CYCLES]  # type: ignore[no-any-return]

    def _set_units(self, units: int) -> None:
        self.ctl[CTL_CYCLES] = units

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
    def cycles_address(self) -> int:
        """Where the fixed-point cycle word lives, for native code that logs it raw (the
        TLB hook: :mod:`cofferos.isa.touchlog` reads its log with :func:`whole_cycles_of`)
        or copies its whole cycles out (the SYSCALL hook: :mod:`cofferos.isa.syscalltrap`)."""
        return words.address(self._ctl_array) + CTL_CYCLES * self.ctl.itemsize

    @property
    def user_data(self) -> int:
        return words.address(self._ctl_array)
