"""The engine's coarse memory map: few regions however many mappings, bytes kept in place.

Unicorn's map cost grows with the regions it holds, so thousands of one-page
mmaps or a heap grown a megabyte at a time once took minutes. The engine must
now see one region per 64 MiB block in use, whatever the number of calls that
made the mappings and whatever their protection, with every byte where the guest
left it; each page's protection is kept beside it for the TLB to answer from.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unicorn import UC_ARCH_X86, UC_MODE_64, UC_PROT_ALL, Uc

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.isa.blockhost import KEPT_VIEWS
from cofferos.isa.blockmap import BLOCK_SIZE, PAGE_SIZE, PROT_EXEC, PROT_WRITE, UNMAPPED, BlockMap
from cofferos.isa.wipe import PARKED_BLOCKS
from tests.elf_variants import build_static
from tests.support import needs_gcc

RW, RO, NONE = 3, 1, 0
BASE = 0x10000000


def _engine() -> tuple[Uc, BlockMap]:
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    return uc, BlockMap(uc)


def _regions(uc: Uc) -> list[tuple[int, int, int]]:
    return sorted((start, end + 1, perms) for start, end, perms in uc.mem_regions())


def test_adjacent_pages_become_one_region_and_keep_their_bytes() -> None:
    uc, memory = _engine()
    for i in range(2000):
        memory.map(BASE + i * PAGE_SIZE, PAGE_SIZE, RW)
        uc.mem_write(BASE + i * PAGE_SIZE, i.to_bytes(4, "little"))
    assert _regions(uc) == [(BASE, BASE + BLOCK_SIZE, UC_PROT_ALL)]
    assert all(int.from_bytes(uc.mem_read(BASE + i * PAGE_SIZE, 4), "little") == i
               for i in range(0, 2000, 97))


def test_a_heap_grown_in_steps_is_one_region_per_block() -> None:
    uc, memory = _engine()
    step = 1 << 20
    for i in range(200):  # 200 MiB: four 64 MiB blocks
        memory.map(BASE + i * step, step, RW)
    assert len(_regions(uc)) == -(-200 * step // BLOCK_SIZE)  # BASE is block-aligned
    assert {memory.protection(BASE + i * step) for i in range(200)} == {RW}
    assert memory.protection(BASE + 200 * step) == UNMAPPED


def test_protect_changes_pages_not_regions_and_keeps_bytes() -> None:
    uc, memory = _engine()
    memory.map(BASE, 3 * PAGE_SIZE, RW)
    contents = b"a" * PAGE_SIZE + b"b" * PAGE_SIZE + b"c" * PAGE_SIZE
    uc.mem_write(BASE, contents)
    regions = _regions(uc)
    memory.protect(BASE + PAGE_SIZE, PAGE_SIZE, RO)
    assert [memory.protection(BASE + i * PAGE_SIZE) for i in range(3)] == [RW, RO, RW]
    memory.protect(BASE + PAGE_SIZE, PAGE_SIZE, NONE)  # kept in the host, refused to users
    assert memory.protection(BASE + PAGE_SIZE) == NONE
    assert memory.peek(BASE + PAGE_SIZE, 2) == b"bb"
    assert memory.accessible(BASE + PAGE_SIZE - 1, 2) == 1 and memory.accessible(BASE, 8) == 8
    memory.protect(BASE, 4 * PAGE_SIZE, RW)  # the unmapped page after stays unmapped
    assert memory.protection(BASE + 3 * PAGE_SIZE) == UNMAPPED
    assert _regions(uc) == regions == [(BASE, BASE + BLOCK_SIZE, UC_PROT_ALL)]
    assert uc.mem_read(BASE, 3 * PAGE_SIZE) == contents


def test_a_block_of_only_inaccessible_pages_keeps_them() -> None:
    """A thread stack is mmap'd PROT_NONE, then made read-write but for its guard page."""
    uc, memory = _engine()
    memory.map(BASE, 4 * PAGE_SIZE, NONE)
    assert len(_regions(uc)) == 1 and memory.blocks
    memory.poke(BASE, b"guard")
    memory.protect(BASE + PAGE_SIZE, 3 * PAGE_SIZE, RW)
    assert [memory.protection(BASE + i * PAGE_SIZE) for i in range(5)] == [NONE, RW, RW, RW,
                                                                          UNMAPPED]
    assert memory.peek(BASE, 5) == b"guard" and not memory.accessible(BASE, 1)


