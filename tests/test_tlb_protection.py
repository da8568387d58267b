"""Page protection enforced by the virtual TLB, not by engine regions.

The engine holds one region per 64 MiB block in use; each page's protection is
answered on a TLB miss (:mod:`cofferos.isa.blockmap`). So thousands of
alternating protections or thread guard pages must leave the engine few regions,
while every protection still holds: PROT_NONE and holes fault, read-only pages
fault on writes, each SIGSEGV at the exact address the program touched (in the
timing machine's page-fault mode too, where it used to be the pc), execute-only
and JIT code runs, and code rewritten in place runs as rewritten.
"""

from __future__ import annotations

import io
import signal
import subprocess
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.isa.blockmap import BLOCK_SIZE, PAGE_SIZE
from cofferos.isa.costs import BlockCoster
from cofferos.isa.cpu import Cpu
from cofferos.isa.faults import MemoryFault
from tests.support import compile_guest, needs_gcc

GUESTS = Path(__file__).parent / "protection"
RUN_TIMEOUT_S = 120
R, RW, RWX, X, NONE = 1, 3, 7, 4, 0
CODE, DATA = 0x400000, 0x10000000  # DATA is block-aligned
ALTERNATING = 5_000
THREADS = 300
MAX_BLOCKS = 4  #: a static program's blocks: code and heap, mmaps, stack (and a spare)
#: mov rax, imm64 (the operand follows) ...
MOV_RAX = bytes.fromhex("48b8")
STORE_BYTE_AT_RAX = bytes.fromhex("c60001")  # mov byte [rax], 1
LOAD_BYTE_AT_RAX = bytes.fromhex("8a00")  # mov al, [rax]
CALL_RAX = bytes.fromhex("ffd0")  # call rax
RET_42 = bytes.fromhex("b82a000000c3")  # mov eax, 42; ret
SYSCALL = bytes.fromhex("0f05")  # the test's trap handler stops the CPU there


def _cpu(track_pages: bool = False) -> Cpu:
    return Cpu(BlockCoster(), on_syscall=Cpu.stop, track_pages=track_pages)


def _run_at(cpu: Cpu, target: int, tail: bytes) -> None:
    """Run ``mov rax, target`` then ``tail`` from CODE, to a fault or the closing syscall."""
    cpu.write(CODE, MOV_RAX + target.to_bytes(8, "little") + tail + SYSCALL)
    cpu.uc.ctl_remove_cache(CODE, CODE + PAGE_SIZE)  # the kernel's writes leave old code
    cpu.pc = CODE
    cpu.run()


@pytest.mark.parametrize("track_pages", [False, True])
@pytest.mark.parametrize(("prot", "tail", "offset"), [
    (R, STORE_BYTE_AT_RAX, 0x456),
    (NONE, LOAD_BYTE_AT_RAX, 0x789),
    (NONE, STORE_BYTE_AT_RAX, 0xABC),
    (RW, CALL_RAX, 0x10),  # data is not code
])
def test_a_refused_access_faults_at_its_exact_address(track_pages: bool, prot: int,
                                                      tail: bytes, offset: int) -> None:
    cpu = _cpu(track_pages)
    cpu.map(CODE, PAGE_SIZE, RWX)
    cpu.map(DATA, 4 * PAGE_SIZE, RW)
    cpu.map(DATA + 8 * PAGE_SIZE, PAGE_SIZE, RW)  # the stack, for the call
    cpu.sp = DATA + 9 * PAGE_SIZE
    cpu.protect(DATA + PAGE_SIZE, PAGE_SIZE, prot)
    _run_at(cpu, DATA + PAGE_SIZE + offset, tail)
    assert cpu.fault is not None and cpu.fault.signal == signal.SIGSEGV
    assert cpu.fault.address == DATA + PAGE_SIZE + offset
    assert cpu.fault.pc == (DATA + PAGE_SIZE + offset if tail == CALL_RAX else CODE + 10)


