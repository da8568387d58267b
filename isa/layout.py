"""The block counter's control array and hash table layout, shared by its three users.

:mod:`cofferos.isa.blockcount` (Python: fills the table, reads the counters), the C
hook :file:`native/blockhook.c` (given these values as ``-D`` flags) and the numba
fallback :mod:`cofferos.isa.native.jit` all read one control array of ``uint64``
words per CPU; the indices and encodings below are their common contract.
"""

from __future__ import annotations

CTL_INSNS = 0  #: instructions executed (counted at block entry)
CTL_CYCLES = 1  #: user-mode cycles of those instructions, in 1/``CYCLE_UNITS`` (fixed
#: point: a model whose blocks cost fractions, :mod:`cofferos.isa.mca`, carries them
#: instead of rounding every block; readers shift by ``CYCLE_FRACTION_BITS``)
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
#: The branch predictor (a cycle model that charges mispredictions, :mod:`cofferos.isa.mca`):
CTL_BRANCH_END = 13  #: fall-through address of the conditional branch that ended the last
#: block counted (0: it did not end with one); the next block's address resolves it
CTL_HISTORY = 14  #: global history: the last ``HISTORY_BITS`` outcomes, 1 = taken
CTL_PREDICTOR = 15  #: address of the 2-bit counters (uint8, ``1 << PREDICTOR_BITS`` of them)
CTL_MISPREDICT_CYCLES = 16  #: cycles charged per misprediction, in 1/``CYCLE_UNITS``
CTL_MISPREDICTS = 17  #: mispredictions counted
#: The front end's clock (a cycle model that marks blocks): when, in 1/``CYCLE_UNITS`` of
#: the ``CTL_CYCLES`` clock, the branch predictor has fetched up to the block counted
#: last. It advances a cycle per taken transfer and runs ahead of the back end (the
#: counter) by at most ``CTL_FETCH_AHEAD``: a taken transfer costs a cycle only when
#: the front end is what holds the core up (blockhook.c's fetch_redirect).
CTL_FETCH = 18
CTL_FETCH_AHEAD = 19  #: how far the front end may run ahead, in 1/``CYCLE_UNITS``
#: Slice boundaries passed in one engine run (issue #17; blockhook.c's pass_boundary):
#: at the budget, while ``CTL_PASS_LEFT`` > 0, no first touch is logged (the word at
#: ``CTL_PASS_TOUCHED``, if not 0) and the cycle word is below ``CTL_PASS_CYCLES``, the
#: hook notes (instructions, cycle word) at ``CTL_PASS_LOG`` (``CTL_PASSED`` pairs so
#: far), moves the budget ``CTL_PASS_STEP`` on and runs on instead of stopping.
CTL_PASS_LEFT = 20
CTL_PASS_STEP = 21
CTL_PASS_CYCLES = 22
CTL_PASSED = 23
CTL_PASS_LOG = 24
CTL_PASS_TOUCHED = 25
#: A loop that is one block, in its steady state (blockhook.c's loop_again): the key of
#: a block whose conditional branch goes back to its own start, taken, with the predictor
#: saturated taken on an all-taken history (so it learns nothing more) and the front end
#: behind the back end by a lag that one more iteration leaves as it is. Each iteration
#: then only counts the block, and ``CTL_FETCH`` is not kept up: the front end's clock is
#: the counter's minus ``CTL_STEADY_LAG`` until the hook or the counter's owner settles
#: it (:meth:`~cofferos.isa.blockcount.BlockCounter.settle_fetch`). 0: no such loop.
CTL_STEADY_KEY = 26
CTL_STEADY_LAG = 27
CTL_WORDS = 28

KEY_SHIFT = 16  #: key = address << KEY_SHIFT | size; a translated block is < 64 KiB
VALUE_SHIFT = 32  #: value = cycle units << VALUE_SHIFT | BRANCH_FLAG? | TRANSFER_FLAG? | insns
#: A value's cycles are fixed point: ``CYCLE_FRACTION_BITS`` of them below the cycle, so
#: a block may cost 1.25 cycles (a block of 32 bits of units costs < 2**24 cycles).
CYCLE_FRACTION_BITS = 8
CYCLE_UNITS = 1 << CYCLE_FRACTION_BITS  #: units per cycle
CYCLE_FRACTION_MASK = CYCLE_UNITS - 1
MAX_BLOCK_UNITS = (1 << (64 - VALUE_SHIFT)) - 1  #: what a value's cycle field holds
#: What a taken transfer costs the front end: a core redirects its fetch at most once a
#: cycle, while branches that fall through go two a cycle. A marked block is valued
#: without it (its back-end cost); the hook advances ``CTL_FETCH`` by it for a block
#: that ends with a transfer (``TRANSFER_FLAG``) at once, for one that ends with a
#: conditional branch (``BRANCH_FLAG``) when the next block shows it was taken.
TAKEN_BRANCH_UNITS = CYCLE_UNITS
BRANCH_FLAG = 1 << 31  #: in a value: the block ends with a conditional branch
#: In a value: the block ends other than with a conditional branch (a jump, call, return:
#: its fetch redirects), under a model that marks blocks (:mod:`cofferos.isa.mca`).
TRANSFER_FLAG = 1 << 30
INSN_MASK = TRANSFER_FLAG - 1  #: a value's instructions (a translated block has < 2**30)

#: gshare (McFarling, "Combining Branch Predictors", DEC WRL TN-36, 1993): the counter
#: at (branch address ^ global history) predicts taken from ``COUNTER_TAKEN`` up.
PREDICTOR_BITS = 16  #: 65,536 counters (16 KiB of 2-bit state, kept a byte each)
PREDICTOR_MASK = (1 << PREDICTOR_BITS) - 1
HISTORY_MASK = PREDICTOR_MASK  #: as many outcomes of history as index bits
COUNTER_MAX = 3  #: a 2-bit saturating counter: 0, 1 predict not taken; 2, 3 taken
COUNTER_TAKEN = 2
HASH_SHIFT = 12  #: slot = (address ^ address >> 12) & mask: mixes page and offset bits,
#: two ALU operations where a multiplicative hash would cost a 3-cycle imul

#: What the C hook is compiled with (``-DNAME=VALUEu``).
C_CONSTANTS = {name: value for name, value in globals().items()
               if name.startswith("CTL_") or name in (
                   "KEY_SHIFT", "VALUE_SHIFT", "HASH_SHIFT", "CYCLE_FRACTION_BITS",
                   "CYCLE_FRACTION_MASK", "TAKEN_BRANCH_UNITS", "BRANCH_FLAG", "TRANSFER_FLAG",
                   "INSN_MASK",
                   "PREDICTOR_MASK", "HISTORY_MASK", "COUNTER_MAX", "COUNTER_TAKEN")}