def test_pages_mapped_again_read_as_zero_and_empty_blocks_are_parked() -> None:
    """An empty block leaves the map but keeps its engine region (isa/wipe.py), and comes
    back zero; past PARKED_BLOCKS, empty blocks' regions are unmapped."""
    uc, memory = _engine()
    memory.map(BASE, 2 * PAGE_SIZE, RW)
    uc.mem_write(BASE, b"x" * 2 * PAGE_SIZE)
    memory.unmap(BASE + PAGE_SIZE, PAGE_SIZE)
    memory.map(BASE + PAGE_SIZE, PAGE_SIZE, RW)
    assert uc.mem_read(BASE, 2 * PAGE_SIZE) == b"x" * PAGE_SIZE + bytes(PAGE_SIZE)
    memory.unmap(BASE, 2 * PAGE_SIZE)
    assert not memory.blocks and list(memory.parked) == [BASE]
    assert _regions(uc) == [(BASE, BASE + BLOCK_SIZE, UC_PROT_ALL)]
    assert memory.protection(BASE) == UNMAPPED and not memory.accessible(BASE, 1)
    memory.map(BASE, 2 * PAGE_SIZE, RW)  # the parked block again: fresh zero pages
    assert not memory.parked and uc.mem_read(BASE, 2 * PAGE_SIZE) == bytes(2 * PAGE_SIZE)
    bases = [BASE + i * BLOCK_SIZE for i in range(PARKED_BLOCKS + 2)]
    for base in bases:
        memory.map(base, PAGE_SIZE, RO)
    memory.reset()
    assert not memory.blocks and len(memory.parked) == PARKED_BLOCKS
    assert [start for start, _end, _perms in _regions(uc)] == sorted(memory.parked)


MMAPS = r"""
#include <stdio.h>
#include <sys/mman.h>
int main(void) {
  char *first = 0, *p = 0;
  for (int i = 0; i < 3000; i++) {
    p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    p[0] = (char)i;
    if (!first) first = p;
  }
  mprotect(p + 4096, 4096, PROT_READ);      /* a page in the middle of the run */
  printf("%d %d\n", first[0], p[0] & 0xff);
  return 0;
}
"""


@needs_gcc
def test_a_guest_with_thousands_of_mmaps_leaves_the_engine_few_regions(tmp_path: Path) -> None:
    program = build_static(MMAPS, tmp_path / "mmaps")
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdout=out)
    task = coffer.spawn(str(program), ["mmaps"])
    regions: list[int] = []
    original = coffer.dispatcher.trap

    def trap(cpu: object) -> None:
        original(cpu)  # type: ignore[arg-type]
        regions.append(len(list(task.cpu.uc.mem_regions())))
    coffer.dispatcher.trap = trap  # type: ignore[method-assign]
    task.cpu.on_syscall = trap
    result = coffer.run()
    native = subprocess.run([str(program)], capture_output=True, check=True, timeout=60)
    assert result.exit_code == 0 and out.getvalue() == native.stdout == b"0 183\n"
    assert max(regions) < 16  # 3,000 calls: 3,000 regions before the block map


