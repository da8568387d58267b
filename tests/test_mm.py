"""The address space: VMAs, placement, brk, munmap/mprotect splitting, limits."""

from __future__ import annotations

import errno

import pytest

from cofferos.coffers.mm import MMAP_TOP, PAGE_SIZE, AddressSpace, MmError

RW, RO = 3, 1


class FakePages:
    """Records what the CPU would be told, and keeps bytes for read/write."""

    def __init__(self) -> None:
        self.mapped: dict[int, int] = {}  # page -> prot
        self.data: dict[int, int] = {}

    def map(self, address: int, length: int, prot: int) -> None:  # noqa: D102
        for page in range(address, address + length, PAGE_SIZE):
            assert page not in self.mapped, "mapped twice"
            self.mapped[page] = prot

    def code_changed(self) -> None:
        pass

    def unmap(self, address: int, length: int) -> None:
        for page in range(address, address + length, PAGE_SIZE):
            del self.mapped[page]

    def protect(self, address: int, length: int, prot: int) -> None:
        for page in range(address, address + length, PAGE_SIZE):
            self.mapped[page] = prot

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.data.get(a, 0) for a in range(address, address + size))

    def write(self, address: int, data: bytes) -> None:
        for i, b in enumerate(data):
            self.data[address + i] = b

    peek, poke = read, write  # the kernel's privileged view: no protection here anyway


def make(limit: int = 1 << 30) -> tuple[AddressSpace, FakePages]:
    pages = FakePages()
    return AddressSpace(pages, limit), pages


def test_mmap_is_top_down_and_deterministic() -> None:
    mm, _ = make()
    first = mm.map_anywhere(PAGE_SIZE, RW)
    second = mm.map_anywhere(2 * PAGE_SIZE, RW)
    assert first == MMAP_TOP - PAGE_SIZE
    assert second == first - 2 * PAGE_SIZE


def test_munmap_splits_a_vma() -> None:
    mm, pages = make()
    start = mm.map_anywhere(3 * PAGE_SIZE, RW)
    mm.unmap(start + PAGE_SIZE, PAGE_SIZE)
    assert [(v.start, v.end) for v in mm.vmas] == [
        (start, start + PAGE_SIZE), (start + 2 * PAGE_SIZE, start + 3 * PAGE_SIZE)]
    assert start + PAGE_SIZE not in pages.mapped
    # The hole is reused by the next mapping that fits.
    assert mm.map_anywhere(PAGE_SIZE, RW) == start + PAGE_SIZE or mm.vmas


def test_mprotect_splits_and_needs_full_coverage() -> None:
    mm, pages = make()
    start = mm.map_anywhere(2 * PAGE_SIZE, RW)
    mm.protect(start, PAGE_SIZE, RO)
    assert pages.mapped[start] == RO and pages.mapped[start + PAGE_SIZE] == RW
    with pytest.raises(MmError) as err:
        mm.protect(start, 3 * PAGE_SIZE, RO)
    assert err.value.errno == errno.ENOMEM


def test_brk_grows_and_shrinks_and_refuses_collisions() -> None:
    mm, pages = make()
    mm.brk_start = mm.brk = 0x400000
    assert mm.set_brk(0x400000 + 10) == 0x400000 + 10
    assert 0x400000 in pages.mapped
    assert mm.set_brk(0x400000 + 3 * PAGE_SIZE) == 0x400000 + 3 * PAGE_SIZE
    assert mm.set_brk(0x400000) == 0x400000
    assert 0x400000 not in pages.mapped
    assert mm.set_brk(0x1000) == 0x400000  # below the start: unchanged
    mm.map_fixed(0x400000 + PAGE_SIZE, PAGE_SIZE, RW)
    assert mm.set_brk(0x400000 + 4 * PAGE_SIZE) == 0x400000  # would overlap: unchanged


def test_memory_limit_is_enforced() -> None:
    mm, _ = make(limit=4 * PAGE_SIZE)
    mm.map_anywhere(3 * PAGE_SIZE, RW)
    with pytest.raises(MmError) as err:
        mm.map_anywhere(2 * PAGE_SIZE, RW)
    assert err.value.errno == errno.ENOMEM


