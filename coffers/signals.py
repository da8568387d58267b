"""Signal state: actions, pending queues, masks, and each signal's default action.

Mirrors include/linux/signal.h and kernel/signal.c in data: a
:class:`SignalHandlers` table per process (shared by CLONE_SIGHAND), a
:class:`SignalQueue` per thread and one per process, and the default action of
every signal (``signal(7)``). Delivery, the frame on the guest stack and
``rt_sigreturn`` are in :mod:`cofferos.coffers.sigframe`; the system calls in
:mod:`cofferos.coffers.syscalls.signal`.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass, field

NSIG = 64  #: _NSIG on x86-64: signals 1..64
SIGRTMIN = 32
SIG_DFL, SIG_IGN = 0, 1
SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO = 0x1, 0x2, 0x4
SA_ONSTACK, SA_RESTART, SA_NODEFER, SA_RESETHAND = 0x08000000, 0x10000000, 0x40000000, 0x80000000
SA_RESTORER = 0x04000000
UNBLOCKABLE = (1 << (signal.SIGKILL - 1)) | (1 << (signal.SIGSTOP - 1))
FULL_MASK = (1 << NSIG) - 1

# si_code values (include/uapi/asm-generic/siginfo.h)
SI_USER, SI_KERNEL, SI_TKILL, SI_TIMER = 0, 0x80, -6, -2
SEGV_MAPERR, SEGV_ACCERR = 1, 2
ILL_ILLOPN, FPE_INTDIV, TRAP_BRKPT, BUS_ADRALN = 2, 1, 1, 1
BUS_ADRERR = 2  #: SIGBUS: a nonexistent physical address (a page past a mapped file's end)
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED = 1, 2, 3, 5


class DefaultAction(enum.Enum):
    TERMINATE = "term"
    CORE = "core"
    IGNORE = "ign"
    STOP = "stop"
    CONTINUE = "cont"


_CORE = {signal.SIGQUIT, signal.SIGILL, signal.SIGTRAP, signal.SIGABRT, signal.SIGBUS,
         signal.SIGFPE, signal.SIGSEGV, signal.SIGXCPU, signal.SIGXFSZ, signal.SIGSYS}
_IGNORE = {signal.SIGCHLD, signal.SIGURG, signal.SIGWINCH}
_STOP = {signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU}


def default_action(sig: int) -> DefaultAction:
    if sig in _CORE:
        return DefaultAction.CORE
    if sig in _IGNORE:
        return DefaultAction.IGNORE
    if sig in _STOP:
        return DefaultAction.STOP
    if sig == signal.SIGCONT:
        return DefaultAction.CONTINUE
    return DefaultAction.TERMINATE


def bit(sig: int) -> int:
    return 1 << (sig - 1)


def valid(sig: int) -> bool:
    return 1 <= sig <= NSIG


@dataclass(frozen=True)
class SigAction:
    """struct k_sigaction: handler address (or SIG_DFL/SIG_IGN), flags, restorer, mask."""

    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


@dataclass
class SignalHandlers:
    """A process's table of actions (``sighand_struct``)."""

    actions: dict[int, SigAction] = field(default_factory=dict)

    def get(self, sig: int) -> SigAction:
        return self.actions.get(sig, SigAction())

    def set(self, sig: int, action: SigAction) -> None:
        self.actions[sig] = action

    def copy(self) -> SignalHandlers:
        return SignalHandlers(dict(self.actions))

    def reset_for_exec(self) -> None:
        """execve keeps ignored signals ignored and resets handlers to the default."""
        self.actions = {s: a for s, a in self.actions.items() if a.handler == SIG_IGN}

    def ignores(self, sig: int) -> bool:
        handler = self.get(sig).handler
        return handler == SIG_IGN or (handler == SIG_DFL
                                      and default_action(sig) is DefaultAction.IGNORE)


@dataclass(frozen=True)
class SigInfo:
    """The fields of siginfo_t this kernel fills in."""

    signo: int
    code: int = SI_USER
    errno: int = 0
    pid: int = 0
    uid: int = 0
    status: int = 0  #: SIGCHLD: exit code or signal
    addr: int = 0  #: SIGSEGV/SIGBUS/SIGILL/SIGFPE: the faulting address
    band: int = 0  #: a SIGIO-style signal (F_SETSIG): si_band, the poll events
    fd: int = 0  #: and si_fd, the descriptor they happened on
    value: int = 0  #: si_value of a real-time style signal (mq_notify's sigev_value)


@dataclass
class SignalQueue:
    """Pending signals: standard signals once each, real-time signals queued."""

    items: list[SigInfo] = field(default_factory=list)

    @property
    def mask(self) -> int:
        value = 0
        for info in self.items:
            value |= bit(info.signo)
        return value

    def add(self, info: SigInfo) -> None:
        if info.signo < SIGRTMIN and any(i.signo == info.signo for i in self.items):
            return
        self.items.append(info)

    def take(self, allowed: int) -> SigInfo | None:
        """Remove and return the lowest-numbered pending signal in ``allowed``."""
        best = None
        for info in self.items:
            if allowed & bit(info.signo) and (best is None or info.signo < best.signo):
                best = info
        if best is not None:
            self.items.remove(best)
        return best

    def discard(self, sig: int) -> None:
        self.items = [i for i in self.items if i.signo != sig]
