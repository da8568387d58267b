"""Guest faults: what the CPU reports when guest code or a kernel access goes wrong.

A :class:`Fault` is a fault of the guest program (an unmapped or protected
access, a bad fetch, an exception vector) with the signal Linux sends for it;
:class:`MemoryFault` is the kernel model touching a bad guest pointer, which a
system call answers with EFAULT. Neither ever stops the simulator.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

__all__ = ["VECTOR_SIGNALS", "Fault", "MemoryFault"]

# x86 exception vectors (Intel SDM vol. 3A, table 6-1) and the signal Linux sends.
VECTOR_SIGNALS = {
    0: signal.SIGFPE,  # #DE divide error
    1: signal.SIGTRAP,  # #DB debug
    3: signal.SIGTRAP,  # #BP int3
    4: signal.SIGSEGV,  # #OF into
    5: signal.SIGSEGV,  # #BR bound
    6: signal.SIGILL,  # #UD invalid opcode
    13: signal.SIGSEGV,  # #GP general protection (also "int N" from user mode)
    14: signal.SIGSEGV,  # #PF page fault
    16: signal.SIGFPE,  # #MF x87 floating point
    17: signal.SIGBUS,  # #AC alignment check
    19: signal.SIGFPE,  # #XM SIMD floating point
}


class MemoryFault(Exception):
    """A kernel access to guest memory hit an unmapped or protected page (-> EFAULT)."""

    def __init__(self, address: int, size: int) -> None:
        super().__init__(f"bad guest address {address:#x} (+{size})")
        self.address = address
        self.size = size


@dataclass(frozen=True)
class Fault:
    """A guest fault: the signal it raises, where, and what was accessed."""

    signal: int
    pc: int
    address: int = 0
    description: str = ""
    access: int = 0
    """The access a memory fault made, as an mmap PROT_* bit (read 1, write 2, fetch 4);
    0 when the fault was no memory access."""
