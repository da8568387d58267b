"""The cost of one guest instruction, by class, in core cycles.

This file is data: one frozen dataclass whose fields are the cycles charged
for each class of x86-64 instruction, every default with its source. The
classifier that maps a decoded instruction onto these fields, and the
per-block cache the Cpu's compiled block hook reads, live next door in
``costs.py``; kernel work (system call entry, page faults, ...) is charged by
the kernel cost model in ``sim/`` from ``docs/calibration.md``, never here.

Source. Unless a field says otherwise, a figure is the *reciprocal
throughput* on Intel Skylake (client, 4-wide) from Agner Fog, "Instruction
tables: lists of instruction latencies, throughputs and micro-operation
breakdowns", instruction_tables.pdf (2022 edition), Skylake section, rounded
up to whole cycles (uops.info, Abel and Reineke, measures the same forms and
is the place to cross-check them). Fields marked ``E:`` are estimates and say
why.

What the numbers are, honestly. Throughput, not latency: they assume the
out-of-order core overlaps independent work, so a chain of dependent
instructions is undercharged and a burst of independent simple ones is
overcharged (a Skylake core can retire four simple instructions a cycle;
rounding 0.25 up to 1 makes simple code run at one instruction per cycle).
Memory operands are assumed to hit the L1 cache. Branch misprediction,
cache misses, TLB misses and front-end stalls are not modelled. The result is
a first-order cost per instruction class, meant to rank workloads and to be
calibrated against native runs, not a cycle-accurate core model.

>>> DEFAULT_COSTS.with_overrides(div64=40).div64
40
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class InstructionCosts:
    """Cycles charged per instruction class, at the simulated core's frequency.

    Memory operands add ``load`` and/or ``store`` on top of the class cost,
    except for classes whose figure already includes the access (``atomic``,
    ``string``, ``rep_string``, ``stack`` for register pushes and pops).
    """

    #: Simple integer ALU, register and immediate moves, LEA, SETcc, CMOVcc,
    #: shifts, bit scans, POPCNT: 0.25-1 per instruction, rounded up.
    default: int = 1
    #: NOP, multi-byte NOP, ENDBR64, FNOP: 0.25 (still an issue slot), rounded up.
    nop: int = 1
    #: Extra for a memory source operand: two load ports, 0.5 per load, rounded up;
    #: an L1 hit is assumed and its 4-5 cycle latency is left to out-of-order overlap.
    load: int = 1
    #: Extra for a memory destination operand: one store-data port, 1 per store.
    store: int = 1
    #: PUSH/POP of a register, PUSHF/POPF, LEAVE: PUSH r 1, POP r 0.5, stack access included.
    stack: int = 1
    #: Conditional branch (Jcc, JrCXZ, LOOPcc): Jcc 0.5-2 (1-2 when taken), rounded to 1;
    #: taken or not is unknown statically and misprediction is not modelled.
    branch: int = 1
    #: Unconditional JMP, direct or indirect: JMP 1-2 (JMP r 2), rounded to 2.
    jump: int = 2
    #: CALL near, direct or indirect: CALL rel 3, CALL r 2; charged 3, push included.
    call: int = 3
    #: RET / RET imm: 2, pop of the return address included.
    ret: int = 2
    #: IMUL r,r(,imm), one-operand MUL/IMUL, MULX: 1.
    imul: int = 1
    #: DIV/IDIV with an 8-, 16- or 32-bit divisor: 6.
    div32: int = 6
    #: DIV/IDIV with a 64-bit divisor: DIV r64 21-83, IDIV r64 24-90 depending on the
    #: operands; charged 24, the low end, since compiled code mostly divides small values.
    div64: int = 24
    #: FP add/sub/min/max: SSE/AVX scalar and packed 0.5, x87 FADD/FSUB 1; rounded up.
    fp_add: int = 1
    #: FP multiply and fused multiply-add: SSE/AVX 0.5, x87 FMUL 1; rounded up.
    fp_mul: int = 1
    #: FP divide: DIVSS 3, DIVSD/DIVPD 4, x87 FDIV 4-5; charged 4, the SSE2 double
    #: form compilers emit.
    fp_div: int = 4
    #: FP square root: SQRTSS 3, SQRTSD 4-6, x87 FSQRT 4-7; charged 6 (SQRTSD, upper end).
    fp_sqrt: int = 6
    #: E: x87 transcendentals (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, FYL2X, F2XM1, FPREM...):
    #: Agner lists 15-160 cycles for these microcoded sequences; 100 is a round middle.
    fp_transcendental: int = 100
    #: Other x87 (FLD, FST, FXCH, FCOM, FILD, ...): 0.5-1, rounded up (FLD/FSTP m80 2-5
    #: are not distinguished).
    x87: int = 1
    #: Other SSE/AVX/MMX (logic, shuffles, moves, integer SIMD, conversions): 0.33-1,
    #: rounded up. Unicorn 2.1 cannot execute AVX, so only SSE forms run in practice.
    simd: int = 1
    #: SSE4.2 string compares PCMPISTRI/M 3, PCMPESTRI/M 4; charged 4.
    simd_string: int = 4
    #: String instruction without REP (MOVS, CMPS, LODS, STOS, SCAS, INS, OUTS): MOVS/CMPS
    #: 4-5, LODS/STOS/SCAS 1-2; charged 4, memory accesses included.
    string: int = 4
    #: E: REP/REPNE string instruction, charged once per instruction. The iteration count
    #: (RCX) is unknown when a block is translated, so this is a fixed estimate: the
    #: fast-string microcode start-up of a few tens of cycles (Intel 64 and IA-32
    #: Optimization Reference Manual, "Enhanced REP MOVSB and STOSB") plus a short string.
    rep_string: int = 40
    #: LOCK-prefixed read-modify-write, and XCHG with memory (implicitly locked):
    #: LOCK ADD/XADD/CMPXCHG about 18; memory access included.
    atomic: int = 18
    #: MFENCE 33 (LFENCE 4 and SFENCE 6 are charged the same: they are rare in user code).
    fence: int = 33
    #: SYSCALL, SYSENTER, INT n, INT3: 0 here; kernel entry, exit and work are charged
    #: by the kernel cost model (docs/calibration.md), so charging them here would count twice.
    syscall: int = 0
    #: CPUID: 100-250 on bare metal; the low end. A VM exit, if any, is charged by sim/.
    cpuid: int = 100
    #: RDTSC 25 (RDTSCP 32 is charged the same).
    rdtsc: int = 25
    #: PAUSE: about 140 on Skylake (up from about 10 on earlier cores; Intel Optimization
    #: Reference Manual, Skylake section, and Agner Fog).
    pause: int = 140

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{f.name} must be an int number of cycles, got {value!r}")
            if value < 0:
                raise ValueError(f"{f.name} must be >= 0 cycles, got {value}")

    def with_overrides(self, **overrides: int) -> InstructionCosts:
        """Return a copy with some classes re-priced.

        Raises ValueError on an unknown class name (listing the valid ones) or
        a negative cost, TypeError on a cost that is not an int.
        """
        valid = self.field_names()
        unknown = sorted(set(overrides) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown instruction class(es) {unknown}; valid: {', '.join(valid)}"
            )
        return replace(self, **overrides)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The instruction class names, in declaration order."""
        return tuple(f.name for f in fields(cls))


#: The costs used unless a run configures others (Skylake, see the module docstring).
DEFAULT_COSTS = InstructionCosts()
