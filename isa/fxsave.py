"""The x87/SSE register state as the FXSAVE instruction lays it out in memory.

Linux saves a thread's FPU state in every signal frame in this 512-byte format
(``struct _fpstate_64`` in arch/x86/include/uapi/asm/sigcontext.h; glibc's
``struct _libc_fpstate`` and musl's ``struct _fpstate`` are the same layout) when
the CPU has no XSAVE, which the simulated CPU does not advertise
(:mod:`cofferos.isa.cpuid`)::

    +0   cwd (FCW)      +2  swd (FSW, with TOP)   +4  ftw (abridged tags: bit i set =
    physical register i in use)   +6  fop   +8  rip   +16 rdp   +24 mxcsr
    +28  mxcsr_mask     +32 _st[8]: ST(0)..ST(7), 10 bytes each in a 16-byte slot
    +160 _xmm[16]       +416 padding (48 bytes), +464 sw_reserved (48 bytes)

Unicorn names the x87 registers by physical number (FP0-FP7, read as (mantissa,
exponent)); ST(i) is FP[(TOP + i) mod 8]. Its ST0-ST7 registers read only the
64-bit mantissa through the binding, so they are never used here.

:func:`fpu_init` is the state a signal handler starts with (Linux's
``fpu__clear_user_states``: the init state, as execve leaves it).
"""

from __future__ import annotations

import struct

from unicorn import Uc
from unicorn import x86_const as X86

FXSAVE_SIZE = 512
FXSAVE_ALIGN = 64  #: the fxsave area must be 16-byte aligned; Linux aligns it to 64
HEADER = struct.Struct("<HHBxHQQII")  # cwd, swd, ftw (abridged), fop, rip, rdp, mxcsr, mask
ST_OFFSET, ST_SLOT, XMM_OFFSET, XMM_SIZE = 32, 16, 160, 16
FP80 = struct.Struct("<QH")  # significand, sign and exponent
X87_REGISTERS = 8
FP_REGS = tuple(X86.UC_X86_REG_FP0 + i for i in range(X87_REGISTERS))
XMM_REGS = tuple(getattr(X86, f"UC_X86_REG_XMM{i}") for i in range(16))
TOP_SHIFT, TOP_MASK = 11, 7  #: FSW bits 11-13: the register stack's top
TAG_BITS, TAG_EMPTY = 2, 3  #: the full tag word: two bits per physical register
#: The init state (Linux's fpstate_init, as after FNINIT): control word 0x37F (every
#: x87 exception masked, 64-bit precision, round to nearest), every tag empty,
#: MXCSR 0x1F80 (every SSE exception masked, round to nearest).
FPU_CONTROL_WORD = 0x37F
FPU_TAGS_EMPTY = 0xFFFF
MXCSR_DEFAULT = 0x1F80
#: MXCSR bits a CPU with DAZ supports (the fxsave area's mxcsr_mask): all but bit 16+.
MXCSR_MASK = 0xFFFF


def _top(fsw: int) -> int:
    return (fsw >> TOP_SHIFT) & TOP_MASK


def fxsave(uc: Uc) -> bytes:
    """The engine's x87 and SSE registers as a 512-byte fxsave image."""
    fsw = uc.reg_read(X86.UC_X86_REG_FPSW)
    tags = uc.reg_read(X86.UC_X86_REG_FPTAG)
    abridged = sum(1 << i for i in range(X87_REGISTERS)
                   if (tags >> (TAG_BITS * i)) & TAG_EMPTY != TAG_EMPTY)
    area = bytearray(FXSAVE_SIZE)
    HEADER.pack_into(area, 0, uc.reg_read(X86.UC_X86_REG_FPCW), fsw, abridged, 0, 0, 0,
                     uc.reg_read(X86.UC_X86_REG_MXCSR), MXCSR_MASK)
    top = _top(fsw)
    for i in range(X87_REGISTERS):
        mantissa, exponent = uc.reg_read(FP_REGS[(top + i) % X87_REGISTERS])  # type: ignore[misc]
        FP80.pack_into(area, ST_OFFSET + ST_SLOT * i, mantissa, exponent)
    for i, reg in enumerate(XMM_REGS):
        area[XMM_OFFSET + XMM_SIZE * i: XMM_OFFSET + XMM_SIZE * (i + 1)] = \
            uc.reg_read(reg).to_bytes(XMM_SIZE, "little")  # type: ignore[union-attr]
    return bytes(area)


def fxrstor(uc: Uc, area: bytes) -> None:
    """Load the x87 and SSE registers from a 512-byte fxsave image."""
    fcw, fsw, abridged, _fop, _rip, _rdp, mxcsr, _mask = HEADER.unpack_from(area, 0)
    uc.reg_write(X86.UC_X86_REG_FPCW, fcw)
    uc.reg_write(X86.UC_X86_REG_FPSW, fsw)
    uc.reg_write(X86.UC_X86_REG_FPTAG, sum(
        0 if abridged >> i & 1 else TAG_EMPTY << (TAG_BITS * i) for i in range(X87_REGISTERS)))
    # Reserved MXCSR bits are dropped, as Linux's sigreturn does (mxcsr_feature_mask)
    # where the FXRSTOR instruction itself would fault.
    uc.reg_write(X86.UC_X86_REG_MXCSR, mxcsr & MXCSR_MASK)
    top = _top(fsw)
    for i in range(X87_REGISTERS):
        uc.reg_write(FP_REGS[(top + i) % X87_REGISTERS],
                     FP80.unpack_from(area, ST_OFFSET + ST_SLOT * i))  # type: ignore[arg-type]
    for i, reg in enumerate(XMM_REGS):
        start = XMM_OFFSET + XMM_SIZE * i
        uc.reg_write(reg, int.from_bytes(area[start:start + XMM_SIZE], "little"))


def fpu_init(uc: Uc) -> None:
    """The FPU's init state: what execve leaves and what a signal handler starts with."""
    area = bytearray(FXSAVE_SIZE)
    HEADER.pack_into(area, 0, FPU_CONTROL_WORD, 0, 0, 0, 0, 0, MXCSR_DEFAULT, MXCSR_MASK)
    fxrstor(uc, bytes(area))