@pytest.mark.parametrize("prot", [RW, RO])
def test_a_mapping_across_a_block_boundary_is_one_region_per_block(prot: int) -> None:
    uc, memory = _engine()
    memory.map(BLOCK_SIZE - PAGE_SIZE, 2 * PAGE_SIZE, prot)  # straddles two blocks
    assert _regions(uc) == [(0, BLOCK_SIZE, UC_PROT_ALL),
                            (BLOCK_SIZE, 2 * BLOCK_SIZE, UC_PROT_ALL)]
    assert memory.protection(BLOCK_SIZE - PAGE_SIZE) == memory.protection(BLOCK_SIZE) == prot
    assert memory.protection(BLOCK_SIZE - 2 * PAGE_SIZE) == UNMAPPED


def test_accessible_reads_the_page_protections_as_the_guest_meets_them() -> None:
    """The kernel's access_ok: PROT_NONE and holes stop reads and writes, a read-only
    page stops only writes, and the count is where a page-by-page copy would stop,
    also across a block boundary."""
    _, memory = _engine()
    memory.map(BASE, 3 * PAGE_SIZE, RW)
    memory.protect(BASE + PAGE_SIZE, PAGE_SIZE, RO)
    memory.protect(BASE + 2 * PAGE_SIZE, PAGE_SIZE, NONE)
    assert memory.accessible(BASE + 10, 100) == 100
    assert memory.accessible(BASE + 10, 3 * PAGE_SIZE) == 2 * PAGE_SIZE - 10  # up to PROT_NONE
    assert memory.accessible(BASE + 10, 3 * PAGE_SIZE, writing=True) == PAGE_SIZE - 10
    assert memory.accessible(BASE + PAGE_SIZE, 8, writing=True) == 0
    assert memory.accessible(BASE + 2 * PAGE_SIZE, 8) == 0
    assert memory.accessible(BASE + 3 * PAGE_SIZE, 8) == 0  # never mapped
    assert memory.accessible(BASE, 0) == 0
    assert memory.accessible((1 << 64) - 4, 8) == 0  # past the address space
    edge = 2 * BLOCK_SIZE
    memory.map(edge - PAGE_SIZE, 2 * PAGE_SIZE, RW)
    assert memory.accessible(edge - 16, 32, writing=True) == 32
    memory.unmap(edge, PAGE_SIZE)
    assert memory.accessible(edge - 16, 32) == 16


@given(st.lists(st.sampled_from([RW, RO, NONE, None]), min_size=8, max_size=8),
       st.integers(0, 8 * PAGE_SIZE), st.integers(0, 6 * PAGE_SIZE), st.booleans())
@settings(max_examples=200, deadline=None)
def test_accessible_agrees_with_a_page_by_page_walk(prots: list[int | None], start: int,
                                                     size: int, writing: bool) -> None:
    """Small ranges take a scalar path, large ones a vector one: both stop where a
    byte-by-byte walk of the page protections stops."""
    _, memory = _engine()
    for i, prot in enumerate(prots):
        if prot is not None:
            memory.map(BASE + i * PAGE_SIZE, PAGE_SIZE, prot)
    expected = 0
    while expected < size:
        page = (start + expected) // PAGE_SIZE
        prot = prots[page] if page < len(prots) else None
        if prot is None or prot == NONE or (writing and prot != RW):
            break
        expected = min(size, (page + 1) * PAGE_SIZE - start)
    assert memory.accessible(BASE + start, size, writing) == expected


