"""Wiping an engine for its next program: blocks parked, translated code kept.

A pooled engine (:mod:`cofferos.coffers.engines`) is wiped between two programs
(:meth:`Cpu.reset <cofferos.isa.cpu.Cpu.reset>`: exit, execve, a fork that failed).
Two costs made up most of a short program's run on a wiped engine (10,000 coffers of
``@hello``, issue #17, about 18 ms each):

* Unicorn's ``uc_mem_unmap`` of a block's region flushes the engine's TLB one page at
  a time, for every page of the 64 MiB region (``memory_unmap``'s loop over
  ``tlb_flush_page``): about 1.7 ms a block, two blocks for ``@hello``;
* the translation cache was emptied, so the next program's code was translated again:
  about 10 ms for a static glibc program's start-up, the same code every time.

**Parking.** A block left empty (:meth:`BlockMap.reset
<cofferos.isa.blockmap.BlockMap.reset>`, or an unmap that empties it) keeps its
engine region: its backing is closed but its host range stays reserved, inaccessible
(:meth:`BlockBacking.close <cofferos.isa.cowmem.BlockBacking.close>`), and the block
leaves :attr:`BlockMap.blocks`, so the TLB hook never enters a page of it and the
kernel's copies never reach it. The next map at its base takes it back with a fresh,
zero backing at the same host address, and the engine is not told. An engine parks at
most :data:`PARKED_BLOCKS`; past that, a block's region is unmapped as before.

**Kept code.** The engine finds translated code by the guest page it came from (no
guest paging: guest address and physical address are one) and the region behind it,
which for a parked block is the same region again. Code translated from a page is
therefore right for the next program exactly when that page holds the same bytes and
may be executed. At a wipe, :func:`code_to_keep` copies the bytes of every page mapped
executable and not writable (:class:`KeptCode`); before the next program first runs,
:func:`check_kept` removes the translations (``uc_ctl_remove_cache``) of every such
page that is not mapped executable again with the same bytes, and of every page that
was executable and writable. No other page can hold translations: an unmap, and an
mprotect that takes execute away, remove them (:mod:`cofferos.isa.blockmap`), as
before. So ``@hello`` run again on a wiped engine, or a shell forking itself, finds
its code translated, and any other program finds none of the old code.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cofferos.isa.blockmap import BlockMap, _Block

#: Empty blocks an engine keeps parked (their regions mapped in the engine, their host
#: ranges reserved, nothing committed): about 40 KB of host memory each (the block's
#: byte arrays and the engine's region), against 1.7 ms to unmap one.
PARKED_BLOCKS = 8
#: Executable bytes a wipe copies at most to keep their translations; a program with
#: more starts with an empty translation cache, as before (python3 and its libraries:
#: about 6 MiB).
KEPT_CODE_BYTES = 16 << 20

_KEEP, _DROP = ord("k"), ord("d")


def page_kinds(unmapped: int, prot_exec: int, prot_write: int) -> bytes:
    """The ``bytes.translate`` table of a block's protection bytes: ``k`` for a page
    whose code may be kept (executable, not writable), ``d`` for one whose code must
    go (executable and writable), ``.`` for a page without code."""
    table = bytearray(b"." * 256)
    for byte in range(256):
        if byte != unmapped and byte & prot_exec:
            table[byte] = _DROP if byte & prot_write else _KEEP
    return bytes(table)


@dataclass
class KeptCode:
    """The pages of a wiped address space that may hold translated code. Each field:
    meaning."""

    kept: list[tuple[int, bytes]] = field(default_factory=list)
    """(guest address, bytes) of each run of executable, read-only pages."""
    dropped: list[tuple[int, int]] = field(default_factory=list)
    """(guest address, length) of each run whose translations go whatever comes next."""

    def nbytes(self) -> int:
        """Guest bytes whose translations were kept or dropped."""
        return (sum(len(data) for _address, data in self.kept)
                + sum(length for _address, length in self.dropped))


def _runs(block: _Block, table: bytes) -> Iterator[tuple[int, int, int]]:
    """(kind, first page, end page) of each run of pages with code in ``block`` (found
    with ``strip``, which scans in C: a regular expression took 0.3-0.6 ms a block)."""
    kinds = block.prot.tobytes().translate(table).rstrip(b".")
    end = len(kinds)
    position = 0
    while position < end:
        first = end - len(kinds[position:].lstrip(b"."))
        kind = kinds[first]
        position = end - len(kinds[first:].lstrip(kinds[first:first + 1]))
        yield kind, first, position


@functools.cache
def _code_kinds() -> bytes:
    """:func:`page_kinds` of the block map's protection bytes."""
    from cofferos.isa.blockmap import PROT_EXEC, PROT_WRITE, UNMAPPED_BYTE

    return page_kinds(UNMAPPED_BYTE, PROT_EXEC, PROT_WRITE)


