"""The guest CPU: one Unicorn x86-64 engine with the fast paths a kernel needs.

A :class:`Cpu` owns one Unicorn instance (one address space) and wires in:

* the compiled per-block counter (:mod:`cofferos.isa.blockcount`), costing each
  new block once through :class:`cofferos.isa.costs.BlockCoster`;
* the SYSCALL trap: a native hook (:mod:`cofferos.isa.syscalltrap`) that reads the
  call's registers with one ``uc_reg_read_batch``, hands the CPU to the kernel's
  trap handler, and writes its result with one ``uc_reg_write``; without a C
  compiler a raw ctypes callback (not the binding's wrapper) does the same through
  preallocated buffers (:mod:`cofferos.isa.registers`);
* the hooks of :mod:`cofferos.isa.intercepts`: a fixed CPUID, a virtual
  time-stamp counter (:attr:`Cpu.on_rdtsc`), guest faults recorded as a
  :class:`Fault` with the Linux signal they raise (and here the counter corrected
  so that instructions that never ran are not counted);
* the FPU and SSE state Linux gives a new program (x87 control word 0x37F, all
  tags empty, MXCSR 0x1F80), where Unicorn would start them at zero;
* page protection through the engine's virtual TLB: the engine holds one region
  per 64 MiB block (:mod:`cofferos.isa.blockmap`), and a TLB miss is answered
  from the block's per-page protection, so mprotect and thread guard pages cost
  no engine region operation. With ``track_pages`` each miss is also shown to
  the kernel (:attr:`Cpu.on_tlb_fill`), which counts first touches as page faults.

This module is the engine's setup and its run loop; the CPU's other parts are
:mod:`cofferos.isa.registers` (the register file), :mod:`cofferos.isa.memaccess`
(guest memory: copy in and out, map, protect) and :mod:`cofferos.isa.intercepts`
(the engine's callbacks), each a base class of :class:`Cpu`.

Nothing here knows about processes or files: the kernel above sees a CPU with
registers, memory and a trap. Exceptions raised by the trap handler inside the
emulator are captured and re-raised by :meth:`Cpu.run`, never lost in ctypes.
"""

from __future__ import annotations

import ctypes
import functools
import signal
from collections.abc import Callable

from unicorn import (
    UC_ARCH_X86,
    UC_ERR_OK,
    UC_HOOK_BLOCK,
    UC_HOOK_INSN,
    UC_HOOK_INSN_INVALID,
    UC_HOOK_INTR,
    UC_HOOK_MEM_FETCH_PROT,
    UC_HOOK_MEM_FETCH_UNMAPPED,
    UC_HOOK_MEM_READ_PROT,
    UC_HOOK_MEM_READ_UNMAPPED,
    UC_HOOK_MEM_WRITE_PROT,
    UC_HOOK_MEM_WRITE_UNMAPPED,
    UC_HOOK_TLB_FILL,
    UC_MODE_64,
    UC_TLB_VIRTUAL,
    Uc,
    UcError,
)
from unicorn import x86_const as X86
from unicorn.unicorn_py3.unicorn import uc_tlb_entry, uclib

from cofferos.isa import interrupts, wipe
from cofferos.isa.blockcount import BlockCounter
from cofferos.isa.blockmap import TLB_LOGGED, TLB_TOUCH_FN, TRAP_BIT, BlockMap
from cofferos.isa.boundaries import BoundaryLog, hook_passes
from cofferos.isa.costs import BlockCoster
from cofferos.isa.faults import Fault
from cofferos.isa.fxsave import FPU_CONTROL_WORD, FPU_TAGS_EMPTY, MXCSR_DEFAULT
from cofferos.isa.intercepts import Intercepts
from cofferos.isa.memaccess import PAGE_SIZE as PAGE_SIZE  # (re-exported: tests import it)
from cofferos.isa.memaccess import SMALL_READ, GuestMemory
from cofferos.isa.native import block_hook_address, c_tlb_track_hook, tlb_hook_address
from cofferos.isa.registers import SYSCALL_REGS, RegisterFile
from cofferos.isa.syscalltrap import SyscallTrap, native_hook
from cofferos.isa.touchlog import TouchLog
from cofferos.isa.wipe import KeptCode