def test_mremap_grows_in_place_or_moves_with_contents() -> None:
    mm, pages = make()
    start = mm.map_anywhere(PAGE_SIZE, RW)
    pages.write(start, b"hello")
    grown = mm.move(start, PAGE_SIZE, 2 * PAGE_SIZE, may_move=False, fixed_to=None)
    assert grown == start and start + PAGE_SIZE in pages.mapped  # free above: in place
    mm.unmap(start + PAGE_SIZE, PAGE_SIZE)
    mm.map_fixed(start + PAGE_SIZE, PAGE_SIZE, RW)  # now something sits right above
    with pytest.raises(MmError):
        mm.move(start, PAGE_SIZE, 4 * PAGE_SIZE, may_move=False, fixed_to=None)
    new = mm.move(start, PAGE_SIZE, 4 * PAGE_SIZE, may_move=True, fixed_to=None)
    assert pages.read(new, 5) == b"hello"
    assert start not in pages.mapped


# -- vm.max_map_count and merging ---------------------------------------------------------------
def test_adjacent_anonymous_mappings_merge_into_one_area_as_in_linux() -> None:
    """8,000 one-page mmaps are one VMA on Linux (vma_merge), so they stay far from
    vm.max_map_count; brk's steps grow one [heap] area the same way."""
    mm, _ = make()
    for _ in range(100):
        mm.map_anywhere(PAGE_SIZE, RW)
    mm.brk_start = mm.brk = 0x600000
    for step in range(1, 11):
        mm.set_brk(0x600000 + step * (1 << 20))
    assert [(v.length, v.name) for v in mm.vmas] == [(10 << 20, "[heap]"), (100 * PAGE_SIZE, "")]


def test_file_mappings_and_other_protections_stay_apart() -> None:
    mm, _ = make()
    mm.map_fixed(0x400000, PAGE_SIZE, RO, "/prog")
    mm.map_fixed(0x401000, PAGE_SIZE, RO, "/prog")
    mm.map_fixed(0x402000, PAGE_SIZE, RW)
    mm.map_fixed(0x403000, PAGE_SIZE, RO)
    assert len(mm.vmas) == 4


def test_max_map_count_refuses_a_new_area_with_enomem() -> None:
    mm, pages = make()
    mm.max_map_count = 4
    for i in range(4):  # gaps between them: four areas
        mm.map_fixed(0x10000000 + i * 2 * PAGE_SIZE, PAGE_SIZE, RW)
    with pytest.raises(MmError) as info:
        mm.map_fixed(0x20000000, PAGE_SIZE, RW)
    assert info.value.errno == errno.ENOMEM
    assert 0x20000000 not in pages.mapped and len(mm.vmas) == 4
    mm.map_fixed(0x10000000 + PAGE_SIZE, PAGE_SIZE, RW)  # fills a gap: merges, allowed
    assert len(mm.vmas) == 3


def test_max_map_count_refuses_a_split_by_munmap_or_mprotect() -> None:
    mm, pages = make()
    mm.max_map_count = 2
    mm.map_fixed(0x10000000, 3 * PAGE_SIZE, RW)
    mm.map_fixed(0x20000000, PAGE_SIZE, RW)
    for change in (lambda: mm.unmap(0x10001000, PAGE_SIZE),
                   lambda: mm.protect(0x10001000, PAGE_SIZE, RO)):
        with pytest.raises(MmError) as info:
            change()
        assert info.value.errno == errno.ENOMEM
    assert len(mm.vmas) == 2 and pages.mapped[0x10001000] == RW
    mm.unmap(0x20000000, PAGE_SIZE)
    mm.protect(0x10000000, PAGE_SIZE, RO)  # two areas now, within the limit
    mm.protect(0x10001000, PAGE_SIZE, RO)  # joins the first: still two
    assert [(v.start, v.prot) for v in mm.vmas] == [(0x10000000, RO), (0x10002000, RW)]