def code_to_keep(memory: BlockMap) -> KeptCode | None:
    """What a wipe keeps of the translated code of ``memory``'s pages, as they are now
    (before the wipe); None when it is more than :data:`KEPT_CODE_BYTES` (the cache is
    then emptied)."""
    from cofferos.isa.blockmap import PAGE_SIZE as page_size

    table = _code_kinds()
    kept = KeptCode()
    total = 0
    for block in memory.blocks.values():
        for kind, first, end in _runs(block, table):
            lo, hi = first * page_size, end * page_size
            if kind == _DROP or block.memory is None:
                kept.dropped.append((block.base + lo, hi - lo))
                continue
            total += hi - lo
            if total > KEPT_CODE_BYTES:
                return None
            kept.kept.append((block.base + lo, bytes(block.memory[lo:hi])))
    return kept


def keep_code(memory: BlockMap, kept: KeptCode) -> bool:
    """Remove the translations of ``kept``'s pages that the address space ``memory``
    maps now does not hold as they were, outside the engine's run; False, having removed
    nothing, when the caller should empty the whole cache instead (:func:`worth_keeping`;
    :func:`empty_cache`)."""
    from cofferos.isa.blockmap import BLOCK_SIZE, PAGE_SIZE

    stale = stale_ranges(memory, kept, _code_kinds(), PAGE_SIZE, BLOCK_SIZE)
    removed = sum(length for _address, length in stale)
    if not worth_keeping(kept, removed, memory.code_removed):
        return False
    memory.code_removed += removed
    if stale:
        with memory.engine_regions():
            for address, length in stale:
                memory.uc.ctl_remove_cache(address, address + length)
    return True


def empty_cache(memory: BlockMap) -> None:
    """Empty the engine's whole translation cache (outside its run): nothing kept, and
    nothing removed since."""
    memory.uc.ctl_flush_tb()
    memory.code_removed = 0


def stale_ranges(memory: BlockMap, kept: KeptCode, table: bytes, page_size: int,
                 block_size: int) -> list[tuple[int, int]]:
    """(guest address, length) of each run of ``kept``'s pages whose translations are
    wrong for the address space ``memory`` holds now: not mapped executable and
    read-only, or other bytes than when the code was kept."""
    stale = list(kept.dropped)
    for address, data in kept.kept:
        offset = address % block_size
        block = memory.blocks.get(address - offset)
        if block is None or block.memory is None:
            stale.append((address, len(data)))
            continue
        kinds = block.prot[offset // page_size:(offset + len(data)) // page_size].tobytes()
        current = block.memory[offset:offset + len(data)].tobytes()  # (bytes compare in C)
        if kinds.translate(table) == b"k" * len(kinds) and current == data:
            continue  # (the whole run as it was: one comparison)
        for page in range(0, len(data), page_size):
            index = page // page_size
            if (kinds[index:index + 1].translate(table) == b"k"
                    and current[page:page + page_size] == data[page:page + page_size]):
                continue
            if stale and stale[-1][0] + stale[-1][1] == address + page:
                stale[-1] = (stale[-1][0], stale[-1][1] + page_size)
            else:
                stale.append((address + page, page_size))
    return stale


def worth_keeping(kept: KeptCode, removed: int, removed_before: int) -> bool:
    """Whether to keep code by removing ``removed`` bytes' translations rather than
    empty the whole cache: not when most of what was kept is stale (another program:
    nothing is gained, and emptying also gives back the buffer's space), nor once the
    removals since the cache was last emptied pass :data:`KEPT_CODE_BYTES`. A removed
    translation's code stays in the engine's translation buffer (a bump allocator, freed
    only when the buffer is emptied), so without this bound a pooled engine that runs
    program after program would keep up to its whole buffer (64 MiB) resident instead of
    the largest program's code (isa/cpu.py, Cpu.reset)."""
    size = kept.nbytes()
    return 2 * removed <= size and removed_before + removed <= KEPT_CODE_BYTES


def park(memory: BlockMap, block: _Block) -> bool:
    """Park the empty ``block`` (module docstring): its backing closed, its range and
    engine region kept; False when the engine has :data:`PARKED_BLOCKS` already (the
    caller unmaps it)."""
    if len(memory.parked) >= PARKED_BLOCKS or block.backing is None:
        return False
    block.memory = None
    block.backing.close(keep_range=True)
    block.backing = None
    memory.parked[block.base] = block
    memory.parked_ranges.append(block.host)
    return True


def unpark(memory: BlockMap, base: int, size: int) -> _Block | None:
    """The block parked at ``base``, given a fresh zero backing at its host range
    (no page mapped, none touched), or None if none is parked there."""
    from cofferos.isa.cowmem import BlockBacking

    block = memory.parked.pop(base, None)
    if block is None:
        return None
    memory.parked_ranges.remove(block.host)
    block.backing = BlockBacking(size, at=block.host)
    block.touched[:] = bytes(len(block.touched))
    block.__post_init__()  # (its memory view again)
    return block
