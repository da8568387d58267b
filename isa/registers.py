"""The guest CPU's register file: the registers a kernel reads and writes.

The x86-64 system call ABI's registers (:data:`SYSCALL_REGS`), read in one
``uc_reg_read_batch`` and the result written with one ``uc_reg_write``, through
our own ctypes prototypes on the library's symbols and buffers the
:class:`~cofferos.isa.cpu.Cpu` preallocates (the binding's ``reg_read`` and
``reg_write`` cost 3-5 us each); the registers a forked child inherits
(:data:`CONTEXT_REGS`); whole contexts saved and restored to switch threads;
and RIP, RSP and the FS/GS bases as properties.

:class:`RegisterFile` is a part of :class:`~cofferos.isa.cpu.Cpu`, which owns the
engine and the buffers; it knows nothing of memory or of the run loop.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from unicorn import x86_const as X86
from unicorn.unicorn_py3.unicorn import uclib

from cofferos.isa.fxsave import FP_REGS

if TYPE_CHECKING:
    from cofferos.isa.cpu import Cpu

U64_MASK = (1 << 64) - 1  #: a register's 64 bits
_u64, _vp, _i32 = ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int
# Our own prototypes on the library's symbols: buffers out, no conversion layers.
_reg_read_batch = ctypes.CFUNCTYPE(_i32, _vp, _vp, _vp, _i32)(("uc_reg_read_batch", uclib))
_reg_write = ctypes.CFUNCTYPE(_i32, _vp, _i32, _vp)(("uc_reg_write", uclib))
_reg_read = ctypes.CFUNCTYPE(_i32, _vp, _i32, _vp)(("uc_reg_read", uclib))

#: The registers of the x86-64 system call ABI, in the order the kernel reads them.
SYSCALL_REGS = (
    X86.UC_X86_REG_RAX,
    X86.UC_X86_REG_RDI,
    X86.UC_X86_REG_RSI,
    X86.UC_X86_REG_RDX,
    X86.UC_X86_REG_R10,
    X86.UC_X86_REG_R8,
    X86.UC_X86_REG_R9,
)

_SYSCALL_REG_COUNT = ctypes.c_int(len(SYSCALL_REGS))
_RAX_ARG = ctypes.c_int(X86.UC_X86_REG_RAX)  #: a ready argument: no int conversion per call


#: Everything a forked child inherits from its parent's registers.
CONTEXT_REGS = (
    *(getattr(X86, f"UC_X86_REG_{name}") for name in (
        "RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "RSP", "R8", "R9", "R10", "R11",
        "R12", "R13", "R14", "R15", "RIP", "EFLAGS", "FS_BASE", "GS_BASE", "FPCW", "FPSW",
        "FPTAG", "MXCSR")),
    *(getattr(X86, f"UC_X86_REG_XMM{i}") for i in range(16)),
    # The x87 registers by physical number: the binding reads ST0-ST7 as 64 bits only,
    # losing the exponent (FSW's TOP, copied above, says which is ST(0)).
    *FP_REGS,
)


class RegisterFile:
    """The registers of the thread on a :class:`~cofferos.isa.cpu.Cpu` (a part of it)."""

    def save_context(self: Cpu) -> object:
        """All registers of the thread on this CPU (to switch to another thread)."""
        return self.uc.context_save()

    def restore_context(self: Cpu, context: object) -> None:
        self.uc.context_restore(context)  # type: ignore[arg-type]

    def copy_registers_to(self: Cpu, other: Cpu) -> None:
        """Copy the user-visible register state into another engine (fork)."""
        for reg in CONTEXT_REGS:
            other.uc.reg_write(reg, self.uc.reg_read(reg))

    def syscall_args(self: Cpu) -> list[int]:
        """RAX (the call number) and the six argument registers, read in one call,
        as a fresh list (slicing a list is cheaper than slicing a ctypes array)."""
        _reg_read_batch(self._handle_arg, self._regs_arg, self._val_ptrs_arg, _SYSCALL_REG_COUNT)
        return self._vals[:]

    def set_result(self: Cpu, value: int) -> None:
        """Write a system call's return value to RAX."""
        self._scratch.value = value & U64_MASK
        _reg_write(self._handle_arg, _RAX_ARG, self._scratch_arg)

    def commit_result(self: Cpu) -> None:
        """Write a deferred result to RAX now (before anything reads or saves RAX)."""
        if self.trap is not None and (value := self.trap.take_result()) is not None:
            self.set_result(value)

    def reg(self: Cpu, reg_id: int) -> int:
        _reg_read(self._handle, reg_id, ctypes.byref(self._scratch))
        return self._scratch.value

    def set_reg(self: Cpu, reg_id: int, value: int) -> None:
        self._scratch.value = value & U64_MASK
        _reg_write(self._handle, reg_id, ctypes.byref(self._scratch))

    def reg_rax(self: Cpu) -> int:
        return self.reg(X86.UC_X86_REG_RAX)

    @property
    def pc(self: Cpu) -> int:
        return self.reg(X86.UC_X86_REG_RIP)

    @pc.setter
    def pc(self: Cpu, value: int) -> None:
        self.set_reg(X86.UC_X86_REG_RIP, value)

    @property
    def sp(self: Cpu) -> int:
        return self.reg(X86.UC_X86_REG_RSP)

    @sp.setter
    def sp(self: Cpu, value: int) -> None:
        self.set_reg(X86.UC_X86_REG_RSP, value)

    @property
    def fs_base(self: Cpu) -> int:
        return self.reg(X86.UC_X86_REG_FS_BASE)

    @fs_base.setter
    def fs_base(self: Cpu, value: int) -> None:
        self.set_reg(X86.UC_X86_REG_FS_BASE, value)

    @property
    def gs_base(self: Cpu) -> int:
        return self.reg(X86.UC_X86_REG_GS_BASE)

    @gs_base.setter
    def gs_base(self: Cpu, value: int) -> None:
        self.set_reg(X86.UC_X86_REG_GS_BASE, value)
