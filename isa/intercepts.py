"""What the engine calls back into the CPU: system calls, intercepted instructions,
guest exceptions and TLB misses.

* SYSCALL: the native trap (:mod:`cofferos.isa.syscalltrap`) calls one of two
  entries, the second when first touches are logged, so that the kernel counts
  those page faults before the call; the ctypes trap decides the same in Python;

* a fixed CPUID (:mod:`cofferos.isa.cpuid`);
* a virtual time-stamp counter: ``rdtsc`` and ``rdtscp`` read
  :attr:`~cofferos.isa.cpu.Cpu.on_rdtsc` (the kernel answers with its clock in
  cycles), never the host's TSC;
* guest faults (unmapped or protected access, bad fetch, invalid opcode, divide
  error, int3...) recorded as a :class:`Fault` with the Linux signal they raise;
* with ``track_pages``, each TLB miss (the Python hook) or each page's first use
  (the C hook's callback, or its log: :mod:`cofferos.isa.touchlog`) shown to the
  kernel, which counts page faults.

:class:`Intercepts` is a part of :class:`~cofferos.isa.cpu.Cpu`, which installs
these callbacks on its engine (``Cpu._install_hooks``). An exception raised by
the kernel inside them is kept in ``pending_error``, never lost in ctypes, and
re-raised by :meth:`~cofferos.isa.cpu.Cpu.run`.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from unicorn import (
    UC_MEM_FETCH_PROT,
    UC_MEM_FETCH_UNMAPPED,
    UC_MEM_READ_PROT,
    UC_MEM_READ_UNMAPPED,
    UC_MEM_WRITE_PROT,
    UC_MEM_WRITE_UNMAPPED,
    Uc,
)
from unicorn import x86_const as X86

from cofferos.isa.blockmap import PROT_EXEC, PROT_READ, PROT_WRITE, TLB_LOGGED, guest_address
from cofferos.isa.cpuid import cpuid
from cofferos.isa.faults import VECTOR_SIGNALS, Fault
from cofferos.isa.registers import U64_MASK

if TYPE_CHECKING:
    from cofferos.isa.cpu import Cpu

LOW32_MASK = (1 << 32) - 1
#: The access of a bad-access report (Unicorn's UC_MEM_*), as an mmap PROT_* bit.
FAULT_ACCESS = {UC_MEM_READ_UNMAPPED: PROT_READ, UC_MEM_READ_PROT: PROT_READ,
                UC_MEM_WRITE_UNMAPPED: PROT_WRITE, UC_MEM_WRITE_PROT: PROT_WRITE,
                UC_MEM_FETCH_UNMAPPED: PROT_EXEC, UC_MEM_FETCH_PROT: PROT_EXEC}


class Intercepts:
    """The engine's callbacks into a :class:`~cofferos.isa.cpu.Cpu` (a part of it)."""

    def log_first_touches(self: Cpu, on_touches: Callable[[Cpu, list[int]], None] | None) -> None:
        """Have the C hook log first touches, given to ``on_touches(cpu, cycles)`` as
        a list of the counter's cycles at each (:mod:`cofferos.isa.touchlog`) whenever
        Python next runs here; None: :attr:`on_first_touch` at each, with its page.
        Without the C hook, nothing changes (:attr:`on_tlb_fill` sees every miss)."""
        if self._touches is None:
            return
        self.take_touches()  # (what the last handler logged goes to it)
        self.on_first_touches = on_touches
        self._touches.enable(on_touches is not None)
        self._touch_words = self._touches.words if on_touches is not None else None

    def take_touches(self: Cpu) -> None:
        """Give the kernel the first touches logged since it last ran here."""
        if self.on_first_touches is not None and self._touches is not None:
            cycles = self._touches.take()
            if cycles:
                self.on_first_touches(self, cycles)

    def _trap_args(self: Cpu) -> list[int]:
        """The ctypes trap's :attr:`trap_args`: the call's seven registers and the
        counter's cycles at the call, as the native trap's words give them."""
        args = self.syscall_args()
        args.append(self.counter.cycles)
        return args

    def _on_syscall_insn(self: Cpu, _uc: int, _user: int) -> None:
        words = self._touch_words  # (the ctypes trap: what the C hook decides)
        if words is not None and words[TLB_LOGGED]:
            self._on_touched_trap()
        else:
            self._on_native_trap()

    def _on_native_trap(self: Cpu) -> None:
        """SYSCALL, no first touch logged (the C hook looked)."""
        try:
            if self.passing:
                self.settle_boundaries()
            self.on_syscall(self)
        except BaseException as exc:  # noqa: BLE001 - re-raised by run()
            self.pending_error = exc
            self.stop()

    def _on_touched_trap(self: Cpu) -> None:
        """SYSCALL with first touches logged: the kernel's counts as they stand at the
        call, then the call."""
        try:
            if self.passing:
                self.settle_boundaries()
            self.take_touches()
            self.on_syscall(self)
        except BaseException as exc:  # noqa: BLE001 - re-raised by run()
            self.pending_error = exc
            self.stop()

    def _on_tlb_fill(self: Cpu, _uc: int, page: int, access: int, entry: object,
                     _user: int) -> bool:
        fill = entry.contents  # type: ignore[attr-defined]
        fill.paddr, fill.perms = self.memory_map.tlb_answer(page, access)
        if self.track_pages:
            try:
                self.on_tlb_fill(self, page)
            except BaseException as exc:  # noqa: BLE001 - re-raised by run()
                self.pending_error = exc
        return True

    def _on_first_touch(self: Cpu, _ctl: int, page: int) -> None:
        try:
            if self.passing:
                self.settle_boundaries()
            self.take_touches()  # a full log: the faults before this one first
            self.on_first_touch(self, page)
        except BaseException as exc:  # noqa: BLE001 - re-raised by run()
            self.pending_error = exc

    def _on_cpuid(self: Cpu, _uc: int, _user: int) -> int:
        leaf = self.reg(X86.UC_X86_REG_RAX) & 0xFFFFFFFF
        subleaf = self.reg(X86.UC_X86_REG_RCX) & 0xFFFFFFFF
        for reg, value in zip(
            (X86.UC_X86_REG_RAX, X86.UC_X86_REG_RBX, X86.UC_X86_REG_RCX, X86.UC_X86_REG_RDX),
            cpuid(leaf, subleaf), strict=True,
        ):
            self.set_reg(reg, value)
        return 1  # skip the emulator's own CPUID

    def _on_rdtsc(self: Cpu, _uc: int, _user: int) -> int:
        """RDTSC: EDX:EAX from the kernel's clock, in cycles (the binding refuses this
        hook; Unicorn's C API takes it with CPUID's prototype)."""
        if self.passing:
            try:
                self.settle_boundaries()
            except BaseException as exc:  # noqa: BLE001 - re-raised by run()
                self.pending_error = exc
                self.stop()
                return 1
        if self._touch_words is not None:
            self.take_touches()  # (the kernel's clock counts the faults' cycles)
        tsc = self.on_rdtsc(self) & U64_MASK
        self.set_reg(X86.UC_X86_REG_RAX, tsc & LOW32_MASK)
        self.set_reg(X86.UC_X86_REG_RDX, tsc >> 32)
        return 1  # skip the emulator's own, which reads the host's TSC

    def _on_rdtscp(self: Cpu, uc: int, user: int) -> int:
        """RDTSCP: as RDTSC, and ECX = TSC_AUX (Linux puts the CPU number there)."""
        self.set_reg(X86.UC_X86_REG_RCX, self.tsc_aux)
        return self._on_rdtsc(uc, user)

    def _on_bad_access(self: Cpu, _uc: Uc, access: int, address: int, size: int, _value: int,
                       _user: object) -> bool:
        kind = FAULT_ACCESS.get(access, PROT_READ)
        self.fault = Fault(signal.SIGSEGV, self.pc, guest_address(address),
                           "bad instruction fetch" if kind == PROT_EXEC else "bad memory access",
                           access=kind)
        return False

    def _on_interrupt(self: Cpu, _uc: Uc, vector: int, _user: object) -> None:
        sig = VECTOR_SIGNALS.get(vector, signal.SIGSEGV)
        self.fault = Fault(sig, self.pc, 0, f"exception vector {vector}")
        self.stop()

    def _on_invalid_insn(self: Cpu, _uc: Uc, _user: object) -> bool:
        self.fault = Fault(signal.SIGILL, self.pc, 0, "invalid opcode")
        return False
