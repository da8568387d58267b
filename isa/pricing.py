"""Pricing instructions with capstone: the decode behind every block-cost miss.

:class:`cofferos.isa.costs.BlockCoster` imports this module on its first miss
only, so a run whose blocks are all in the persistent block-cost cache never
loads capstone (issue #17: about 40 ms of start-up). The classification rules
are described in :mod:`cofferos.isa.costs`.
"""

from __future__ import annotations

import re

from capstone import (
    CS_AC_READ,
    CS_AC_WRITE,
    CS_ARCH_X86,
    CS_GRP_CALL,
    CS_GRP_INT,
    CS_GRP_IRET,
    CS_GRP_JUMP,
    CS_GRP_RET,
    CS_MODE_64,
    Cs,
    CsInsn,
)
from capstone import x86_const as x86

from .cost_table import InstructionCosts

#: Capstone's id for a SKIPDATA pseudo-instruction (an undecodable byte).
_SKIPDATA_ID = 0


def _ids(*names: str) -> frozenset[int]:
    """Capstone X86_INS_* ids by mnemonic name."""
    return frozenset(getattr(x86, f"X86_INS_{name}") for name in names)


def _ids_matching(pattern: str) -> frozenset[int]:
    """Capstone X86_INS_* ids whose mnemonic name matches a regular expression."""
    regex = re.compile(pattern)
    prefix = "X86_INS_"
    return frozenset(
        value
        for name, value in vars(x86).items()
        if name.startswith(prefix) and regex.fullmatch(name[len(prefix):])
    )


#: Instructions priced by id alone, before any group is consulted (PAUSE and
#: the fences carry the SSE2 group, which must not claim them).
_CLASS_BY_ID: dict[int, str] = {
    **dict.fromkeys(_ids("NOP", "ENDBR64", "ENDBR32", "FNOP"), "nop"),
    **dict.fromkeys(_ids("SYSCALL", "SYSENTER"), "syscall"),
    **dict.fromkeys(_ids("PUSH", "POP", "PUSHF", "PUSHFQ", "POPF", "POPFQ", "LEAVE"), "stack"),
    **dict.fromkeys(_ids("IMUL", "MUL", "MULX"), "imul"),
    **dict.fromkeys(_ids("DIV", "IDIV"), "div"),
    **dict.fromkeys(_ids("MFENCE", "LFENCE", "SFENCE"), "fence"),
    **dict.fromkeys(_ids("RDTSC", "RDTSCP"), "rdtsc"),
    **dict.fromkeys(_ids("CPUID"), "cpuid"),
    **dict.fromkeys(_ids("PAUSE"), "pause"),
}

#: Unconditional jumps; every other CS_GRP_JUMP member is a conditional branch.
_UNCONDITIONAL_JUMPS = _ids("JMP", "LJMP")

#: x87 arithmetic by family; the rest of X86_GRP_FPU is priced as ``x87``.
_X87_CLASS_BY_ID: dict[int, str] = {
    **dict.fromkeys(_ids("FADD", "FIADD", "FSUB", "FSUBP", "FSUBR", "FSUBRP", "FISUB",
                         "FISUBR"), "fp_add"),
    **dict.fromkeys(_ids("FMUL", "FMULP", "FIMUL"), "fp_mul"),
    **dict.fromkeys(_ids("FDIV", "FDIVP", "FDIVR", "FDIVRP", "FIDIV", "FIDIVR"), "fp_div"),
    **dict.fromkeys(_ids("FSQRT"), "fp_sqrt"),
    **dict.fromkeys(_ids("F2XM1", "FCOS", "FSIN", "FSINCOS", "FPTAN", "FPATAN", "FYL2X",
                         "FYL2XP1", "FPREM", "FPREM1", "FSCALE", "FXTRACT"),
                    "fp_transcendental"),
}

#: SSE/AVX floating point by mnemonic family (V prefix: the AVX form); the rest
#: of the SIMD groups is priced as ``simd``.
_SIMD_CLASS_BY_ID: dict[int, str] = {
    **dict.fromkeys(_ids_matching(r"V?(ADD|SUB|MIN|MAX|ADDSUB|HADD|HSUB)(PS|PD|SS|SD)"),
                    "fp_add"),
    **dict.fromkeys(_ids_matching(r"V?MUL(PS|PD|SS|SD)|VFN?M(ADD|SUB)\w*"), "fp_mul"),
    **dict.fromkeys(_ids_matching(r"V?DIV(PS|PD|SS|SD)"), "fp_div"),
    **dict.fromkeys(_ids_matching(r"V?SQRT(PS|PD|SS|SD)"), "fp_sqrt"),
    **dict.fromkeys(_ids_matching(r"V?PCMP[EI]STR[IM]"), "simd_string"),
}

#: Capstone groups of the vector and SIMD extensions.
_SIMD_GROUPS = frozenset(
    getattr(x86, f"X86_GRP_{name}")
    for name in ("SSE1", "SSE2", "SSE3", "SSSE3", "SSE41", "SSE42", "SSE4A", "MMX",
                 "3DNOW", "AVX", "AVX2", "AVX512", "FMA", "FMA4", "F16C", "XOP", "AES",
                 "PCLMUL", "SHA")
)