def test_a_kept_view_lasts_until_a_protection_or_mapping_changes() -> None:
    """read(2) and write(2) keep a guest buffer's view between calls (``kept_view``,
    issue #17): the same view while nothing changes, and ``user_view``'s answer asked
    again after any protect, unmap or map, also across a page and a block boundary."""
    _, memory = _engine()
    edge = 2 * BLOCK_SIZE
    memory.map(BASE, 2 * PAGE_SIZE, RW)
    memory.map(edge - PAGE_SIZE, 2 * PAGE_SIZE, RW)
    inside, across = BASE + 64, BASE + PAGE_SIZE - 8
    for address in (inside, across):
        view = memory.kept_view(address, 16, PROT_WRITE, PROT_EXEC)
        assert view is not None and memory.kept_view(address, 16, PROT_WRITE, PROT_EXEC) is view
        view[:] = b"x" * 16
        assert bytes(memory.user_view(address, 16) or b"") == b"x" * 16
    assert memory.kept_view(edge - 8, 16) is None  # two blocks: the engine's path
    memory.protect(BASE, PAGE_SIZE, RO)
    assert memory.kept_view(inside, 16, PROT_WRITE, PROT_EXEC) is None  # no store there
    assert bytes(memory.kept_view(inside, 16) or b"") == b"x" * 16  # but its bytes
    assert memory.kept_view(across, 16, PROT_WRITE, PROT_EXEC) is None
    memory.protect(BASE, PAGE_SIZE, RW | PROT_EXEC)
    assert memory.kept_view(inside, 16, PROT_WRITE, PROT_EXEC) is None  # never onto code
    memory.protect(BASE, PAGE_SIZE, NONE)
    assert memory.kept_view(inside, 16) is None
    memory.protect(BASE, PAGE_SIZE, RW)
    assert memory.kept_view(across, 16) is not None
    memory.unmap(BASE + PAGE_SIZE, PAGE_SIZE)
    assert memory.kept_view(across, 16) is None
    assert memory.kept_view(inside, 16) is not None
    memory.unmap(BASE, PAGE_SIZE)
    assert memory.kept_view(inside, 16) is None
    memory.map(BASE, PAGE_SIZE, RW)
    assert bytes(memory.kept_view(inside, 16) or b"x") == bytes(16)  # fresh zero pages


def test_kept_views_are_few() -> None:
    """A guest that moves bytes through many buffers does not grow the kept views past
    :data:`KEPT_VIEWS`."""
    _, memory = _engine()
    memory.map(BASE, PAGE_SIZE, RW)
    for offset in range(2 * KEPT_VIEWS):
        assert memory.kept_view(BASE + offset, 16) is not None
        assert 0 < len(memory.kept_views) <= KEPT_VIEWS


@given(st.lists(st.tuples(st.sampled_from(["map", "protect", "unmap"]),
                          st.sampled_from([RW, RO, NONE, RW | PROT_EXEC]),
                          st.integers(0, 3), st.integers(1, 2)), max_size=6),
       st.lists(st.tuples(st.integers(0, 4 * PAGE_SIZE), st.integers(1, 2 * PAGE_SIZE),
                          st.sampled_from([(0, 0), (PROT_WRITE, PROT_EXEC), (0, PROT_EXEC)])),
                min_size=1, max_size=4))
@settings(max_examples=100, deadline=None)
def test_kept_views_agree_with_user_view(changes: list[tuple[str, int, int, int]],
                                         ranges: list[tuple[int, int, tuple[int, int]]]) -> None:
    """After any sequence of changes, each range's kept view (asked before and after
    each change) is what ``user_view`` answers then: None, or a view of the same bytes."""
    _, memory = _engine()
    memory.map(BASE, 4 * PAGE_SIZE, RW)
    for change, prot, first, pages in [("protect", RW, 0, 0), *changes]:
        start, length = BASE + first * PAGE_SIZE, pages * PAGE_SIZE
        if change == "map":
            memory.unmap(start, length)  # as the kernel's mm does first
            memory.map(start, length, prot)
        elif change == "protect" and length:
            memory.protect(start, length, prot)
        elif change == "unmap":
            memory.unmap(start, length)
        for offset, size, (need, refuse) in ranges:
            kept = memory.kept_view(BASE + offset, size, need, refuse)
            fresh = memory.user_view(BASE + offset, size, need, refuse)
            assert (kept is None) == (fresh is None)
            if kept is not None and fresh is not None:
                assert bytes(kept) == bytes(fresh) and len(kept) == size
