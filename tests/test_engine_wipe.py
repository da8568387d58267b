"""isa/wipe.py: a wiped engine parks its blocks and keeps only the code that is still right.

A pooled engine goes from one program to the next. Its empty blocks stay mapped in the
engine (parked) and the code translated from a page is kept only when the next program
maps that page executable with the same bytes. The danger is stale code: two programs
whose code differs at the same addresses must each run their own.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.engines import EnginePool
from cofferos.isa import wipe
from cofferos.workloads import build
from tests.elf_variants import build_static
from tests.support import needs_gcc

#: Two programs of one layout (the same sizes everywhere) whose code differs only in
#: main's immediates: translated code kept from one would print the other's numbers.
PROGRAM = r"""
#include <stdio.h>
__attribute__((noinline)) static long mix(long x) { return x * %d + %d; }
int main(void) {
  long total = 0;
  for (long i = 0; i < 1000; i++) total += mix(i);
  printf("%%ld\n", total);
  return %d;
}
"""


def _run(program: Path, pool: EnginePool) -> tuple[int, bytes]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    coffer.engines = pool
    coffer.spawn(str(program), [program.name], [])
    result = coffer.run()
    return result.exit_code, out.getvalue()


@needs_gcc
def test_two_programs_with_other_code_at_the_same_addresses_each_run_their_own(
        tmp_path: Path) -> None:
    alpha = build_static(PROGRAM % (7, 11, 3), tmp_path / "alpha")
    bravo = build_static(PROGRAM % (5, 13, 4), tmp_path / "bravo")
    assert alpha.stat().st_size == bravo.stat().st_size  # (one layout)
    pool = EnginePool(size=1)  # one engine, handed from each program to the next
    expected = {alpha: (3, b"%d\n" % sum(i * 7 + 11 for i in range(1000))),
                bravo: (4, b"%d\n" % sum(i * 5 + 13 for i in range(1000)))}
    for program in (alpha, bravo, alpha, alpha, bravo):
        assert _run(program, pool) == expected[program]
    assert pool.made == 1 and pool.reused == 4


def test_the_same_program_again_keeps_its_code_and_empties_no_cache() -> None:
    pool = EnginePool(size=1)
    hello = build("hello")
    assert _run(hello, pool)[0] == 0
    (engine,) = pool._free.values()
    cpu = engine[0]
    flushes = []
    flush = cpu.uc.ctl_flush_tb
    cpu.uc.ctl_flush_tb = lambda: (flushes.append(1), flush())[1]  # type: ignore[method-assign]
    assert cpu._kept_code is not None and cpu._kept_code.nbytes() > 0
    assert _run(hello, pool) == (0, b"hello from a coffer\nargc=1\n")
    assert flushes == [] and cpu.memory_map.code_removed == 0
    assert set(cpu.memory_map.parked)  # its blocks parked, not unmapped


def test_an_engine_wiped_twice_without_running_keeps_nothing() -> None:
    pool = EnginePool(size=1)
    assert _run(build("hello"), pool)[0] == 0
    cpu = pool._free[next(iter(pool._free))][0]
    assert cpu._kept_code is not None
    cpu.reset()  # (a fork whose copy failed gives the engine back unrun)
    assert cpu._kept_code is None


def test_an_engine_a_full_pool_drops_copies_no_code(monkeypatch: pytest.MonkeyPatch) -> None:
    copies = []
    copy = wipe.code_to_keep
    monkeypatch.setattr(wipe, "code_to_keep", lambda memory: (copies.append(1), copy(memory))[1])
    assert _run(build("hello"), EnginePool(size=0))[0] == 0  # (no room: every engine dropped)
    assert copies == []
    pool = EnginePool(size=1)
    assert _run(build("hello"), pool)[0] == 0
    assert copies == [1] and pool._free[next(iter(pool._free))][0]._kept_code is not None


@pytest.mark.parametrize(("removed", "before", "keeps"), [
    (0, 0, True), (50, 0, True), (51, 0, False),
    (10, wipe.KEPT_CODE_BYTES - 10, True), (10, wipe.KEPT_CODE_BYTES - 9, False)])
def test_code_is_kept_only_while_most_of_it_is_right_and_removals_are_bounded(
        removed: int, before: int, keeps: bool) -> None:
    kept = wipe.KeptCode(kept=[(0x401000, bytes(100))])
    assert wipe.worth_keeping(kept, removed, before) is keeps


def test_emptying_the_cache_forgets_the_removals_counted_since() -> None:
    """An engine whose cache was emptied for a stale program (or a wipe that kept
    nothing) counts its removals toward KEPT_CODE_BYTES afresh."""
    pool = EnginePool(size=1)
    assert _run(build("hello"), pool)[0] == 0
    cpu = pool._free[next(iter(pool._free))][0]
    cpu.memory_map.code_removed = wipe.KEPT_CODE_BYTES
    cpu.reset()  # wiped twice without running: nothing kept, so the cache is emptied
    assert _run(build("hello"), pool) == (0, b"hello from a coffer\nargc=1\n")
    assert cpu.memory_map.code_removed == 0
