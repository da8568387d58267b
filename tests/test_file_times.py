"""A file's timestamps take the coarse clock, as Linux 6.1's current_time does: the
real time as of the last timer tick, so the writes of one tick leave one mtime and
ctime (file_update_time finds them unchanged), and the next tick's write moves them.
The trap's file write reads this clock on every call (issue #17)."""

from __future__ import annotations

import io
import random
import stat
from types import SimpleNamespace
from typing import Any

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.itimers import TICK_NSEC
from cofferos.coffers.syscalls.time import (
    CLOCK_MONOTONIC,
    CLOCK_MONOTONIC_COARSE,
    CLOCK_REALTIME_COARSE,
    _resolution_ns,
    clock_ns,
)
from cofferos.isa.blockcount import BlockCounter
from cofferos.isa.layout import CTL_CYCLES, CYCLE_FRACTION_BITS

EPOCH_NS = 1_700_000_000 * 10**9 + 123_456_789  #: not on a tick: the ticks count from boot


def _coffer() -> Coffer:
    return Coffer(CofferConfig(epoch_ns=EPOCH_NS), stdin=io.BytesIO(),
                  stdout=io.BytesIO(), stderr=io.BytesIO())


def test_current_time_is_the_real_time_of_the_last_tick() -> None:
    coffer = _coffer()
    for slept in (0, 1, TICK_NSEC - 1, TICK_NSEC, 5 * TICK_NSEC + 7):
        coffer.sleep_ns = slept
        monotonic = coffer.monotonic_ns()
        assert coffer.realtime_ns() == EPOCH_NS + monotonic
        assert coffer.current_time_ns() == EPOCH_NS + monotonic // TICK_NSEC * TICK_NSEC
    coffer.clock_base = (10 * TICK_NSEC + 3, coffer.cycles)  # a timing machine drives it
    assert coffer.current_time_ns() == EPOCH_NS + 10 * TICK_NSEC


def test_current_time_counts_the_running_slice_as_the_monotonic_clock_does() -> None:
    """current_time_ns repeats monotonic_ns's arithmetic without calling it (a call per
    file write, issue #17): the two agree inside a slice, functional or timed."""
    coffer = _coffer()
    counter = BlockCounter(lambda _address, _size: (1, 1, False), stop_fn=0)
    words = counter.ctl
    coffer.slice_start = (SimpleNamespace(counter=counter), 1_000)
    for ran in (1_000, 1_001, 7_654_321, 123_456_789):
        words[CTL_CYCLES] = ran << CYCLE_FRACTION_BITS | 5  # and a fraction of a cycle
        for clock_base in (None, (3 * TICK_NSEC + 11, 999)):
            coffer.clock_base = clock_base
            monotonic = coffer.monotonic_ns()
            assert coffer.current_time_ns() == EPOCH_NS + monotonic // TICK_NSEC * TICK_NSEC
    assert coffer.monotonic_ns() > 3 * TICK_NSEC  # the running slice moved the clock


def test_writes_of_one_tick_leave_one_stamp_and_the_next_tick_moves_it() -> None:
    coffer = _coffer()
    assert coffer.fs.sb.now_ns == coffer.current_time_ns  # every inode of the coffer
    coffer.sleep_ns = 2 * TICK_NSEC + 1 - coffer.monotonic_ns() % TICK_NSEC  # 1 ns past a tick
    stamp = coffer.current_time_ns()
    assert stamp == coffer.realtime_ns() - 1
    inode = coffer.fs.sb.new_inode(stat.S_IFREG | 0o600)
    assert inode.mtime_ns == inode.ctime_ns == stamp
    for step in range(3):  # within the tick: appends and an overwrite, one stamp
        coffer.sleep_ns += TICK_NSEC // 4
        inode.write(inode.size if step < 2 else 0, b"0123456789abcdef")
        assert inode.mtime_ns == inode.ctime_ns == stamp
    coffer.sleep_ns += TICK_NSEC // 4  # the next tick
    inode.write(inode.size, b"x")
    assert inode.mtime_ns == inode.ctime_ns == stamp + TICK_NSEC
    assert inode.read(16, 17) == b"0123456789abcdefx" and inode.size == 33


