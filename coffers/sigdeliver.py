"""Sending and delivering signals (kernel/signal.c, arch/x86/kernel/signal.c).

* **Sending** queues a :class:`SigInfo` on a thread or a process and wakes a
  thread that can take it: one sleeping interruptibly is woken with
  ``interrupted`` set; one waiting in ``rt_sigtimedwait`` for it is woken.
  SIGKILL ends the process at once. Signals only ever travel inside one coffer.
* **Delivering** happens when a task returns to user mode (after a system call,
  and before each slice): the lowest pending unblocked signal is taken and its
  action applied: ignore, the default (terminate, dump core, stop, continue), or
  a handler frame built by :mod:`cofferos.coffers.sigframe`. If the task was
  woken out of a system call, the call returns -EINTR, or is restarted when the
  handler has SA_RESTART and the call may be restarted.
* **Faults** (SIGSEGV, SIGILL, SIGFPE, SIGBUS, SIGTRAP from the CPU) are forced:
  if the signal is blocked or ignored the process dies of it, as in Linux.
* **A frame that cannot be written** (the stack or the alternate stack points at
  memory the task may not write) forces SIGSEGV, as Linux's ``force_sigsegv``
  does; when the signal being delivered was SIGSEGV itself, the process dies of it.
"""

from __future__ import annotations

import errno
import signal
from dataclasses import replace
from typing import TYPE_CHECKING

from cofferos.coffers.sigframe import setup_frame
from cofferos.coffers.signals import (
    BUS_ADRERR,
    CLD_DUMPED,
    CLD_EXITED,
    CLD_KILLED,
    CLD_STOPPED,
    FPE_INTDIV,
    SA_NOCLDSTOP,
    SA_NODEFER,
    SA_ONSTACK,
    SA_RESETHAND,
    SA_RESTART,
    SEGV_ACCERR,
    SEGV_MAPERR,
    SIG_DFL,
    SIG_IGN,
    UNBLOCKABLE,
    DefaultAction,
    SigAction,
    SigInfo,
    bit,
    default_action,
)
from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS
from cofferos.coffers.task import ExitStatus, TaskState
from cofferos.coffers.wait import SYSCALL_INSN_LENGTH, WOKEN
from cofferos.isa.faults import Fault, MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Process, Task

#: Calls that return -EINTR after a handler even with SA_RESTART (signal(7)).
NEVER_RESTARTED = frozenset(SYSCALL_NUMBERS[name] for name in (
    "pause", "rt_sigsuspend", "nanosleep", "clock_nanosleep", "poll", "ppoll", "select",
    "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2", "rt_sigtimedwait"))
MASK64 = (1 << 64) - 1
FAULT_CODES = {signal.SIGSEGV: SEGV_MAPERR, signal.SIGFPE: FPE_INTDIV}


