"""Cycles for a translated basic block: capstone classifies, caches remember.

The Cpu registers a compiled UC_HOOK_BLOCK that adds each executed block's
instruction count and cycles to two counters; both numbers come from here,
computed once, when Unicorn first translates the block::

    coster = BlockCoster()                       # or BlockCoster(costs)
    count, cycles = coster.cost(code, address)   # code: exactly the block's bytes

Each instruction is decoded by capstone (x86-64, detail on) and put into one
class of ``InstructionCosts`` (``cost_table.py`` holds the numbers and their
sources) by its instruction id and capstone groups: system calls, calls,
returns, jumps, x87, SSE/AVX by mnemonic family, string instructions, and a
few named ids (DIV, IMUL, CPUID, RDTSC, PAUSE, ...). Its memory operands then
add a ``load`` and/or a ``store``, a LOCK prefix makes it ``atomic``, a REP
prefix on a string instruction makes it ``rep_string``, and DIV/IDIV is priced
by divisor width. The figures are throughput-based approximations; the
docstring of ``cost_table.py`` says what that leaves out.

Caches keep this cheap, since a program translates thousands of blocks and
every forked process translates them again. A block is decoded without detail
(``disasm_lite``, about 1 us an instruction); capstone's detailed decode costs
15-30 us an instruction in Python, so it runs only for an instruction text
never priced before. From the outermost in:

- block bytes -> (count, cycles): a block seen before costs one lookup; for the
  process-wide costers this cache is kept between runs
  (:mod:`cofferos.isa.blockstore`), and the decoding below
  (:mod:`cofferos.isa.pricing`, with capstone) is imported on the first miss;
- instruction bytes -> cycles: an encoding seen before in another block;
- (mnemonic, operand text with numbers blanked) -> cycles: the same
  instruction with another displacement, immediate or register number, which
  cannot change its price (register names keep their width: ``r8`` vs ``r8d``);
- (instruction id, groups) -> class: the classification itself (the groups
  tell the string MOVSD from the SSE2 MOVSD, which share an id). The price
  depends on operands and prefixes too, so the id alone cannot key the price.

Undecodable bytes (capstone's SKIPDATA mode, one byte each) count as one
instruction at ``default`` cost. Unicorn raises an invalid-opcode fault at the
first of them; the Cpu un-counts the rest of the block with ``cost_prefix``,
as it does for any fault that stops a block midway.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from .blockstore import open_store
from .cost_table import DEFAULT_COSTS, InstructionCosts

if TYPE_CHECKING:
    from collections.abc import Callable

    from .blockstore import BlockCostStore
    from .pricing import InstructionPricer

__all__ = ["BlockCoster", "DEFAULT_COSTS", "InstructionCosts"]

SHARED_COSTERS = 8  #: distinct cost tables whose costers are kept process-wide


class BlockCoster:
    """Instruction count and cycles of basic blocks, cached (see module docstring)."""

    #: Cycles charged per mispredicted conditional branch; this table model charges
    #: none, so no branch is predicted (:meth:`ends_with_branch` is never true).
    mispredict_cycles = 0
    #: Whether :meth:`ends_with_branch` can be true (the hook then marks every block,
    #: resolves each conditional branch's misprediction, and runs the front end's clock).
    marks_branches = False
    #: How far, in cycles, the front end's clock may run ahead of the counter (a model
    #: that marks blocks: :meth:`cofferos.isa.blockcount.BlockCounter.predict_branches`).
    fetch_ahead_cycles = 0

    def __init__(self, costs: InstructionCosts = DEFAULT_COSTS,
                 store: BlockCostStore | None = None) -> None:
        self.costs = costs
        self._pricer: InstructionPricer | None = None  #: capstone, on the first miss
        self._block_cache: dict[bytes, tuple[int, int]] = {}
        self._store = store
        if store is not None:
            self._block_cache = store.blocks

    def cost(self, code: bytes, address: int,
             read: Callable[[int, int], bytes] | None = None) -> tuple[int, float]:
        """(instruction count, cycles) of the block whose bytes are exactly ``code``
        (whole cycles here; a finer model's may have a fraction).

        ``read`` (guest code bytes by address and size) is for models that price
        a block's neighbours with it (:mod:`.mca`); this one needs only ``code``.
        """
        code = bytes(code)
        known = self._block_cache.get(code)
        if known is None:
            known = self._sum(code, address, address + len(code))
            self._block_cache[code] = known
            if self._store is not None:
                self._store.added(code, known)
        return known

    def ends_with_branch(self, code: bytes) -> bool:  # noqa: ARG002 - models that predict use it
        """Whether the block ``code`` (priced already) ends with a conditional branch that a
        branch predictor should see; only models with :attr:`mispredict_cycles` say so."""
        return False

    def cost_prefix(self, code: bytes, address: int, stop_pc: int) -> tuple[int, float]:
        """(count, cycles) of the instructions of ``code`` that start before ``stop_pc``.

        Used to un-count the tail of a block that a fault stopped at ``stop_pc``.
        """
        return self._sum(bytes(code), address, stop_pc)

    def _sum(self, code: bytes, address: int, stop_pc: int) -> tuple[int, int]:
        pricer = self._pricer
        if pricer is None:
            from .pricing import InstructionPricer

            pricer = self._pricer = InstructionPricer(self.costs)
        return pricer.sum(code, address, stop_pc)


@functools.lru_cache(maxsize=SHARED_COSTERS)
def shared_coster(costs: InstructionCosts = DEFAULT_COSTS) -> BlockCoster:
    """The process-wide coster for one cost table.

    A coster is a memo of a pure function (block bytes -> instructions, cycles)
    under an immutable cost table: it holds no guest or kernel state, and what it
    returns is the same whether it was cached or not, so coffers may share it the
    way they share the simulator's code. Sharing it means a new coffer does not
    pay capstone's decode again for blocks any coffer has already costed, and it
    starts from the blocks earlier runs costed (:mod:`cofferos.isa.blockstore`).
    """
    return BlockCoster(costs, store=open_store(costs))