ADDRESS_LIMIT = 1 << 64  #: no guest range reaches past the 64-bit address space
RUN_FOREVER = (1 << 64) - 1  # an emu_start "until" address no program reaches
#: The engine addresses the fault hook covers: where the virtual TLB enters every page
#: that refuses an access (TRAP_BIT above it), and the kernel half, up to the top.
#: Unicorn 2.1 keeps each store to a page inside a memory hook's range on its slow
#: path (a helper call per store); outside it, only a page's first store after a TLB
#: fill takes it. Measured on the real programs: see docs/accounting.md (issue #17).
FAULT_HOOK_RANGE = (TRAP_BIT, (1 << 64) - 1)

_RAW_SYSCALL_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_RAW_CPUID_HOOK = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p)
#: What the compiled page-fault counting TLB hook calls on a page's first use: (ctl, page).
_RAW_FIRST_TOUCH = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64)
_RAW_TLB_FILL_HOOK = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_uint64,
                                      ctypes.c_int, ctypes.POINTER(uc_tlb_entry),
                                      ctypes.c_void_p)
_STOP_ADDRESS = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value or 0
#: prctl(2) option: this process's memory gets no transparent huge pages (linux/prctl.h).
PR_SET_THP_DISABLE = 41
#: Each engine's translation cache (TCG's code buffer). Unicorn reserves 1 GiB by
#: default and its resident part grows with every block translated until the buffer is
#: full: a 1,000,000-call fuzz campaign, whose pooled engines run thousands of
#: programs, held 230-470 MiB in each. When this smaller buffer fills, TCG flushes it
#: and translates again, as QEMU does. Measured: see the commit that set it.
TCG_BUFFER_BYTES = 64 << 20


@functools.cache
def _no_huge_pages() -> None:
    """Keep each engine's translation buffer in small pages, once per host process.

    Unicorn (QEMU's TCG) asks for huge pages on its code buffer (madvise
    MADV_HUGEPAGE); with transparent huge pages on ``madvise`` or ``always``,
    as on most hosts, an engine's first translation then faults in a whole
    2 MiB page. Measured with Unicorn 2.1.4 on this project's machines: 2.87 MB
    of host memory per engine with huge pages, 0.88 MB without, and the same
    guest speed. One engine per process, so a guest that keeps thousands of
    processes asleep would hold gigabytes of the host for nothing. The setting
    is the host process's (the simulator's), never a guest's.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux, or no prctl: huge pages stay
        pass


def _counted_cycles(cpu: Cpu) -> int:
    """Without a kernel clock: the TSC is the user cycles counted on this CPU."""
    return int(cpu.counter.cycles)


def _no_accounting(_cpu: Cpu, _vaddr: int) -> int | None:
    """Without a kernel: TLB misses are not page faults of anyone."""
    return None


def _no_touch_accounting(_cpu: Cpu, _vaddr: int) -> None:
    """Without a kernel: first uses of pages are not page faults of anyone."""


@functools.cache
def _block_hook() -> int:
    """The native block hook's address, built or loaded once per process. (A numba
    fallback compiles through ctypes callbacks: Ctrl-C is held meanwhile.)"""
    with interrupts.held_interrupts():
        return block_hook_address()


@functools.cache
def _tlb_hook() -> int:
    """The native TLB-fill hook's address (see :func:`_block_hook`)."""
    with interrupts.held_interrupts():
        return tlb_hook_address()


@functools.cache
def _tlb_track_hook() -> int | None:
    """The C TLB-fill hook that shows the kernel each page's first use, or None."""
    return c_tlb_track_hook()