class SignalDelivery:
    """The signal machinery of one coffer."""

    def __init__(self, coffer: Coffer) -> None:
        self.coffer = coffer

    # -- sending ---------------------------------------------------------------------
    def _discard(self, process: Process, info: SigInfo) -> bool:
        """Linux drops a signal whose action is ignore at send time (unless waited for)."""
        if not process.handlers.ignores(info.signo):
            return False
        return not any(t.blocked & bit(info.signo) or t.sigwait_set & bit(info.signo)
                       for t in process.live_threads)

    def _special(self, process: Process, info: SigInfo) -> bool:
        sig = info.signo
        if sig in (signal.SIGKILL, signal.SIGCONT):  # both resume a stopped process
            process.stop_report = 0
            for stop in (signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
                process.pending.discard(stop)
            for task in process.live_threads:
                if task.state is TaskState.STOPPED:
                    task.state = TaskState.RUNNABLE
                    self.coffer.scheduler.enqueue(task)
        if sig == signal.SIGKILL:
            # Like Linux, the victim dies in its own context when it next runs, so a
            # parent polling with WNOHANG right after kill() does not yet see it dead.
            for task in process.live_threads:
                if task.state is TaskState.SLEEPING:
                    self.coffer.scheduler.wake(task, WOKEN, interrupted=True)
        elif default_action(sig) is DefaultAction.STOP:
            process.pending.discard(signal.SIGCONT)
        return False

    def send_process(self, process: Process, info: SigInfo) -> None:
        if process.zombie or self._special(process, info) or self._discard(process, info):
            return
        process.pending.add(info)
        for task in process.live_threads:
            if self._wake_for(task, info.signo):
                break

    def send_task(self, task: Task, info: SigInfo) -> None:
        if not task.alive or self._special(task.process, info) or self._discard(task.process, info):
            return
        task.pending.add(info)
        self._wake_for(task, info.signo)

    def _wake_for(self, task: Task, sig: int) -> bool:
        """Wake ``task`` if it can take ``sig`` now; True if it can."""
        if task.sigwait_set & bit(sig):
            self.coffer.scheduler.wake(task, WOKEN)
            return True
        if task.blocked & bit(sig) and not bit(sig) & UNBLOCKABLE:
            return False
        if task.state is TaskState.SLEEPING and task.interruptible:
            self.coffer.scheduler.wake(task, WOKEN, interrupted=True)
        return True

    # -- delivering ------------------------------------------------------------------
    def has_pending(self, task: Task) -> bool:
        allowed = ~task.blocked & MASK64 | UNBLOCKABLE
        return bool((task.pending.mask | task.process.pending.mask) & allowed)

    def deliver_pending(self, task: Task) -> None:
        """Apply pending signals' actions until a handler frame is set up or none remain."""
        interrupted, task.interrupted = task.interrupted, False
        while task.alive and task.state is TaskState.RUNNABLE:
            allowed = (~task.blocked & MASK64) | UNBLOCKABLE
            info = task.pending.take(allowed) or task.process.pending.take(allowed)
            if info is None:
                return
            action = task.process.handlers.get(info.signo)
            if action.handler == SIG_IGN:
                continue
            if action.handler == SIG_DFL:
                self._default(task, info)
                continue
            if self._run_handler(task, info, action, interrupted):
                return
            interrupted = False  # the forced SIGSEGV interrupts nothing more

    def _default(self, task: Task, info: SigInfo) -> None:
        kind = default_action(info.signo)
        if kind in (DefaultAction.TERMINATE, DefaultAction.CORE):
            status = ExitStatus(signal=info.signo, core_dumped=kind is DefaultAction.CORE)
            self.coffer.kill_process(task.process, status)
        elif kind is DefaultAction.STOP:
            for thread in task.process.live_threads:
                if thread.state is TaskState.RUNNABLE:
                    thread.state = TaskState.STOPPED
            task.cpu.stop()
            self._notify_stopped(task.process, info.signo)

    def _notify_stopped(self, process: Process, sig: int) -> None:
        """do_notify_parent_cldstop: the parent may wait for the stop (WUNTRACED) and
        gets SIGCHLD with CLD_STOPPED unless its handler has SA_NOCLDSTOP."""
        process.stop_report = sig
        parent = process.parent
        if parent is None or parent.zombie:
            return
        if not parent.handlers.get(signal.SIGCHLD).flags & SA_NOCLDSTOP:
            self.send_process(parent, SigInfo(signal.SIGCHLD, code=CLD_STOPPED,
                                              pid=process.tgid, status=sig))
        parent.child_exit.wake_all()

    def _run_handler(self, task: Task, info: SigInfo, action: SigAction,
                     interrupted: bool) -> bool:
        """Run ``action``'s handler for ``info``: True if its frame was set up."""
        cpu = task.cpu
        if interrupted:
            task.wakeup = None  # the handler's own calls are first attempts, not retries
            nr = cpu.reg_rax()
            if action.flags & SA_RESTART and nr not in NEVER_RESTARTED:
                pass  # RIP is on the SYSCALL instruction: the call runs again after the handler
            else:
                cpu.pc = cpu.pc + SYSCALL_INSN_LENGTH
                cpu.counter.add(1, 0)
                cpu.set_result(-errno.EINTR)
        if action.flags & SA_RESETHAND:  # get_signal: only the handler goes, flags and mask stay
            task.process.handlers.set(info.signo, replace(action, handler=SIG_DFL))
        saved = task.saved_blocked if task.saved_blocked is not None else task.blocked
        task.saved_blocked = None
        try:
            setup_frame(task, info, action.handler, action.restorer,
                        bool(action.flags & SA_ONSTACK), saved)
        except MemoryFault:
            task.blocked = saved  # no frame: the mask a sigsuspend replaced comes back
            self.force_sigsegv(task, info.signo)
            return False
        task.blocked |= action.mask | (0 if action.flags & SA_NODEFER else bit(info.signo))
        task.blocked &= ~UNBLOCKABLE & MASK64
        return True

    def force_sigsegv(self, task: Task, failed: int) -> None:
        """The frame for signal ``failed`` could not be built or read back (Linux's
        ``force_sigsegv``): SIGSEGV is forced; if it was SIGSEGV that failed, it is fatal."""
        if failed == signal.SIGSEGV:
            self.coffer.kill_process(task.process, ExitStatus(signal=signal.SIGSEGV,
                                                              core_dumped=True))
            return
        sig = signal.SIGSEGV
        if task.blocked & bit(sig) or task.process.handlers.get(sig).handler == SIG_IGN:
            task.process.handlers.set(sig, SigAction())
            task.blocked &= ~bit(sig)
        task.pending.add(SigInfo(sig))

    def force_fault(self, task: Task, fault: Fault) -> None:
        """A CPU fault: deliver the signal now, or kill if it is blocked or ignored."""
        sig, code = fault.signal, FAULT_CODES.get(fault.signal, 0)
        if sig == signal.SIGSEGV and fault.access and task.mm.fault_in(fault.address,
                                                                       fault.access):
            return  # a hole of a mapped file made present: the access is retried
        if sig == signal.SIGSEGV and fault.access:
            sig, code = self._memory_fault_kind(task, fault)
        action = task.process.handlers.get(sig)
        if task.blocked & bit(sig) or action.handler == SIG_IGN:
            task.process.handlers.set(sig, SigAction())
            task.blocked &= ~bit(sig)
        info = SigInfo(sig, code=code, addr=fault.address or fault.pc)
        task.pending.add(info)
        self.deliver_pending(task)

    @staticmethod
    def _memory_fault_kind(task: Task, fault: Fault) -> tuple[int, int]:
        """(signal, si_code) of a bad guest access, as x86's do_user_addr_fault tells
        them apart: no area there is SEGV_MAPERR, an area that refuses the access
        SEGV_ACCERR, and an allowed access to a page past a mapped file's end SIGBUS
        with BUS_ADRERR (shmem_fault)."""
        mm = task.mm
        if mm.past_eof(fault.address, fault.access):
            return signal.SIGBUS, BUS_ADRERR
        if mm.vma_at(fault.address) is not None:
            return signal.SIGSEGV, SEGV_ACCERR
        return signal.SIGSEGV, SEGV_MAPERR

    @staticmethod
    def child_status(status: ExitStatus) -> tuple[int, int]:
        """(si_code, si_status) of the SIGCHLD a parent gets."""
        if status.signal:
            return (CLD_DUMPED if status.core_dumped else CLD_KILLED), status.signal
        return CLD_EXITED, status.code

