"""Tests for isa/costs.py: per-block instruction counts and cycles.

Machine code is written out as hex with its Intel-syntax assembly alongside
(checked once with GNU as/objdump; no assembler is needed to run the tests).
Classification is tested against a cost table whose classes all have
different prices, so a misclassified instruction cannot pass by accident.
"""

from __future__ import annotations

import inspect
from dataclasses import fields

import pytest

from cofferos.isa import cost_table
from cofferos.isa.costs import DEFAULT_COSTS, BlockCoster, InstructionCosts

#: Every class priced differently: class i costs 100 * (i + 1); load and store
#: get small odd prices so that extras are visible in a sum.
DISTINCT = InstructionCosts(
    **{f.name: 100 * (i + 1) for i, f in enumerate(fields(InstructionCosts))}
).with_overrides(load=3, store=5)

BASE = 0x401000

# One instruction per entry: (hex bytes, assembly, expected cycles under DISTINCT).
SINGLE_INSTRUCTIONS = [
    ("90", "nop", DISTINCT.nop),
    ("f30f1efa", "endbr64", DISTINCT.nop),
    ("0f1f0400", "nop dword ptr [rax+rax]  (names memory, reads none)", DISTINCT.nop),
    ("4801d8", "add rax, rbx", DISTINCT.default),
    ("488d048b", "lea rax, [rbx+rcx*4]  (address only, no load)", DISTINCT.default),
    ("488b45f8", "mov rax, qword ptr [rbp-8]", DISTINCT.default + DISTINCT.load),
    ("488945f8", "mov qword ptr [rbp-8], rax", DISTINCT.default + DISTINCT.store),
    ("48837df800", "cmp qword ptr [rbp-8], 0", DISTINCT.default + DISTINCT.load),
    ("48830001", "add qword ptr [rax], 1",
     DISTINCT.default + DISTINCT.load + DISTINCT.store),
    ("480fafc1", "imul rax, rcx", DISTINCT.imul),
    ("48f7f1", "div rcx", DISTINCT.div64),
    ("48f7f9", "idiv rcx", DISTINCT.div64),
    ("f7f1", "div ecx", DISTINCT.div32),
    ("750e", "jne .+0x10", DISTINCT.branch),
    ("ffe0", "jmp rax", DISTINCT.jump),
    ("e81b000000", "call .+0x20", DISTINCT.call),
    ("c3", "ret", DISTINCT.ret),
    ("53", "push rbx", DISTINCT.stack),
    ("5b", "pop rbx", DISTINCT.stack),
    ("f0830001", "lock add dword ptr [rax], 1", DISTINCT.atomic),
    ("f0480fb137", "lock cmpxchg qword ptr [rdi], rsi", DISTINCT.atomic),
    ("488707", "xchg qword ptr [rdi], rax  (implicitly locked)", DISTINCT.atomic),
    ("a4", "movsb", DISTINCT.string),
    ("f3a4", "rep movsb", DISTINCT.rep_string),
    ("f348ab", "rep stosq", DISTINCT.rep_string),
    ("f20f10c1", "movsd xmm0, xmm1  (SSE2, shares an id with string movsd)", DISTINCT.simd),
    ("660fefc0", "pxor xmm0, xmm0", DISTINCT.simd),
    ("f30f1000", "movss xmm0, dword ptr [rax]", DISTINCT.simd + DISTINCT.load),
    ("f20f58c1", "addsd xmm0, xmm1", DISTINCT.fp_add),
    ("f20f59c1", "mulsd xmm0, xmm1", DISTINCT.fp_mul),
    ("f20f5ec1", "divsd xmm0, xmm1", DISTINCT.fp_div),
    ("f20f51c1", "sqrtsd xmm0, xmm1", DISTINCT.fp_sqrt),
    ("660f3a63c100", "pcmpistri xmm0, xmm1, 0", DISTINCT.simd_string),
    ("d8c1", "fadd st, st(1)", DISTINCT.fp_add),
    ("d8f1", "fdiv st, st(1)", DISTINCT.fp_div),
    ("d9fe", "fsin", DISTINCT.fp_transcendental),
    ("0faef0", "mfence", DISTINCT.fence),
    ("0fa2", "cpuid", DISTINCT.cpuid),
    ("0f31", "rdtsc", DISTINCT.rdtsc),
    ("f390", "pause  (carries the SSE2 group)", DISTINCT.pause),
    ("0f05", "syscall", DISTINCT.syscall),
]

# A mixed block of 12 instructions, 1 to 6 bytes long.
MIXED_BLOCK = [
    ("55", "push rbp"),
    ("4889e5", "mov rbp, rsp"),
    ("4883ec20", "sub rsp, 0x20"),
    ("48897df8", "mov qword ptr [rbp-8], rdi"),
    ("b801000000", "mov eax, 1"),
    ("488b45f8", "mov rax, qword ptr [rbp-8]"),
    ("480fafc1", "imul rax, rcx"),
    ("f7f1", "div ecx"),
    ("660f3a63c100", "pcmpistri xmm0, xmm1, 0"),
    ("31c0", "xor eax, eax"),
    ("90", "nop"),
    ("c3", "ret"),
]


def _concat(parts: list[tuple[str, str]]) -> bytes:
    return b"".join(bytes.fromhex(hex_bytes) for hex_bytes, _ in parts)


@pytest.fixture
def coster() -> BlockCoster:
    return BlockCoster(DISTINCT)