#: String instructions (MOVSD and CMPSD share ids with SSE2 forms: groups decide).
_STRING_IDS = _ids_matching(r"(MOVS|CMPS|LODS|STOS|SCAS|INS|OUTS)[BWDQ]")

#: Classes whose figure already includes any memory access, or that make none
#: (LEA computes an address, multi-byte NOPs only name one).
_NO_MEMORY_EXTRA = frozenset({"nop", "atomic", "string", "rep_string", "syscall"})
_ADDRESS_ONLY_IDS = _ids("LEA")

_LOCK_PREFIX = x86.X86_PREFIX_LOCK
_REP_PREFIXES = frozenset({x86.X86_PREFIX_REP, x86.X86_PREFIX_REPNE})
_IMPLICITLY_LOCKED_WITH_MEMORY = _ids("XCHG")
#: Numbers in capstone's operand text (immediates, displacements, register and
#: scale digits): none of them changes a price, so they are blanked in text keys.
_NUMBER = re.compile(r"0x[0-9a-f]+|[0-9]+")
#: Divisor width (bytes) from which DIV/IDIV is priced as ``div64``.
_DIV64_OPERAND_BYTES = 8


def _class_of(insn_id: int, groups: tuple[int, ...]) -> str:
    """The cost class of an instruction, before operands and prefixes."""
    by_id = _CLASS_BY_ID.get(insn_id)
    if by_id is not None:
        return by_id
    if CS_GRP_INT in groups:
        return "syscall"
    if CS_GRP_CALL in groups:
        return "call"
    if CS_GRP_RET in groups or CS_GRP_IRET in groups:
        return "ret"
    if CS_GRP_JUMP in groups:
        return "jump" if insn_id in _UNCONDITIONAL_JUMPS else "branch"
    if x86.X86_GRP_FPU in groups:
        return _X87_CLASS_BY_ID.get(insn_id, "x87")
    if not _SIMD_GROUPS.isdisjoint(groups):
        return _SIMD_CLASS_BY_ID.get(insn_id, "simd")
    if insn_id in _STRING_IDS:
        return "string"
    return "default"


class InstructionPricer:
    """Instruction count and cycles of code bytes, decoded by capstone, with the
    per-encoding, per-text and per-class caches of :mod:`cofferos.isa.costs`."""

    def __init__(self, costs: InstructionCosts) -> None:
        self.costs = costs
        self._cs = Cs(CS_ARCH_X86, CS_MODE_64)
        self._cs.detail = True
        self._cs.skipdata = True
        self._class_cache: dict[tuple[int, tuple[int, ...]], str] = {}
        self._insn_cache: dict[bytes, int] = {}
        self._text_cache: dict[tuple[str, str], int] = {}

    def sum(self, code: bytes, address: int, stop_pc: int) -> tuple[int, int]:
        count = cycles = 0
        insn_cache = self._insn_cache
        text_cache = self._text_cache
        for insn_address, size, mnemonic, op_str in self._cs.disasm_lite(code, address):
            if insn_address >= stop_pc:
                break
            start = insn_address - address
            encoding = code[start:start + size]
            price = insn_cache.get(encoding)
            if price is None:
                text = (mnemonic, _NUMBER.sub("#", op_str))
                price = text_cache.get(text)
                if price is None:
                    price = self._price(encoding, insn_address)
                    text_cache[text] = price
                insn_cache[encoding] = price
            count += 1
            cycles += price
        return count, cycles

    def _price(self, encoding: bytes, address: int) -> int:
        """Cycles of one instruction, from a detailed decode of its bytes."""
        insn = next(self._cs.disasm(encoding, address, 1))
        if insn.id == _SKIPDATA_ID:
            return self.costs.default
        key = (insn.id, tuple(insn.groups))
        cost_class = self._class_cache.get(key)
        if cost_class is None:
            cost_class = _class_of(*key)
            self._class_cache[key] = cost_class
        return self._apply_operands(insn, cost_class)

    def _apply_operands(self, insn: CsInsn, cost_class: str) -> int:
        """Refine a class by prefixes and operands and add memory access costs."""
        costs = self.costs
        memory_accesses = [op.access for op in insn.operands if op.type == x86.X86_OP_MEM]
        prefix = insn.prefix[0]
        if prefix == _LOCK_PREFIX or (
            memory_accesses and insn.id in _IMPLICITLY_LOCKED_WITH_MEMORY
        ):
            cost_class = "atomic"
        elif cost_class == "string" and prefix in _REP_PREFIXES:
            cost_class = "rep_string"
        elif cost_class == "div":
            wide = insn.operands[0].size >= _DIV64_OPERAND_BYTES
            cost_class = "div64" if wide else "div32"
        cycles: int = getattr(costs, cost_class)
        if cost_class in _NO_MEMORY_EXTRA or insn.id in _ADDRESS_ONLY_IDS:
            return cycles
        for access in memory_accesses:
            if access & CS_AC_READ or not access & CS_AC_WRITE:
                cycles += costs.load
            if access & CS_AC_WRITE:
                cycles += costs.store
        return cycles
