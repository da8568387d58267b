"""The block costs kept between runs (cofferos.isa.blockstore): what a later run
reads is exactly what costing the block gives, keyed by the cost table, and a
damaged or foreign file only means costing again."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofferos.isa import blockstore
from cofferos.isa.blockstore import BlockCostStore, open_store
from cofferos.isa.costs import DEFAULT_COSTS, BlockCoster

# mov rax, [rdi]; add rax, 1; lock inc qword [rsi]; syscall
BLOCK = bytes.fromhex("488b07") + bytes.fromhex("4883c001") + bytes.fromhex("f048ff06") \
    + bytes.fromhex("0f05")
ADDRESS = 0x401000


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(blockstore.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(blockstore.SWITCH_ENV, raising=False)
    return tmp_path


def test_a_later_store_reads_what_an_earlier_run_costed() -> None:
    fresh = BlockCoster().cost(BLOCK, ADDRESS)
    first = BlockCostStore(DEFAULT_COSTS)
    assert first.blocks == {}
    BlockCoster(store=first).cost(BLOCK, ADDRESS)
    first.save()
    second = BlockCostStore(DEFAULT_COSTS)
    assert second.blocks == {BLOCK: fresh}
    coster = BlockCoster(store=second)
    assert coster.cost(BLOCK, ADDRESS) == fresh
    assert coster._pricer is None  # served from the file: capstone never needed


def test_another_cost_table_has_its_own_file() -> None:
    store = BlockCostStore(DEFAULT_COSTS)
    BlockCoster(store=store).cost(BLOCK, ADDRESS)
    store.save()
    dearer = DEFAULT_COSTS.with_overrides(atomic=DEFAULT_COSTS.atomic + 100)
    other = BlockCostStore(dearer)
    assert other.path != store.path and other.blocks == {}
    assert BlockCoster(dearer, store=other).cost(BLOCK, ADDRESS)[1] == \
        BlockCoster().cost(BLOCK, ADDRESS)[1] + 100


def test_damaged_file_is_ignored_and_rewritten() -> None:
    store = BlockCostStore(DEFAULT_COSTS)
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_bytes(b"not a marshal file")
    again = BlockCostStore(DEFAULT_COSTS)
    assert again.blocks == {}
    BlockCoster(store=again).cost(BLOCK, ADDRESS)
    again.save()
    assert BlockCostStore(DEFAULT_COSTS).blocks == {BLOCK: BlockCoster().cost(BLOCK, ADDRESS)}


def test_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(blockstore.SWITCH_ENV, "0")
    assert open_store(DEFAULT_COSTS) is None


def test_past_the_cap_only_the_latest_run_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long session must not leave a file every later start-up pays to load."""
    other = bytes.fromhex("4889c3") + bytes.fromhex("c3")  # mov rbx, rax; ret
    first = BlockCostStore(DEFAULT_COSTS)
    BlockCoster(store=first).cost(BLOCK, ADDRESS)
    first.save()
    monkeypatch.setattr(blockstore, "MAX_BLOCKS", 1)
    second = BlockCostStore(DEFAULT_COSTS)
    second.blocks.clear()  # a later process that ran another program only
    BlockCoster(store=second).cost(other, ADDRESS)
    second.save()
    assert set(BlockCostStore(DEFAULT_COSTS).blocks) == {other}


def test_a_full_file_keeps_the_blocks_a_new_program_adds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file at the cap takes a later run's new blocks in place of its oldest: a full
    file that was never written again made every new program cost its blocks (and
    import capstone) on every run."""
    older, newer, fresh = BLOCK, bytes.fromhex("4889c3c3"), bytes.fromhex("c3")
    monkeypatch.setattr(blockstore, "MAX_BLOCKS", 2)
    first = BlockCostStore(DEFAULT_COSTS)
    for code in (older, newer):
        BlockCoster(store=first).cost(code, ADDRESS)
    first.save()
    second = BlockCostStore(DEFAULT_COSTS)
    assert list(second.blocks) == [older, newer]  # the file is full
    BlockCoster(store=second).cost(fresh, ADDRESS)
    second.save()
    assert list(BlockCostStore(DEFAULT_COSTS).blocks) == [newer, fresh]


def test_a_file_past_the_cap_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    store = BlockCostStore(DEFAULT_COSTS)
    BlockCoster(store=store).cost(BLOCK, ADDRESS)
    BlockCoster(store=store).cost(bytes.fromhex("c3"), ADDRESS)
    store.save()
    monkeypatch.setattr(blockstore, "MAX_BLOCKS", 1)
    assert BlockCostStore(DEFAULT_COSTS).blocks == {}