@pytest.mark.parametrize(
    ("hex_bytes", "expected"),
    [(h, cycles) for h, _, cycles in SINGLE_INSTRUCTIONS],
    ids=[asm for _, asm, _ in SINGLE_INSTRUCTIONS],
)
def test_single_instruction_class(coster: BlockCoster, hex_bytes: str, expected: int) -> None:
    assert coster.cost(bytes.fromhex(hex_bytes), BASE) == (1, expected)


def test_default_costs_for_common_instructions() -> None:
    coster = BlockCoster()
    assert coster.cost(bytes.fromhex("90"), BASE) == (1, DEFAULT_COSTS.nop)
    assert coster.cost(bytes.fromhex("488b45f8"), BASE) == (
        1, DEFAULT_COSTS.default + DEFAULT_COSTS.load
    )
    assert coster.cost(bytes.fromhex("48f7f1"), BASE) == (1, DEFAULT_COSTS.div64)
    assert coster.cost(bytes.fromhex("0f05"), BASE) == (1, 0)


def test_block_is_the_sum_of_its_instructions(coster: BlockCoster) -> None:
    singles = [coster.cost(bytes.fromhex(h), BASE)[1] for h, _ in MIXED_BLOCK]
    assert coster.cost(_concat(MIXED_BLOCK), BASE) == (len(MIXED_BLOCK), sum(singles))


def test_mixed_block_count_is_exact() -> None:
    code = _concat(MIXED_BLOCK)
    assert BlockCoster().cost(code, BASE)[0] == 12


def test_cost_stops_at_the_end_of_the_given_bytes(coster: BlockCoster) -> None:
    code = _concat(MIXED_BLOCK)
    first_three = len(_concat(MIXED_BLOCK[:3]))
    assert coster.cost(code[:first_three], BASE)[0] == 3
    # nop; nop; then 3 bytes of the 4-byte `mov rax, [rbp-8]`: no byte past the
    # end is read, and the cut instruction counts as undecodable bytes.
    truncated = bytes.fromhex("9090" "488b45")
    assert coster.cost(truncated, BASE) == (5, 2 * DISTINCT.nop + 3 * DISTINCT.default)


def test_cost_prefix_counts_instructions_starting_before_stop_pc(
    coster: BlockCoster,
) -> None:
    code = _concat(MIXED_BLOCK)
    for n in range(len(MIXED_BLOCK) + 1):
        head = _concat(MIXED_BLOCK[:n])
        expected = coster.cost(head, BASE) if head else (0, 0)
        stop_pc = BASE + len(head)
        assert coster.cost_prefix(code, BASE, stop_pc) == expected
        if n < len(MIXED_BLOCK):
            # stop_pc one byte into instruction n+1: it started before stop_pc, so it counts.
            inside = _concat(MIXED_BLOCK[: n + 1])
            if len(inside) - len(head) > 1:
                assert coster.cost_prefix(code, BASE, stop_pc + 1)[0] == n + 1


def test_cost_prefix_bounds(coster: BlockCoster) -> None:
    code = _concat(MIXED_BLOCK)
    assert coster.cost_prefix(code, BASE, BASE) == (0, 0)
    assert coster.cost_prefix(code, BASE, BASE - 1) == (0, 0)
    assert coster.cost_prefix(code, BASE, BASE + len(code) + 100) == coster.cost(code, BASE)


def test_undecodable_bytes_count_one_each_at_default(coster: BlockCoster) -> None:
    # 06 is `push es`, invalid in 64-bit mode.
    assert coster.cost(bytes.fromhex("0606"), BASE) == (2, 2 * DISTINCT.default)
    assert coster.cost(bytes.fromhex("900690"), BASE) == (3, 2 * DISTINCT.nop + DISTINCT.default)
    assert coster.cost(b"", BASE) == (0, 0)


def test_accepts_bytearray_and_any_address(coster: BlockCoster) -> None:
    code = _concat(MIXED_BLOCK)
    expected = coster.cost(code, BASE)
    assert coster.cost(bytearray(code), 0x7FFF0000) == expected
    assert coster.cost_prefix(bytearray(code), BASE, BASE + len(code)) == expected


def test_with_overrides_changes_the_price() -> None:
    div_rcx = bytes.fromhex("48f7f1")
    cheap = DEFAULT_COSTS.with_overrides(div64=99, load=0)
    assert BlockCoster(cheap).cost(div_rcx, BASE) == (1, 99)
    assert BlockCoster().cost(div_rcx, BASE) == (1, DEFAULT_COSTS.div64)
    assert cheap.default == DEFAULT_COSTS.default


def test_with_overrides_rejects_unknown_class() -> None:
    with pytest.raises(ValueError, match="unknown instruction class") as excinfo:
        DEFAULT_COSTS.with_overrides(dvi64=3)
    for name in InstructionCosts.field_names():
        assert name in str(excinfo.value)


def test_with_overrides_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        DEFAULT_COSTS.with_overrides(imul=-1)
    with pytest.raises(TypeError):
        DEFAULT_COSTS.with_overrides(imul=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        InstructionCosts(default=-2)


def test_every_cost_field_has_a_doc_comment() -> None:
    source = inspect.getsource(cost_table.InstructionCosts).splitlines()
    for name in InstructionCosts.field_names():
        line = next(i for i, text in enumerate(source) if text.strip().startswith(f"{name}:"))
        assert source[line - 1].strip().startswith("#:"), f"{name} has no #: doc comment"
