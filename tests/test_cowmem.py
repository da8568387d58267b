"""Copy-on-write host memory under a guest block (isa/cowmem.py), below the kernel.

The guest-level checks (fork, stores on both sides, munmap, compared with native
runs) are ``tests/shmem/cow_fork.c``; these look at what a fork costs the host:
which page table entries it keeps and what it imports.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

from cofferos.isa import cowmem
from cofferos.isa.cowmem import (
    MAX_FROZEN_RUNS,
    PAGE_SIZE,
    PAGEMAP_ENTRY,
    PM_PRESENT,
    BlockBacking,
)

BLOCK = 1 << 20
WRITTEN = 64  #: pages the parent stores to before it forks


def _present(host: int, pages: int) -> int:
    """How many of ``pages`` pages from host address ``host`` the host has mapped."""
    with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
        raw = os.pread(pagemap.fileno(), pages * PAGEMAP_ENTRY, host // PAGE_SIZE * PAGEMAP_ENTRY)
    entries = np.frombuffer(raw, dtype=np.uint64)
    return int(((entries & np.uint64(PM_PRESENT)) != 0).sum())


def _fill(backing: BlockBacking, byte: int) -> None:
    ctypes.memset(backing.host, byte, WRITTEN * PAGE_SIZE)


def test_a_first_fork_moves_the_parents_entries_aside_and_keeps_both_views() -> None:
    parent = BlockBacking(BLOCK)
    _fill(parent, 0x5A)
    assert _present(parent.host, WRITTEN) == WRITTEN
    runs = parent.snapshot(0, BLOCK // PAGE_SIZE, lambda _nbytes: None)
    # The entries were moved, not torn down one by one: the parent's range is empty
    # until it touches it again, and the moved entries are where _set_aside put them.
    assert _present(parent.host, WRITTEN) == 0
    assert parent.aside is not None and _present(parent.aside, WRITTEN) == WRITTEN
    child = BlockBacking(BLOCK)
    child.adopt(runs)
    assert ctypes.string_at(child.host, WRITTEN * PAGE_SIZE) == b"\x5a" * WRITTEN * PAGE_SIZE
    _fill(parent, 0x11)  # each side's stores stay its own
    ctypes.memset(child.host + PAGE_SIZE, 0x22, 1)
    assert ctypes.string_at(child.host, 2) == b"\x5a\x5a"
    assert ctypes.string_at(child.host + PAGE_SIZE, 2) == b"\x22\x5a"
    assert ctypes.string_at(parent.host + PAGE_SIZE, 2) == b"\x11\x11"
    parent.close()
    assert parent.aside is None
    assert ctypes.string_at(child.host + 2 * PAGE_SIZE, 1) == b"\x5a"  # the file lives on
    child.close()


#: Fork a block three times, storing between forks, in a fresh interpreter; print
#: whether numpy's masked-array package got imported (about 40 ms the first time).
FORKS = """
import ctypes, sys
from cofferos.isa.cowmem import BlockBacking
parent = BlockBacking(1 << 20)
for byte in range(3):
    ctypes.memset(parent.host, byte, 1 << 16)
    BlockBacking(1 << 20).adopt(parent.snapshot(0, 256, lambda _nbytes: None))
print("numpy.ma" in sys.modules)
"""


def test_a_fork_imports_nothing() -> None:
    out = subprocess.run([sys.executable, "-c", FORKS], capture_output=True, text=True,
                         check=True).stdout
    assert out == "False\n"


def test_a_fork_bridges_short_gaps_so_children_need_few_host_mappings() -> None:
    """Stores to every other page between forks once made a mosaic of 64 runs, each a
    host mapping in every child (the host allows 65,530 in all); bridged, it is one."""
    parent = BlockBacking(BLOCK)
    _fill(parent, 0x5A)
    pages = BLOCK // PAGE_SIZE
    parent.snapshot(0, pages, lambda _nbytes: None)
    for page in range(0, WRITTEN, 2):
        ctypes.memset(parent.host + page * PAGE_SIZE, 7, 1)
    runs = parent.snapshot(0, pages, lambda _nbytes: None)
    assert len(runs) <= 2
    child = BlockBacking(BLOCK)
    child.adopt(runs)
    assert [ctypes.string_at(child.host + page * PAGE_SIZE, 1) for page in range(4)] == \
        [b"\x07", b"\x5a", b"\x07", b"\x5a"]
    assert ctypes.string_at(child.host + WRITTEN * PAGE_SIZE, 1) == b"\0"


def _scattered_forks(forks: int = 11) -> int:
    """Fork a block ``forks`` times, storing 16 pages apart (too far to bridge) between
    forks, each child checked page by page; the most runs a child mapped."""
    parent = BlockBacking(BLOCK)
    pages = BLOCK // PAGE_SIZE
    ctypes.memset(parent.host, 0, BLOCK)
    charged: list[int] = []
    most = 0
    for fork in range(1, forks + 1):
        for page in range(fork % 16, pages, 16):
            ctypes.memset(parent.host + page * PAGE_SIZE, fork, 1)
        runs = parent.snapshot(0, pages, charged.append)
        most = max(most, len(runs))
        child = BlockBacking(BLOCK)
        child.adopt(runs)
        expect = [max((f for f in range(1, fork + 1) if f % 16 == page % 16), default=0)
                  for page in range(pages)]
        got = [ctypes.string_at(child.host + page * PAGE_SIZE, 1)[0] for page in range(pages)]
        assert got == expect, fork
        child.close()
    assert sum(charged) >= BLOCK  # every page was frozen, and charged, at least once
    parent.close()
    return most


def test_forks_between_scattered_stores_keep_a_child_to_a_few_host_mappings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each fork interleaves one more file's pages with the older ones; while host
    mappings are scarce, past MAX_FROZEN_RUNS runs a fork copies the block's frozen
    pages into one file, so a child never maps more runs, and every page still reads
    what the parent last stored there."""
    monkeypatch.setattr(cowmem, "_mappings_scarce", lambda _runs: True)
    assert _scattered_forks() <= MAX_FROZEN_RUNS + 1  # (+1: the run that crossed the limit)


def test_while_mappings_are_plentiful_children_share_the_older_files(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No copy then: the children keep sharing the parent's pages, one run each."""
    monkeypatch.setattr(cowmem, "_mappings_scarce", lambda _runs: False)
    assert _scattered_forks() > 100


def test_mappings_are_scarce_past_a_quarter_of_the_hosts_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc/self/maps is read only when the last reading plus what forks made since
    could have reached the quarter; then it decides."""
    with open("/proc/self/maps", "rb") as maps:
        held = maps.read().count(b"\n")
    reads: list[str] = []
    real_open = open

    def counting_open(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    monkeypatch.setattr(cowmem, "_host_limit", [held * cowmem.SCARCE_SHARE * 4])
    monkeypatch.setattr(cowmem, "_mappings_seen", [0, 0])
    assert not cowmem._mappings_scarce(10)  # noqa: SLF001
    assert reads == []  # far below the quarter: not read
    cowmem._mappings_seen[:] = [held * 3, 0]  # noqa: SLF001
    assert not cowmem._mappings_scarce(held * 2)  # noqa: SLF001  (read: still below)
    assert reads == ["/proc/self/maps"]
    assert cowmem._mappings_seen[0] < held * 2  # noqa: SLF001  (the reading replaced it)
    monkeypatch.setattr(cowmem, "_host_limit", [held])
    assert cowmem._mappings_scarce(1)  # noqa: SLF001
