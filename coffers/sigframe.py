"""Signal frames on the guest stack, and ``rt_sigreturn`` (arch/x86/kernel/signal.c).

To run a handler the kernel saves the interrupted registers in a
``struct rt_sigframe`` on the user stack (or the alternate signal stack),
points RIP at the handler with (signo, &siginfo, &ucontext) in RDI, RSI, RDX,
and leaves the libc-provided restorer as the return address; the restorer calls
``rt_sigreturn``, which loads the registers back from the frame. Layout, from
the frame's lowest address (the new RSP)::

    +0    pretcode  (the SA_RESTORER address: the handler's return address)
    +8    ucontext  uc_flags, uc_link, uc_stack (24), uc_mcontext (sigcontext, 256), uc_sigmask
    +312  siginfo   (128 bytes)
          ...       fxsave area (512 bytes, 64-byte aligned; uc_mcontext.fpstate
                    points to it): the whole x87 and SSE state (:mod:`cofferos.isa.fxsave`)

Handlers may change the saved registers (a handler that skips the faulting
instruction does, and one may edit ``uc_mcontext.fpregs``): rt_sigreturn takes
them from the frame, the FPU state included. The handler itself starts with the
FPU in its init state (Linux's ``fpu__clear_user_states``): round to nearest,
x87 stack empty, XMM registers zero, whatever the interrupted code had set, and
whatever it changes is undone by rt_sigreturn.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import x86_const as X86

from cofferos.coffers.signals import SigInfo
from cofferos.isa.faults import MemoryFault
from cofferos.isa.fxsave import FXSAVE_ALIGN, FXSAVE_SIZE, fpu_init, fxrstor, fxsave

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

GREGS = (  # struct sigcontext / glibc gregs order
    X86.UC_X86_REG_R8, X86.UC_X86_REG_R9, X86.UC_X86_REG_R10, X86.UC_X86_REG_R11,
    X86.UC_X86_REG_R12, X86.UC_X86_REG_R13, X86.UC_X86_REG_R14, X86.UC_X86_REG_R15,
    X86.UC_X86_REG_RDI, X86.UC_X86_REG_RSI, X86.UC_X86_REG_RBP, X86.UC_X86_REG_RBX,
    X86.UC_X86_REG_RDX, X86.UC_X86_REG_RAX, X86.UC_X86_REG_RCX, X86.UC_X86_REG_RSP,
    X86.UC_X86_REG_RIP, X86.UC_X86_REG_EFLAGS,
)
USER_CS, USER_SS = 0x33, 0x2B
RED_ZONE = 128  # the x86-64 ABI lets leaf functions use 128 bytes below RSP
SIGINFO_SIZE = 128
UCONTEXT = struct.Struct("<QQQi4xQ")  # uc_flags, uc_link, ss_sp, ss_flags, ss_size
SIGCONTEXT_WORDS = 32  # 18 registers, csgsfs, err, trapno, oldmask, cr2, fpstate, 8 reserved
SIGCONTEXT = struct.Struct(f"<{SIGCONTEXT_WORDS}Q")
UC_OFFSET = 8
MCONTEXT_OFFSET = UC_OFFSET + UCONTEXT.size
SIGMASK_OFFSET = MCONTEXT_OFFSET + SIGCONTEXT.size
SIGINFO_OFFSET = SIGMASK_OFFSET + 8
FRAME_SIZE = SIGINFO_OFFSET + SIGINFO_SIZE
FPSTATE_INDEX = 23  # index of the fpstate pointer in sigcontext
OLDMASK_INDEX, ERR_INDEX, TRAPNO_INDEX, CR2_INDEX, CSGSFS_INDEX = 21, 19, 20, 22, 18
SS_ONSTACK, SS_DISABLE = 1, 2
RESTORABLE_FLAGS = 0x40DD5  # AC|OF|DF|TF|SF|ZF|AF|PF|CF: what sigreturn may change (FIX_EFLAGS)
STACK_ALIGN = 16
MASK64 = (1 << 64) - 1


def pack_siginfo(info: SigInfo) -> bytes:
    """siginfo_t: signo, errno, code, then the union member for this kind of signal."""
    head = struct.pack("<iii4x", info.signo, info.errno, info.code)
    if info.addr:
        body = struct.pack("<Q", info.addr)
    elif info.band:  # _sigpoll: si_band (long), si_fd (int)
        body = struct.pack("<qi", info.band, info.fd)
    elif info.value:  # _rt: si_pid, si_uid, si_value (a message queue's notification)
        body = struct.pack("<iIQ", info.pid, info.uid, info.value)
    else:
        body = struct.pack("<iIi", info.pid, info.uid, info.status)
    return (head + body).ljust(SIGINFO_SIZE, b"\0")


def on_altstack(task: Task, sp: int) -> bool:
    base, flags, size = task.altstack
    return not flags & SS_DISABLE and size > 0 and base < sp <= base + size


def setup_frame(task: Task, info: SigInfo, handler: int, restorer: int, use_altstack: bool,
                saved_mask: int) -> None:
    """Build the rt_sigframe and point the CPU at ``handler``."""
    cpu, uc = task.cpu, task.cpu.uc
    regs = [uc.reg_read(r) for r in GREGS]
    sp = regs[15]
    base, flags, size = task.altstack
    if use_altstack and size and not flags & SS_DISABLE and not on_altstack(task, sp):
        sp = base + size
    else:
        sp -= RED_ZONE
    fpstate = (sp - FXSAVE_SIZE) & ~(FXSAVE_ALIGN - 1)
    frame = ((fpstate - FRAME_SIZE) & ~(STACK_ALIGN - 1)) - 8

    # The guest must be able to write the whole frame (Linux's copy_to_user into it
    # faults otherwise, and the signal becomes SIGSEGV); Unicorn alone would store
    # into a read-only stack.
    if cpu.memory_map.accessible(frame, fpstate + FXSAVE_SIZE - frame, writing=True) < \
            fpstate + FXSAVE_SIZE - frame:
        raise MemoryFault(frame, fpstate + FXSAVE_SIZE - frame)
    fx = fxsave(uc)
    context = regs + [USER_CS | (USER_SS << 48), 0, 0, saved_mask, info.addr, fpstate] + [0] * 8
    if not size:
        alt_flags = SS_DISABLE
    else:
        alt_flags = SS_ONSTACK if on_altstack(task, frame) else flags
    raw = (struct.pack("<Q", restorer)
           + UCONTEXT.pack(0, 0, base, alt_flags, size)
           + SIGCONTEXT.pack(*[v & MASK64 for v in context])
           + struct.pack("<Q", saved_mask)
           + pack_siginfo(info))
    cpu.write(frame, raw)
    cpu.write(fpstate, fx)
    fpu_init(uc)  # the handler starts with a clean FPU; rt_sigreturn restores the saved one
    uc.reg_write(X86.UC_X86_REG_RSP, frame)
    uc.reg_write(X86.UC_X86_REG_RIP, handler)
    uc.reg_write(X86.UC_X86_REG_RDI, info.signo)
    uc.reg_write(X86.UC_X86_REG_RSI, frame + SIGINFO_OFFSET)
    uc.reg_write(X86.UC_X86_REG_RDX, frame + UC_OFFSET)
    uc.reg_write(X86.UC_X86_REG_RAX, 0)
    # The direction flag is clear on entry to a function (ABI).
    uc.reg_write(X86.UC_X86_REG_EFLAGS, regs[17] & ~0x400)


def restore_frame(task: Task) -> int:
    """rt_sigreturn: load registers and the signal mask from the frame; returns the mask."""
    cpu, uc = task.cpu, task.cpu.uc
    frame = uc.reg_read(X86.UC_X86_REG_RSP) - 8  # the handler's ret popped pretcode
    context = SIGCONTEXT.unpack(cpu.read(frame + MCONTEXT_OFFSET, SIGCONTEXT.size))
    (mask,) = struct.unpack("<Q", cpu.read(frame + SIGMASK_OFFSET, 8))
    for reg, value in zip(GREGS[:17], context[:17], strict=True):
        uc.reg_write(reg, value)
    flags = uc.reg_read(X86.UC_X86_REG_EFLAGS)
    uc.reg_write(X86.UC_X86_REG_EFLAGS,
                 (flags & ~RESTORABLE_FLAGS) | (context[17] & RESTORABLE_FLAGS))
    fpstate = context[FPSTATE_INDEX]
    if fpstate:
        fxrstor(uc, cpu.read(fpstate, FXSAVE_SIZE))
    return int(mask)