class Cpu(RegisterFile, GuestMemory, Intercepts):
    """One x86-64 address space and register file, counted and trapping to a kernel."""

    def __init__(self, coster: BlockCoster, on_syscall: Callable[[Cpu], None],
                 counting: bool = True, track_pages: bool = False) -> None:
        _no_huge_pages()
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        if TCG_BUFFER_BYTES:
            self.uc.ctl_set_tcg_buffer_size(TCG_BUFFER_BYTES)  # before the engine's first use
        self._handle = self.uc._uch  # the engine pointer every direct call takes
        self.counter = BlockCounter(self._block_cost, _STOP_ADDRESS)
        self.coster = coster
        self.on_syscall = on_syscall
        self.fault: Fault | None = None
        self.pending_error: BaseException | None = None
        self.task: object | None = None  #: the kernel's task whose registers are loaded
        #: Shown each TLB miss when ``track_pages`` (the kernel counts a page's first
        #: touch as a page fault). Its answer, the kernel's idea of the page's
        #: protection, is not needed: the memory map's per-page protection decides.
        self.on_tlb_fill: Callable[[Cpu, int], int | None] = _no_accounting
        #: With ``track_pages`` and the C hook: called once on the first use of each
        #: mapped page (since it was mapped), instead of :attr:`on_tlb_fill` on every
        #: miss. :attr:`counts_first_touches` says which of the two this CPU calls.
        self.on_first_touch: Callable[[Cpu, int], None] = _no_touch_accounting
        self.counts_first_touches = False
        #: With the C hook, where its log of faults goes (:meth:`log_first_touches`).
        self.on_first_touches: Callable[[Cpu, list[int]], None] | None = None
        self._touches: TouchLog | None = None
        self._touch_words: memoryview | None = None  #: the log's count, when logging
        self._regs = (ctypes.c_int * len(SYSCALL_REGS))(*SYSCALL_REGS)
        self._vals = (ctypes.c_uint64 * len(SYSCALL_REGS))()
        self._val_ptrs = (ctypes.c_void_p * len(SYSCALL_REGS))(
            *[ctypes.addressof(self._vals) + 8 * i for i in range(len(SYSCALL_REGS))]
        )
        self._scratch = ctypes.c_uint64()
        # The trap's two engine calls take ready-made pointer objects: ctypes converts
        # a c_void_p argument with one type check, an array or byref() with several.
        self._handle_arg = ctypes.c_void_p(self._handle.value)
        self._regs_arg = ctypes.c_void_p(ctypes.addressof(self._regs))
        self._val_ptrs_arg = ctypes.c_void_p(ctypes.addressof(self._val_ptrs))
        self._scratch_arg = ctypes.c_void_p(ctypes.addressof(self._scratch))
        self._read_buffer = ctypes.create_string_buffer(SMALL_READ)
        #: The native trap's words (None: the ctypes trap). ``trap_args()`` gives the
        #: call's seven registers and the counter's cycles at the call, and
        #: ``defer_result(value)`` its result, written to RAX when the trap returns to
        #: the engine; :meth:`commit_result` writes it at once.
        self.trap: SyscallTrap | None = None
        #: The native trap's words as ints (``SyscallTrap.view``); None: the ctypes trap.
        self.trap_words: memoryview | None = None
        self.trap_args: Callable[[], list[int]] = self._trap_args
        self.defer_result: Callable[[int], None] = self.set_result
        self.track_pages = track_pages
        #: The time-stamp counter the guest reads: by default the cycles counted on this
        #: CPU; a kernel sets its own clock here, so a guest never sees the host's TSC.
        self.on_rdtsc: Callable[[Cpu], int] = _counted_cycles
        self.tsc_aux = 0  #: what RDTSCP returns in ECX: the (simulated) CPU number
        #: The engine's memory map: a region per 64 MiB block, protection per page.
        self.memory_map = BlockMap(self.uc, virtual_tlb=True)
        #: Slice boundaries the hook may pass in one engine run (isa/boundaries.py):
        #: ``passing`` while allowed, ``on_boundaries`` told of those passed.
        self.boundaries = BoundaryLog(self.counter) if counting else None
        self.passing = False
        self.on_boundaries: Callable[[list[tuple[int, int]]], None] | None = None
        self._install_hooks(counting)
        for reg, value in ((X86.UC_X86_REG_FPCW, FPU_CONTROL_WORD),
                           (X86.UC_X86_REG_FPTAG, FPU_TAGS_EMPTY),
                           (X86.UC_X86_REG_MXCSR, MXCSR_DEFAULT)):
            self.uc.reg_write(reg, value)
        #: The registers as execve leaves them: zero, but for the FPU's initial state.
        self._pristine = self.uc.context_save()
        #: The translation cache holds a wiped program's code: emptied before the next
        #: slice (see :meth:`reset`).
        self._stale_code = False
        #: What the last wipe kept of the translated code (isa/wipe.py): checked, and the
        #: stale part removed, before the next run; None: the whole cache is emptied.
        self._kept_code: KeptCode | None = None

    # -- hooks -------------------------------------------------------------------
    def _install_hooks(self, counting: bool) -> None:
        """``counting=False`` leaves out the block counter: a functional-only CPU
        whose counters stay at zero (the benchmarks' "bare Unicorn" baseline)."""
        hook = ctypes.c_size_t()
        if counting:
            status = uclib.uc_hook_add(
                self._handle,
                ctypes.byref(hook),
                UC_HOOK_BLOCK,
                ctypes.c_void_p(_block_hook()),
                ctypes.c_void_p(self.counter.user_data),
                ctypes.c_uint64(1),
                ctypes.c_uint64(0),
            )
            if status != UC_ERR_OK:
                raise UcError(status)
        native_trap = native_hook()
        if native_trap is not None:  # the registers in and out in C (isa/syscalltrap.py)
            self.trap = SyscallTrap(self._regs, self._on_native_trap,
                                    self.counter.cycles_address, self._on_touched_trap)
            self.trap_args, self.defer_result = self.trap.args, self.trap.defer_result
            self.trap_words = self.trap.view
            self._syscall_cb = ctypes.c_void_p(native_trap)
            syscall_user: ctypes.c_void_p | None = ctypes.c_void_p(self.trap.user_data)
        else:
            self._syscall_cb = _RAW_SYSCALL_HOOK(self._on_syscall_insn)
            syscall_user = None
        self._cpuid_cb = _RAW_CPUID_HOOK(self._on_cpuid)
        self._rdtsc_cb = _RAW_CPUID_HOOK(self._on_rdtsc)  # same prototype: int(uc, user)
        self._rdtscp_cb = _RAW_CPUID_HOOK(self._on_rdtscp)
        for callback, user, insn in ((self._syscall_cb, syscall_user, X86.UC_X86_INS_SYSCALL),
                                     (self._cpuid_cb, None, X86.UC_X86_INS_CPUID),
                                     (self._rdtsc_cb, None, X86.UC_X86_INS_RDTSC),
                                     (self._rdtscp_cb, None, X86.UC_X86_INS_RDTSCP)):
            status = uclib.uc_hook_add(
                self._handle, ctypes.byref(hook), UC_HOOK_INSN, callback, user,
                ctypes.c_uint64(1), ctypes.c_uint64(0), ctypes.c_int(insn),
            )
            if status != UC_ERR_OK:
                raise UcError(status)
        # Faults only: the TLB enters every refused or unmapped page at TRAP_BIT above
        # it (isa/blockmap.py), so the hook covers that range and no guest page. A
        # memory hook whose range holds a page keeps every store to it on Unicorn
        # 2.1's slow path (a C helper call per store: notdirty_write never marks the
        # TLB entry dirty while uc_mem_hook_installed says yes); see FAULT_HOOK_RANGE.
        self.uc.hook_add(
            UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_FETCH_UNMAPPED
            | UC_HOOK_MEM_READ_PROT | UC_HOOK_MEM_WRITE_PROT | UC_HOOK_MEM_FETCH_PROT,
            self._on_bad_access, begin=FAULT_HOOK_RANGE[0], end=FAULT_HOOK_RANGE[1],
        )
        self.uc.hook_add(UC_HOOK_INTR, self._on_interrupt)
        self.uc.hook_add(UC_HOOK_INSN_INVALID, self._on_invalid_insn)
        # Virtual TLB: every TLB miss is answered from the memory map's per-page
        # protection, by compiled code (cofferos.isa.tlbhook); with track_pages by
        # a Python callback that also shows the miss to the kernel, which is how it
        # sees a first touch (a page fault).
        self.uc.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
        track = _tlb_track_hook() if self.track_pages else None
        if track is not None:  # compiled; Python hears of each page's first use only
            self._touch_cb = _RAW_FIRST_TOUCH(self._on_first_touch)
            self.memory_map.tlb_ctl[TLB_TOUCH_FN] = ctypes.cast(self._touch_cb,
                                                                ctypes.c_void_p).value or 0
            self.counts_first_touches = True
            self._touches = TouchLog(self.memory_map.tlb_ctl, self.counter.cycles_address)
            if self.trap is not None:  # (the native trap looks at the log's count)
                self.trap.watch_touches(self.memory_map.tlb_ctl_address
                                        + TLB_LOGGED * self.memory_map.tlb_ctl.itemsize)
            callback = ctypes.c_void_p(track)
            user = ctypes.c_void_p(self.memory_map.tlb_ctl_address)
        elif self.track_pages:
            self._tlb_cb = _RAW_TLB_FILL_HOOK(self._on_tlb_fill)
            callback, user = ctypes.cast(self._tlb_cb, ctypes.c_void_p), None
        else:
            callback = ctypes.c_void_p(_tlb_hook())
            user = ctypes.c_void_p(self.memory_map.tlb_ctl_address)
        status = uclib.uc_hook_add(self._handle, ctypes.byref(hook), UC_HOOK_TLB_FILL,
                                   callback, user, ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status != UC_ERR_OK:
            raise UcError(status)

    @property
    def coster(self) -> BlockCoster:
        """The cycle model's block pricer (a kernel binds its own to a pooled engine)."""
        return self._coster

    @coster.setter
    def coster(self, coster: BlockCoster) -> None:
        self._coster = coster
        self.counter.predict_branches(coster.mispredict_cycles, coster.marks_branches,
                                      coster.fetch_ahead_cycles)

    def _block_cost(self, address: int, size: int) -> tuple[int, int, bool]:
        code = self.read(address, size)
        insns, cycles = self._coster.cost(code, address, self.read)
        return insns, cycles, self._coster.ends_with_branch(code)

    # -- execution ---------------------------------------------------------------
    def run(self, budget: int | None = None) -> None:
        """Run from the current RIP until stopped (trap handler, budget or fault).

        ``budget`` is the total instruction count at which to stop (see
        :meth:`BlockCounter.set_budget`). On return :attr:`fault` tells whether a
        fault stopped the guest. An exception from the trap handler is re-raised;
        Ctrl-C while the engine ran (:mod:`cofferos.isa.interrupts`) is a
        KeyboardInterrupt raised here.
        """
        self.fault = None
        start = self.pc  # one register read per slice, for the check and the start
        if start == RUN_FOREVER:
            # Unicorn runs "until" this address and so would return at once, run nothing,
            # and the task would be given the core again and again forever. It lies in
            # the kernel's half, where a user fetch faults: SIGSEGV, as on Linux.
            self.fault = Fault(signal.SIGSEGV, start, start, "bad instruction fetch")
            return
        self.counter.set_budget(budget)
        if self._stale_code:  # (outside the engine's run: no translated code is executing)
            self._stale_code = False
            kept, self._kept_code = self._kept_code, None
            if kept is None or not wipe.keep_code(self.memory_map, kept):
                wipe.empty_cache(self.memory_map)
        outer, interrupts.STATE.running = interrupts.STATE.running, self
        try:
            self.uc.emu_start(start, RUN_FOREVER)
        except UcError as err:
            if self.fault is None:
                self.fault = Fault(signal.SIGSEGV, self.pc, 0, f"emulator: {err}")
        finally:
            interrupts.STATE.running = outer
        if self.passing:
            self.settle_boundaries()
        words = self._touch_words
        if words is not None and words[TLB_LOGGED]:
            self.take_touches()
        if interrupts.STATE.requested and outer is None and interrupts.take_request():
            raise KeyboardInterrupt  # Ctrl-C stopped the engine: here, outside any callback
        if self.fault is not None:
            self._uncount_unexecuted_tail(self.fault.pc)
        for error in (self.pending_error, self.counter.miss_error):
            if error is not None:
                self.pending_error = self.counter.miss_error = None
                raise error

    @property
    def passable(self) -> bool:
        """May the hook pass slice boundaries here? Not with numba's hook, nor where
        first touches reach the kernel one by one (no log to watch)."""
        return self.boundaries is not None and (
            not self.track_pages or self._touch_words is not None) and hook_passes()

    def allow_passes(self, step: int, cycle_bound: int,
                     on_boundaries: Callable[[list[tuple[int, int]]], None]) -> None:
        """Let this engine run pass budget boundaries ``step`` instructions apart while
        the whole cycles are below ``cycle_bound`` (:mod:`cofferos.isa.boundaries`);
        ``on_boundaries`` accounts those passed before the kernel next runs."""
        words = self._touch_words
        touched = 0 if words is None else (self.memory_map.tlb_ctl_address
                                           + TLB_LOGGED * words.itemsize)
        self.boundaries.allow(step, cycle_bound, touched)  # type: ignore[union-attr]
        self.on_boundaries = on_boundaries
        self.passing = True

    def settle_boundaries(self) -> None:
        """Stop passing boundaries; account those passed (before any kernel code runs)."""
        self.passing = False
        passed = self.boundaries.take()  # type: ignore[union-attr]
        if passed:
            self.on_boundaries(passed)  # type: ignore[misc]

    def _uncount_unexecuted_tail(self, fault_pc: int) -> None:
        """The block was counted whole at entry: take back the faulting instruction onward."""
        self.counter.cancel_branch()
        start, size = self.counter.last_block
        if not start <= fault_pc < start + size:
            return
        code = self.read(start, size)
        whole = self.coster.cost(code, start)
        executed = self.coster.cost_prefix(code, start, fault_pc)
        self.counter.uncount(whole[0] - executed[0], whole[1] - executed[1])

    def stop(self) -> None:
        self.uc.emu_stop()

    def forget_kept_code(self) -> None:
        """Drop what the last wipe kept of the translated code (its bytes' copy): the
        engine will not run again, or may start with an empty cache."""
        self._kept_code = None

    def reset(self, keep_code: bool = True) -> None:
        """execve onto this engine: no memory, no cached block costs, zeroed registers,
        and before it next runs, no translated code but the next program's own.

        The translated code of pages the next program maps again with the same bytes
        is kept (:mod:`cofferos.isa.wipe`: the next coffer's @hello, a shell's forked
        child, start with their code translated); the rest is removed, or, when little
        would be kept, the whole cache is emptied. Unmapping a block only invalidates
        the code translated from it: the code stays in the engine's translation buffer
        (:data:`TCG_BUFFER_BYTES`) until the buffer is full or emptied. A pooled engine
        that ran one forked child after another of different programs thus kept about
        15 KB of host memory per child until its buffer filled (64 MiB); emptied when
        most of the kept code is stale, or past a bound of removals
        (:func:`~cofferos.isa.wipe.worth_keeping`), the buffer's resident part stays
        about that of the largest program it ran. The check waits for the next
        :meth:`run`, because ``reset`` is called from the engine's own trap (execve,
        exit), while its translated code is executing. Wiped twice without running in
        between, the engine keeps nothing: its cache holds the first program's code, not
        the memory's. ``keep_code=False`` keeps nothing either, and copies nothing: the
        engine is about to be dropped (its pool is full).
        """
        self._kept_code = None if self._stale_code or not keep_code \
            else wipe.code_to_keep(self.memory_map)
        self.memory_map.reset()
        self.counter.forget_all()
        self.counter.reset_predictor()
        self.restore_context(self._pristine)
        self._stale_code = True