def test_the_coarse_clocks_read_the_last_tick_and_say_so() -> None:
    coffer = _coffer()
    task: Any = SimpleNamespace(coffer=coffer, process=SimpleNamespace(time_ns=None))  # no timens
    coffer.sleep_ns = 3 * TICK_NSEC + 12_345
    monotonic = coffer.monotonic_ns()
    assert clock_ns(task, CLOCK_REALTIME_COARSE) == coffer.current_time_ns()
    assert clock_ns(task, CLOCK_MONOTONIC_COARSE) == monotonic - monotonic % TICK_NSEC
    assert clock_ns(task, CLOCK_MONOTONIC) == monotonic
    coarse = (CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE)
    assert [_resolution_ns(clock) for clock in coarse] == [TICK_NSEC, TICK_NSEC]
    assert _resolution_ns(CLOCK_MONOTONIC) == 1


def test_the_kept_tick_is_the_clock_at_every_cycle_and_every_change() -> None:
    """Inside a slice current_time_ns keeps the tick (the stamp and the counter range
    that stays in it): at the cycles around each tick's edges, after kernel cycles, and
    after each thing that moves the clock otherwise (a new slice, a timing machine's
    clock base, a sleep), it gives what the cycles give, as the first read did."""
    coffer = _coffer()
    counter = BlockCounter(lambda _address, _size: (1, 1, False), stop_fn=0)
    words = counter.ctl
    cpu = SimpleNamespace(counter=counter)
    tick_cycles = TICK_NSEC * coffer.config.kernel_costs.frequency_hz // 10**9
    rng = random.Random(17)
    ran, reads, kept = 0, 0, 0

    def check(at: int) -> None:
        """Read the clock with the slice's counter at ``at`` cycles."""
        nonlocal ran, reads, kept
        ran = max(at, 0)
        words[CTL_CYCLES] = ran << CYCLE_FRACTION_BITS | 3
        monotonic = coffer.monotonic_ns()
        before = coffer._tick
        assert coffer.current_time_ns() == EPOCH_NS + monotonic - monotonic % TICK_NSEC
        reads += 1
        kept += coffer._tick is before

    for change in range(50):
        if change % 5 == 0:
            coffer.slice_start = (cpu, ran - rng.randrange(tick_cycles))  # a new slice
        elif change % 5 == 1:
            coffer.clock_base = (rng.randrange(100 * TICK_NSEC), rng.randrange(ran + 1))
        elif change % 5 == 2:
            coffer.clock_base = None
        elif change % 5 == 3:  # a sleep (between slices: a new one after it)
            coffer.sleep_ns += rng.randrange(3 * TICK_NSEC)
            coffer.slice_start = (cpu, ran)
        else:
            coffer.user_cycles += rng.randrange(tick_cycles)  # (only between slices)
            coffer.slice_start = (cpu, ran)
        for _step in range(30):
            if rng.random() < 0.05:  # a counter behind the tick (an engine wiped)
                check(ran - rng.randrange(tick_cycles))
            elif rng.random() < 0.3:
                coffer.stats.kernel_cycles += rng.randrange(tick_cycles // 3)
                check(ran)
            else:
                check(ran + rng.choice((0, 1, rng.randrange(tick_cycles // 3))))
            tick = coffer._tick
            if tick[0] is coffer.slice_start:
                end = tick[4] - coffer.stats.kernel_cycles
                for at in (end - 1, end, end + 1):  # the kept tick's last cycle and after
                    check(at)
                start = coffer._tick[3] - coffer.stats.kernel_cycles  # the next tick's
                for at in (*range(start, start + 8), start - 1):  # its start, and before
                    check(at)
    assert kept > reads // 2  # most reads took the kept tick
    coffer.slice_start = None  # between slices: the cycles, every time
    coffer.sleep_ns += TICK_NSEC
    check(ran)
