"""A tmpfs's used-blocks counter: the percpu_counter whose exact sum near the size limit
serializes FxMark's DWAL past 50 cores (issue #15), and 2.6.35's stat_lock before it.

Each test fails without its mechanism: the trace's per-page records, the lock table's
percpu_counter rules (batch and exact sum resolved from the machine's cores), and the
version tables' entries."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import simpy

from cofferos.coffers import locktrace
from cofferos.coffers.mm import MemoryAccount
from cofferos.sim.kernel_locks import LockTable
from cofferos.sim.lockversions import (
    COUNTER_FOLD,
    COUNTER_SUM_PER_CPU,
    LINUX_4_2,
    VERSIONS,
    percpu_counter_batch,
)
from cofferos.sim.topology import Topology
from cofferos.sim.validate import ONE, bottleneck, run_point
from cofferos.sim.validate_fill import FILL_PAGES, FillPoint

PAGE = locktrace.PAGE_SIZE
CONTENDED = 16  #: workers of the machine runs below (the sum, 16 x 120 cycles, outweighs an append)
GIB = 1 << 30


def _appender(space: MemoryAccount, size: int, ram: int = 4 * GIB) -> SimpleNamespace:
    inode = SimpleNamespace(size=size, is_reg=lambda: True, sb=SimpleNamespace(space=space))
    file = SimpleNamespace(inode=inode, pos=0, flags=os.O_WRONLY | os.O_APPEND)
    return SimpleNamespace(files=SimpleNamespace(fds={3: SimpleNamespace(file=file)}),
                           coffer=SimpleNamespace(memory=SimpleNamespace(limit_bytes=ram)))


def _blocks(task: SimpleNamespace, count: int) -> list[locktrace.BlocksUse]:
    return [obj for cls, obj in locktrace.CALL_RESOLVERS["write"](task, (0, 3, 0, count))
            if cls == locktrace.SHMEM_BLOCKS]


def test_each_page_a_write_adds_is_recorded_with_the_pages_still_free() -> None:
    space = MemoryAccount(10 * PAGE, used_bytes=3 * PAGE)
    found = _blocks(_appender(space, PAGE), 2 * PAGE)  # (a page's append adds one page)
    assert [b.free_pages for b in found] == [7, 6]
    assert all(b.lock_object is space for b in found)
    assert len(_blocks(_appender(space, 0), 10)) == 1
    assert _blocks(_appender(space, 10), 10) == []  # (inside its last page: none)
    # a tmpfs without size=: Linux's default limit, half of the RAM
    unlimited = MemoryAccount(1 << 62, used_bytes=0)
    free, = (b.free_pages for b in _blocks(_appender(unlimited, 0, ram=8 * PAGE), PAGE))
    assert free == 4


def _held(table: LockTable, free: int) -> int:
    """Cycles one record of a page ``free`` pages below the limit holds the lock."""
    out: list[int] = []
    use = locktrace.BlocksUse(object(), free)

    def run():  # type: ignore[no-untyped-def]
        out.append((yield from table.take(((locktrace.SHMEM_BLOCKS, use),), "c", 0, 1.0,
                                          [0.0, 0.0], frozenset())))
    table.env.process(run())
    table.env.run()
    return out[0]


@pytest.mark.parametrize("cores", [8, 40, 80])
def test_the_exact_sum_is_taken_within_batch_times_cpus_of_the_limit(cores: int) -> None:
    table = LockTable(simpy.Environment(), True, table=LINUX_4_2,
                      topology=Topology(300, 750, cores=cores))
    batch = percpu_counter_batch(cores)
    assert batch == max(32, 2 * cores)
    fold, exact = LINUX_4_2[locktrace.SHMEM_BLOCKS]
    assert table.every(fold) == batch and table.every(exact) == 1
    region = batch * cores
    assert _held(table, region + 1) == 0  # (far: the approximate count suffices)
    assert _held(table, region) == COUNTER_FOLD + COUNTER_SUM_PER_CPU * cores


def test_appends_near_the_limit_serialize_on_used_blocks(monkeypatch) -> None:
    batch = percpu_counter_batch(CONTENDED)
    far = run_point("fxmark:DWAL", "linux:4.2", ONE, CONTENDED, batch)
    near = run_point("fxmark:DWAL", "linux:4.2", ONE, CONTENDED, batch,
                     free_pages=CONTENDED * batch)
    assert not far.failed and not near.failed
    assert "used_blocks" in far.taken and not far.lock_wait_ns.get("used_blocks")
    assert bottleneck(near) == "used_blocks"
    assert near.throughput < far.throughput / 2
    monkeypatch.setitem(VERSIONS["4.2"], locktrace.SHMEM_BLOCKS, ())
    without = run_point("fxmark:DWAL", "linux:4.2", ONE, CONTENDED, batch,
                        free_pages=CONTENDED * batch)
    assert "used_blocks" not in without.taken
    assert without.throughput > 2 * near.throughput


def test_2_6_35_takes_the_superblocks_stat_lock_for_every_page() -> None:
    rule, = VERSIONS["2.6.35"][locktrace.SHMEM_BLOCKS]
    assert (rule.name, rule.algorithm, rule.every, rule.percpu_batch) == \
        ("stat_lock", "ticket", 1, False)
    point = run_point("fxmark:DWAL", "linux:2.6.35", ONE, CONTENDED, 32)
    assert "stat_lock" in point.taken and "used_blocks" not in point.taken


def test_a_fill_is_its_far_part_at_the_far_rate_and_its_last_pages_at_the_near_rate() -> None:
    point = FillPoint(80, far=1e7, near=1e5, region=12_800)
    seconds = (FILL_PAGES - 12_800) / 1e7 + 12_800 / 1e5
    assert point.throughput == pytest.approx(FILL_PAGES / seconds)
    assert FILL_PAGES == 32 * GIB // PAGE  # (FxMark's size=32G)
