"""The ``mca`` cycle model: llvm-mca's block throughput, cached; counts unchanged."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cofferos.coffers.config import CofferConfig
from cofferos.errors import ConfigError
from cofferos.isa import blockstore, mca, mcahost, native
from cofferos.isa.blockcount import BlockCounter
from cofferos.isa.costs import BlockCoster
from cofferos.isa.layout import CTL_CYCLES
from cofferos.isa.mca import McaBlockCoster
from cofferos.workloads import WORKLOADS, build
from tests.support import needs, run_in_coffer

needs_mca = needs("llvm-mca")

#: A named core, so the figures do not depend on the machine running the tests.
CPU = "skylake"
ADDRESS = 0x401000
#: add $1,%rax; add $1,%rbx; add $1,%rcx; add $1,%rdx, twice: eight independent adds.
INDEPENDENT_ADDS = bytes.fromhex("4883c001" "4883c301" "4883c101" "4883c201") * 2
#: imul %rax,%rax four times: each multiply waits for the one before (latency 3).
MULTIPLY_CHAIN = bytes.fromhex("480fafc0") * 4
#: The same chain as a loop: dec %rcx; jne back to the first imul (a self-loop block,
#: which llvm-mca runs back to back, so the chain carries from one iteration on).
MULTIPLY_LOOP = MULTIPLY_CHAIN + bytes.fromhex("48ffc9" "75eb")
#: add $1,%rax; cpuid: llvm-mca has no model of CPUID, the table prices it.
WITH_CPUID = bytes.fromhex("4883c001" "0fa2")
#: mov (%rdi),%rax; add %rax,%rbx; imul %rbx,%rbx; jne back: a loop body.
LOOP_BODY = bytes.fromhex("488b07" "4801c3" "480fafdb" "75f4")
#: Five independent adds (add $1 to rax, rbx, rcx, rdx, rsi): 5/4 of a cycle on
#: Skylake's four ALU ports.
FIVE_ADDS = INDEPENDENT_ADDS[:16] + bytes.fromhex("4883c601")
#: add $1,%rax; jmp to the next instruction: a quarter of a cycle of back-end work.
ADD_JUMP = bytes.fromhex("4883c001" "eb00")
HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                        ctypes.c_void_p)


@pytest.fixture
def coster(tmp_path: Path) -> McaBlockCoster:
    return McaBlockCoster(cpu=CPU, cache_dir=tmp_path)


@needs_mca
def test_independent_work_costs_fewer_cycles_than_the_table(coster: McaBlockCoster) -> None:
    simple = BlockCoster().cost(INDEPENDENT_ADDS, ADDRESS)
    count, cycles = coster.cost(INDEPENDENT_ADDS, ADDRESS)
    assert count == simple[0] == 8
    assert cycles < simple[1]  # four adds a cycle, not one


@needs_mca
def test_a_dependent_multiply_loop_costs_more_than_the_table(coster: McaBlockCoster) -> None:
    simple = BlockCoster().cost(MULTIPLY_LOOP, ADDRESS)
    count, cycles = coster.cost(MULTIPLY_LOOP, ADDRESS)
    assert count == simple[0] == 6
    assert cycles > simple[1]  # each multiply pays its latency


def test_a_block_that_does_not_loop_pays_throughput_not_latency(
        coster: McaBlockCoster) -> None:
    # The out-of-order core overlaps a straight-line block's chain with its neighbours.
    _, chain = coster.cost(MULTIPLY_CHAIN, ADDRESS)
    _, loop = coster.cost(MULTIPLY_LOOP, ADDRESS)
    assert chain < loop


@needs_mca
def test_unmodelled_instructions_cost_their_table_price(coster: McaBlockCoster) -> None:
    _, cycles = coster.cost(WITH_CPUID, ADDRESS)
    assert cycles >= coster.costs.cpuid


@needs_mca
def test_a_block_costs_its_fraction_of_a_cycle(coster: McaBlockCoster) -> None:
    """Not rounded to whole cycles: 1.25, where rounding half up charged 1."""
    count, cycles = coster.cost(FIVE_ADDS, ADDRESS)
    assert (count, cycles) == (5, 1.25)
    # An add and a jump: no floor of a cycle in the price (the front end's clock in the
    # hook charges a taken transfer: test_the_front_end_runs_ahead_of_the_back_end).
    _, jump = coster.cost(ADD_JUMP, ADDRESS)
    assert 0 < jump < 1 and not coster.ends_with_branch(ADD_JUMP)
    _, branch = coster.cost(bytes.fromhex("4885c07500"), ADDRESS)  # test; jne
    assert branch < 1 and coster.ends_with_branch(bytes.fromhex("4885c07500"))


def test_the_hook_carries_the_fractions_from_block_to_block() -> None:
    counter = BlockCounter(lambda _address, _size: (5, 1, False), stop_fn=0)
    counter.remember(ADDRESS, len(FIVE_ADDS), 5, 1.25)
    hook = HOOK(native.block_hook_address())
    for _ in range(3):
        hook(None, ADDRESS, len(FIVE_ADDS), counter.user_data)
    assert (counter.instructions, counter.cycles) == (15, 3)  # 3.75 so far
    hook(None, ADDRESS, len(FIVE_ADDS), counter.user_data)
    assert counter.cycles == 5
    counter.uncount(0, 0.25)  # a fault takes back a fraction: 4.75 left
    assert counter.cycles == 4
    counter.add(0, 0.25)
    assert counter.cycles == 5
    counter.uncount(0, 1_000)  # never below zero
    assert counter.cycles == 0


def _units(counter: BlockCounter) -> int:
    return int(counter.ctl[CTL_CYCLES])  # in 1/CYCLE_UNITS


@pytest.mark.parametrize(("next_block", "units"), [(ADDRESS + 5, 256), (ADDRESS, 384)])
def test_only_a_taken_branch_costs_its_block_a_whole_cycle(next_block: int, units: int) -> None:
    """Two half-cycle blocks (test; jnz): falling through, they cost a cycle together
    (a core runs two not-taken branches a cycle); the first taken, it costs a whole
    cycle (a core redirects its fetch once a cycle)."""
    counter = BlockCounter(lambda _address, _size: (2, 1, False), stop_fn=0)
    counter.predict_branches(0, marked=True)
    for address in {ADDRESS, next_block}:
        counter.remember(address, 5, 2, 0.5, branch=True)
    hook = HOOK(native.block_hook_address())
    hook(None, ADDRESS, 5, counter.user_data)
    hook(None, next_block, 5, counter.user_data)
    assert _units(counter) == units


def _jump_blocks(fetch_ahead: float, big: float) -> int:
    """Cycle units of 20 rounds of one block of ``big`` cycles and three of a quarter of
    a cycle, each ending with a jump (a taken transfer: the front end's cycle)."""
    counter = BlockCounter(lambda _address, _size: (1, 1, False), stop_fn=0)
    counter.predict_branches(13, marked=True, fetch_ahead=fetch_ahead)
    blocks = [(ADDRESS, big), (ADDRESS + 0x100, 0.25), (ADDRESS + 0x200, 0.25),
              (ADDRESS + 0x300, 0.25)]
    for address, cycles in blocks:
        counter.remember(address, 6, 2, cycles)
    hook = HOOK(native.block_hook_address())
    for _ in range(20):
        for address, _cycles in blocks:
            hook(None, address, 6, counter.user_data)
    return _units(counter)


def test_the_front_end_runs_ahead_of_the_back_end() -> None:
    """A block of 4 cycles and three of a quarter, each ending with a jump: the back end
    needs 4.75 cycles a round, the front end 4 (a redirect a cycle). Running ahead, it
    hides the short blocks' redirects behind the long one (4.75 a round); without
    run-ahead each short block costs its whole cycle (7 a round). When the front end is
    the bottleneck (blocks of a quarter only), run-ahead cannot help: a cycle each."""
    assert _jump_blocks(16, 4) == 20 * 4.75 * 256
    assert _jump_blocks(0, 4) == 20 * 7 * 256
    assert _jump_blocks(16, 0.25) == _jump_blocks(0, 0.25) == 20 * 4 * 256


def test_a_mispredicted_branch_restarts_the_front_end() -> None:
    """After a misprediction's penalty the front end fetches from the right path anew:
    the run-ahead it had banked is gone, so the next short blocks each cost a cycle."""
    counter = BlockCounter(lambda _address, _size: (1, 1, False), stop_fn=0)
    counter.predict_branches(13, marked=True, fetch_ahead=16)
    counter.remember(ADDRESS, 6, 2, 8, branch=True)  # 8 cycles ending with a Jcc
    for offset in (6, 0x100, 0x200):
        counter.remember(ADDRESS + offset, 6, 2, 0.25)  # short blocks ending with a jump
    hook = HOOK(native.block_hook_address())
    hook(None, ADDRESS, 6, counter.user_data)
    hook(None, ADDRESS + 0x100, 6, counter.user_data)  # taken, predicted (weakly taken)
    hook(None, ADDRESS + 0x200, 6, counter.user_data)
    assert counter.mispredicts == 0 and _units(counter) == (8 + 0.25 + 0.25) * 256
    hook(None, ADDRESS, 6, counter.user_data)
    hook(None, ADDRESS + 6, 6, counter.user_data)  # its fall-through: mispredicted
    before = _units(counter)
    hook(None, ADDRESS + 0x100, 6, counter.user_data)
    assert counter.mispredicts == 1
    assert _units(counter) - before == 256  # the front end's cycle, no longer hidden


def test_whole_cycles_are_whole_units() -> None:
    """The simple table's integer costs pass through the fixed point exactly."""
    counter = BlockCounter(lambda _address, _size: (1, 1, False), stop_fn=0)
    counter.remember(ADDRESS, 4, 1, 7)
    hook = HOOK(native.block_hook_address())
    hook(None, ADDRESS, 4, counter.user_data)
    assert counter.cycles == 7 and _units(counter) == 7 * 256


def test_the_misprediction_penalty_is_the_cores(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """13 cycles on Zen 3 and 4 (AMD's optimization guide), 17 on Intel's (Agner Fog)."""
    assert mca.mispredict_cycles("znver3") == mca.mispredict_cycles("znver4") == 13
    assert mca.mispredict_cycles("skylake") == mca.MISPREDICT_CYCLES == 17
    info = tmp_path / "cpuinfo"
    monkeypatch.setattr(mcahost, "CPUINFO", str(info))
    info.write_text("vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n\n")
    assert mca.mispredict_cycles(mca.NATIVE_CPU) == 13
    info.write_text("vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n\n")
    assert mca.mispredict_cycles(mca.NATIVE_CPU) == 17


@needs_mca
def test_a_second_run_reads_the_disk_cache_and_spawns_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = McaBlockCoster(cpu=CPU, cache_dir=tmp_path)
    blocks = (INDEPENDENT_ADDS, MULTIPLY_CHAIN, LOOP_BODY)
    priced = [first.cost(block, ADDRESS) for block in blocks]
    assert first.runs >= 1

    def no_process(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("llvm-mca ran although every block was cached")

    monkeypatch.setattr(subprocess, "run", no_process)
    second = McaBlockCoster(cpu=CPU, cache_dir=tmp_path)
    assert [second.cost(block, ADDRESS) for block in blocks] == priced
    assert second.runs == 0


@needs_mca
def test_a_persisting_coster_finds_its_blocks_by_their_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process-wide coster keeps its blocks by their bytes between runs (as the simple
    model's do): the next process prices them alike without a digest, and reads the disk
    cache only for a block the store lacks."""
    monkeypatch.setenv(blockstore.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(blockstore.SWITCH_ENV, raising=False)
    first = McaBlockCoster(cpu=CPU, cache_dir=tmp_path, persist=True)
    blocks = (INDEPENDENT_ADDS, MULTIPLY_LOOP, LOOP_BODY)
    priced = [(first.cost(block, ADDRESS), first.ends_with_branch(block)) for block in blocks]
    assert first._store is not None
    first._store.save()
    other = McaBlockCoster(cpu="znver3", cache_dir=tmp_path, persist=True)
    assert other._store is not None and other._store.blocks == {}  # its own llvm-mca cpu
    second = McaBlockCoster(cpu=CPU, cache_dir=tmp_path, persist=True)
    monkeypatch.setattr(mca, "_digest", None)  # a digest would fail: none is taken
    assert [(second.cost(block, ADDRESS), second.ends_with_branch(block))
            for block in blocks] == priced
    assert second._disk is None and second.runs == 0
    assert any(branch for _cost, branch in priced)


@needs_mca
def test_a_warm_run_decodes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk cache keeps each block's instruction count and branch mark with its
    cycles, so a warm run neither imports capstone nor decodes a block (both cost a
    short run more than the run itself: issue #16's host speed target)."""
    first = McaBlockCoster(cpu=CPU, cache_dir=tmp_path)
    priced = first.cost(LOOP_BODY, ADDRESS)
    assert first.ends_with_branch(LOOP_BODY) and not first.ends_with_branch(MULTIPLY_CHAIN)

    def no_decode(*_args: object) -> tuple[int, int]:
        raise AssertionError("a cached block was decoded")

    monkeypatch.setattr(McaBlockCoster, "_sum", no_decode)
    second = McaBlockCoster(cpu=CPU, cache_dir=tmp_path)
    assert second.cost(LOOP_BODY, ADDRESS) == priced
    assert second.ends_with_branch(LOOP_BODY)
    assert second._decoder is None


@needs_mca
def test_a_repeated_or_torn_record_reads_as_the_first(tmp_path: Path) -> None:
    """Concurrent runs append to one file: of two records of a block the first counts,
    and a record cut short by a run that died writing it is skipped."""
    first = McaBlockCoster(cpu=CPU, cache_dir=tmp_path)
    priced = first.cost(LOOP_BODY, ADDRESS)
    record = first.cache_file.read_bytes()[-mca.RECORD_WORDS * 8:]  # two 64-bit words
    later = record[:8] + (1).to_bytes(4, "little") + record[12:]  # same digest, 1/256 cycle
    with first.cache_file.open("ab") as out:
        out.write(later + record[:5])
    assert McaBlockCoster(cpu=CPU, cache_dir=tmp_path).cost(LOOP_BODY, ADDRESS) == priced


@needs_mca
def test_a_warm_mca_run_does_not_import_numpy(tmp_path: Path) -> None:
    """numpy's import (60-90 ms) was most of a short run's start-up over ``simple``."""
    McaBlockCoster(cpu=CPU, cache_dir=tmp_path).cost(LOOP_BODY, ADDRESS)
    probe = ("import sys; from pathlib import Path; from cofferos.isa.mca import McaBlockCoster;"
             f"McaBlockCoster(cpu={CPU!r}, cache_dir=Path({str(tmp_path)!r}))"
             f".cost({LOOP_BODY!r}, {ADDRESS}); print('numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd="/tmp")
    assert done.stdout.split() == ["False"]


@needs_mca
def test_another_cpu_does_not_share_the_cache(tmp_path: Path) -> None:
    assert McaBlockCoster(cpu=CPU, cache_dir=tmp_path).cache_file != \
        McaBlockCoster(cpu="znver3", cache_dir=tmp_path).cache_file


@needs_mca
def test_a_miss_prices_its_neighbours_in_the_same_run(coster: McaBlockCoster) -> None:
    page = (MULTIPLY_CHAIN + LOOP_BODY + INDEPENDENT_ADDS + bytes.fromhex("c3")).ljust(64, b"\x90")

    def read(address: int, size: int) -> bytes:
        return page[address - ADDRESS:address - ADDRESS + size].ljust(size, b"\x90")

    coster.cost(MULTIPLY_CHAIN + LOOP_BODY, ADDRESS, read)
    runs = coster.runs
    start = ADDRESS + len(MULTIPLY_CHAIN) + len(LOOP_BODY)  # after the jne: a block start
    tail = INDEPENDENT_ADDS + bytes.fromhex("c3")
    coster.cost(tail, start, read)
    assert coster.runs == runs  # priced with the first miss


@needs_mca
def test_a_fault_takes_back_at_most_what_was_charged(coster: McaBlockCoster) -> None:
    count, cycles = coster.cost(MULTIPLY_CHAIN, ADDRESS)
    executed = coster.cost_prefix(MULTIPLY_CHAIN, ADDRESS, ADDRESS + 2 * 4)
    assert executed[0] == 2
    assert 0 <= executed[1] <= cycles
    assert coster.cost_prefix(MULTIPLY_CHAIN, ADDRESS, ADDRESS + 16) == (count, cycles)


@needs_mca
def test_counts_stay_exact_under_mca() -> None:
    outcome = run_in_coffer(build("asmloop"), cycle_model="mca", mca_cpu=CPU)
    simple = run_in_coffer(build("asmloop"))
    assert outcome.status == 0 and outcome.result is not None and simple.result is not None
    assert outcome.result.instructions == WORKLOADS["asmloop"].expected_instructions
    assert outcome.result.user_cycles != simple.result.user_cycles


def test_an_unknown_cycle_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown cycle model"):
        CofferConfig(cycle_model="exact")


def test_missing_llvm_mca_is_a_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, mca.MCA_ENV: str(tmp_path / "no-llvm-mca")}
    proc = subprocess.run([sys.executable, "-m", "cofferos", "run", "--cycle-model", "mca",
                           "@hello"], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"coffersim: error: {mca.MISSING}"]


@needs_mca
@pytest.mark.parametrize(("code", "kept"), [
    ("4839d8" "7500", ["jne"]),  # cmp %rbx,%rax; jne: one macro-op, the branch's
    ("4885c0" "7400", ["je"]),  # test %rax,%rax; je
    ("483b07" "7c00", ["jl"]),  # cmp (%rdi),%rax; jl: a memory operand alone fuses
    ("48833f01" "7500", ["cmpq", "jne"]),  # cmpq $1,(%rdi); jne: memory and immediate
    ("4839d8" "eb00", ["cmpq", "jmp"]),  # a jump is no Jcc
    ("4839d8" "4801c3" "7500", ["cmpq", "addq", "jne"]),  # not adjacent
])
def test_a_compare_fuses_with_the_jcc_after_it(coster: McaBlockCoster, code: str,
                                               kept: list[str]) -> None:
    """Branch fusion (AMD's family 19h guide, Agner Fog): llvm-mca does not fuse, so
    the model leaves the compare out of what it gives llvm-mca."""
    _extra, body, _loop, branch = coster._split(bytes.fromhex(code), ADDRESS)
    assert [text.split()[0] for text in body] == kept
    assert branch == (kept[-1] != "jmp")