def test_a_hole_inside_a_block_faults_and_refuses_the_kernel() -> None:
    cpu = _cpu()
    cpu.map(CODE, PAGE_SIZE, RWX)
    cpu.map(DATA, 3 * PAGE_SIZE, RW)
    cpu.write(DATA + PAGE_SIZE, b"x")
    cpu.unmap(DATA + PAGE_SIZE, PAGE_SIZE)  # the engine's region stays: the TLB refuses
    _run_at(cpu, DATA + PAGE_SIZE + 0x20, LOAD_BYTE_AT_RAX)
    assert cpu.fault is not None and cpu.fault.address == DATA + PAGE_SIZE + 0x20
    for access in (lambda: cpu.read(DATA + PAGE_SIZE - 1, 2),
                   lambda: cpu.write(DATA + PAGE_SIZE, b"y"),
                   lambda: cpu.read(DATA, 3 * PAGE_SIZE)):
        with pytest.raises(MemoryFault):
            access()
    cpu.map(DATA + PAGE_SIZE, PAGE_SIZE, RW)
    assert cpu.read(DATA + PAGE_SIZE, 1) == b"\0"  # mapped again: zero


def test_the_kernel_refuses_prot_none_but_its_privileged_copies_reach_it() -> None:
    cpu = _cpu()
    cpu.map(DATA, 2 * PAGE_SIZE, RW)
    cpu.write(DATA + PAGE_SIZE, b"kept")
    cpu.protect(DATA + PAGE_SIZE, PAGE_SIZE, NONE)
    with pytest.raises(MemoryFault):
        cpu.read(DATA + PAGE_SIZE, 4)
    with pytest.raises(MemoryFault):
        cpu.write(DATA + PAGE_SIZE - 2, b"abcd")
    assert cpu.peek(DATA + PAGE_SIZE, 4) == b"kept"
    assert cpu.read(DATA + PAGE_SIZE - 4, 4) == bytes(4)


def test_a_protection_change_takes_effect_at_once_and_code_runs_as_rewritten() -> None:
    """The TLB is flushed: a page the guest already used obeys its new protection."""
    cpu = _cpu()
    cpu.map(CODE, PAGE_SIZE, RWX)
    cpu.map(DATA, 3 * PAGE_SIZE, RW)
    cpu.sp = DATA + 3 * PAGE_SIZE  # the stack is the third page
    _run_at(cpu, DATA + 8, STORE_BYTE_AT_RAX)  # the page is now in the TLB, writable
    assert cpu.fault is None and cpu.read(DATA + 8, 1) == b"\1"
    cpu.protect(DATA, PAGE_SIZE, R)
    _run_at(cpu, DATA + 8, STORE_BYTE_AT_RAX)
    assert cpu.fault is not None and cpu.fault.address == DATA + 8
    jit = DATA + PAGE_SIZE  # write code, make it executable only, run it
    cpu.write(jit, RET_42)
    cpu.protect(jit, PAGE_SIZE, X)
    _run_at(cpu, jit, CALL_RAX)
    assert cpu.fault is None and cpu.reg_rax() == 42
    _run_at(cpu, jit + 1, STORE_BYTE_AT_RAX)  # not writable
    assert cpu.fault is not None and cpu.fault.address == jit + 1
    cpu.protect(jit, PAGE_SIZE, RW)
    _run_at(cpu, jit + 1, STORE_BYTE_AT_RAX)  # the guest rewrites it: mov eax, 1
    cpu.protect(jit, PAGE_SIZE, X)
    _run_at(cpu, jit, CALL_RAX)
    assert cpu.fault is None and cpu.reg_rax() == 1


def test_code_mapped_again_where_code_was_unmapped_runs_anew() -> None:
    """Unmapping no longer removes an engine region, which used to drop the code
    translated from it: the block map drops it itself."""
    cpu = _cpu()
    cpu.map(CODE, PAGE_SIZE, RWX)
    for answer in (42, 43):
        cpu.poke(CODE, RET_42[:1] + bytes([answer]) + RET_42[2:-1] + SYSCALL)
        cpu.pc = CODE
        cpu.run()
        assert cpu.fault is None and cpu.reg_rax() == answer
        cpu.unmap(CODE, PAGE_SIZE)
        cpu.map(CODE, PAGE_SIZE, RWX)


