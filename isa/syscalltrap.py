"""The SYSCALL trap's engine side: the call's registers in, its result out.

Every system call a guest makes crosses from the engine to the kernel's Python
trap and back. Reading RAX and the six argument registers and writing the
result to RAX are engine calls, and from Python each is a ctypes foreign call
costing a few hundred nanoseconds, about a third of a cheap call such as
getppid. So the trap has a native half, :file:`native/syscallhook.c`, compiled
with the other hooks: Unicorn calls it on SYSCALL; it reads the seven registers
into this module's control words with one ``uc_reg_read_batch``, copies the block
counter's whole cycles beside them (a timed run records each call at them), calls
the kernel's trap (a Python callback without arguments), and writes the result the
kernel left in the words to RAX with one ``uc_reg_write`` once the callback has
returned.

:class:`SyscallTrap` owns the words. The kernel reads the registers with
:attr:`SyscallTrap.args` and gives the result with :meth:`SyscallTrap.defer_result`;
anything that must see RAX before the trap returns (signal delivery saves it in
the signal frame) calls :meth:`SyscallTrap.commit_result` first. Without a C
compiler (or with ``COFFERSIM_BLOCK_HOOK=numba``) the trap is a ctypes callback
that does the same through ctypes calls; both give the same registers and cycles.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable

from unicorn.unicorn_py3.unicorn import uclib

from cofferos.isa import interrupts

# The control words, uint64 each, shared with native/syscallhook.c (given as -D flags).
TRAP_ARGS = 0  #: RAX (the call number) and the six argument registers, in ABI order
TRAP_ARG_WORDS = 7
#: The block counter's whole cycles at the call, copied by the hook before the kernel
#: runs: ``args()`` gives them after the registers, where a timed run's record of the
#: call reads them (a list item, against a ctypes field or a memoryview item at 40 ns
#: or more: issue #17).
TRAP_CYCLES = 7
TRAP_RESULT = 8  #: the value the hook writes to RAX when the Python trap returns
TRAP_HAS_RESULT = 9  #: 1 when TRAP_RESULT is to be written (the hook clears it first)
TRAP_RESULT_REG = 10  #: Unicorn's register id of RAX
TRAP_REG_IDS = 11  #: address of the int32 ids of the seven registers read
TRAP_VALUE_PTRS = 12  #: address of the seven pointers to words TRAP_ARGS onward
TRAP_READ_BATCH_FN = 13  #: address of uc_reg_read_batch
TRAP_REG_WRITE_FN = 14  #: address of uc_reg_write
TRAP_PYTHON_FN = 15  #: address of the kernel's trap: void(void)
TRAP_CYCLE_WORD = 16  #: the counter's fixed-point cycle word (BlockCounter.cycles_address)
#: Address of the first-touch log's count (``TLB_LOGGED``, :mod:`cofferos.isa.touchlog`),
#: 0: none. When it is not zero the hook calls this trap instead of TRAP_PYTHON_FN, one
#: that gives the kernel the logged page faults first: the usual trap need not read
#: the count (a memoryview item, about 40 ns a call of a timed run: issue #17).
TRAP_TOUCHES_AT = 17
TRAP_PYTHON_TOUCHED_FN = 18  #: address of that trap: void(void)
TRAP_WORDS = 19

#: What the C hook is compiled with (``-DNAME=VALUEu``).
C_CONSTANTS = {name: value for name, value in globals().items() if name.startswith("TRAP_")}
U64_MASK = (1 << 64) - 1
_PYTHON_TRAP = ctypes.CFUNCTYPE(None)


def _address(function: object) -> int:
    return ctypes.cast(function, ctypes.c_void_p).value or 0


@functools.cache
def native_hook() -> int | None:
    """The C hook's address, built or loaded once per process; None without a compiler
    or when ``COFFERSIM_BLOCK_HOOK=numba`` asks for the hooks that need none."""
    from cofferos.isa import native

    if os.environ.get(native.HOOK_ENV, "c") == "numba":
        return None
    try:
        with interrupts.held_interrupts():
            return native.c_syscall_hook()
    except native.NativeBuildError:
        return None


class SyscallTrap:
    """One engine's trap words: the registers of the current call and its result."""

    def __init__(self, reg_ids: ctypes.Array, on_trap: Callable[[], None],
                 cycles_address: int, on_touched_trap: Callable[[], None]) -> None:
        self.words = (ctypes.c_uint64 * TRAP_WORDS)()
        #: The words as Python ints: the kernel's trap writes TRAP_RESULT and
        #: TRAP_HAS_RESULT here itself, as :meth:`defer_result` does, without its call.
        self.view = self._view = memoryview(self.words).cast("B").cast("Q")
        #: The registers of the call being served and the counter's cycles at it:
        #: ``args()`` is a fresh list of eight (the cycles at :data:`TRAP_CYCLES`).
        self.args: Callable[[], list[int]] = self._view[TRAP_ARGS:TRAP_CYCLES + 1].tolist
        self._reg_ids = reg_ids
        self._value_ptrs = (ctypes.c_void_p * TRAP_ARG_WORDS)(
            *[ctypes.addressof(self.words) + 8 * (TRAP_ARGS + i) for i in range(TRAP_ARG_WORDS)])
        self._callback = _PYTHON_TRAP(on_trap)  # kept alive as long as the engine
        self._touched_callback = _PYTHON_TRAP(on_touched_trap)
        view = self._view
        view[TRAP_RESULT_REG] = reg_ids[0]
        view[TRAP_REG_IDS] = ctypes.addressof(reg_ids)
        view[TRAP_VALUE_PTRS] = ctypes.addressof(self._value_ptrs)
        view[TRAP_READ_BATCH_FN] = _address(uclib.uc_reg_read_batch)
        view[TRAP_REG_WRITE_FN] = _address(uclib.uc_reg_write)
        view[TRAP_PYTHON_FN] = _address(self._callback)
        view[TRAP_CYCLE_WORD] = cycles_address
        view[TRAP_PYTHON_TOUCHED_FN] = _address(self._touched_callback)

    def watch_touches(self, count_address: int) -> None:
        """Call the touched trap while the first-touch log counted at ``count_address``
        is not empty (the TLB hook's log, :mod:`cofferos.isa.touchlog`)."""
        self._view[TRAP_TOUCHES_AT] = count_address

    @property
    def user_data(self) -> int:
        return ctypes.addressof(self.words)

    def defer_result(self, value: int) -> None:
        """RAX gets ``value`` when the trap returns to the engine."""
        view = self._view
        view[TRAP_RESULT] = value & U64_MASK
        view[TRAP_HAS_RESULT] = 1

    def take_result(self) -> int | None:
        """The result not yet written, now taken (the caller writes it), or None."""
        view = self._view
        if not view[TRAP_HAS_RESULT]:
            return None
        view[TRAP_HAS_RESULT] = 0
        return view[TRAP_RESULT]