def test_thousands_of_alternating_protections_leave_one_engine_region() -> None:
    cpu = _cpu()
    for i in range(ALTERNATING):
        cpu.map(DATA + i * PAGE_SIZE, PAGE_SIZE, RW if i % 2 else R)
    for i in range(0, ALTERNATING, 2):
        cpu.protect(DATA + i * PAGE_SIZE, PAGE_SIZE, NONE)
    assert len(list(cpu.uc.mem_regions())) == len(cpu.memory_map.blocks) == 1
    assert [cpu.memory_map.protection(DATA + i * PAGE_SIZE) for i in range(4)] == [NONE, RW] * 2
    cpu.map(DATA + BLOCK_SIZE, PAGE_SIZE, R)  # a second block: a second region, no more
    assert len(list(cpu.uc.mem_regions())) == 2


def test_page_fault_accounting_sees_each_first_touch() -> None:
    cpu = _cpu(track_pages=True)
    touched: list[int] = []
    cpu.on_tlb_fill = lambda _cpu, page: touched.append(page)  # type: ignore[assignment,func-returns-value]
    cpu.on_first_touch = lambda _cpu, page: touched.append(page)  # (the compiled hook's)
    cpu.map(CODE, PAGE_SIZE, RWX)
    cpu.map(DATA, PAGE_SIZE, RW)
    _run_at(cpu, DATA + 8, STORE_BYTE_AT_RAX)
    assert cpu.fault is None and {CODE, DATA} <= set(touched)


def _run_coffer(binary: Path, args: list[str], **config: object) -> tuple[int, bytes, Coffer]:
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(cwd="/tmp", **config),  # type: ignore[arg-type]
                    stdin=io.BytesIO(), stdout=out, stderr=io.BytesIO())
    coffer.spawn(str(binary), [binary.name, *args], [])
    result = coffer.run()
    assert result.oopses == [] and not result.deadlocked
    return result.exit_code, out.getvalue(), coffer


@needs_gcc
@pytest.mark.parametrize("page_faults", [False, True])
def test_protection_faults_match_native(page_faults: bool, tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "faults.c", tmp_path)
    native = subprocess.run([str(binary)], capture_output=True, timeout=RUN_TIMEOUT_S,
                            check=False)
    status, out, _ = _run_coffer(binary, [], page_faults=page_faults)
    assert out.decode() == native.stdout.decode()
    assert status == native.returncode == 0
    assert b"0 at a wrong address" in out and b"SIGSEGV at +1110" in out


@needs_gcc
def test_many_live_threads_leave_few_engine_regions(tmp_path: Path) -> None:
    """Each thread stack has a PROT_NONE guard page: once one engine region each."""
    binary = compile_guest(GUESTS / "threads.c", tmp_path, ["-pthread"])
    native = subprocess.run([str(binary), str(THREADS)], capture_output=True,
                            timeout=RUN_TIMEOUT_S, check=False)
    regions: list[tuple[int, int]] = []  # (engine regions, blocks in use) at each call
    out = io.BytesIO()
    coffer = Coffer(CofferConfig(cwd="/tmp"), stdin=io.BytesIO(), stdout=out,
                    stderr=io.BytesIO())
    task = coffer.spawn(str(binary), [binary.name, str(THREADS)], [])
    trap = coffer.dispatcher.trap

    def counting_trap(cpu: Cpu) -> None:
        trap(cpu)
        memory = task.cpu.memory_map  # (parked blocks keep their regions: isa/wipe.py)
        regions.append((len(list(task.cpu.uc.mem_regions())),
                        len(memory.blocks) + len(memory.parked)))
    task.cpu.on_syscall = counting_trap
    result = coffer.run()
    assert result.exit_code == native.returncode == 0
    expected = f"{THREADS} threads, sum {THREADS * (THREADS - 1) // 2}\n".encode()
    assert out.getvalue() == native.stdout == expected
    assert all(engine == blocks for engine, blocks in regions)
    assert max(engine for engine, _ in regions) <= MAX_BLOCKS  # THREADS + 3 before
