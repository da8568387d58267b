"""Job control and packet mode on a pseudo-terminal.

Job control (drivers/tty/tty_jobctrl.c's ``__tty_check_change``): a process whose
controlling terminal this is, but which is not in its foreground process group,
may not read it (SIGTTIN), nor change its settings, flush it or give it a new
foreground group (SIGTTOU), nor write to it while TOSTOP is set (SIGTTOU). Its
whole process group gets the signal and the call restarts once the signal is
handled (``-ERESTARTSYS``: EINTR after a handler without SA_RESTART; after a stop
and SIGCONT the call runs again). If the caller ignores or blocks the signal, a
read fails with EIO and the rest go ahead; an orphaned process group (no member
has a parent in another group of the session) gets EIO instead of a signal.

Packet mode (pty.c's TIOCPKT, n_tty_read): once the master sets it, each read of
the master starts with a status byte: TIOCPKT_DATA (0) before the slave's output,
or alone, the events since the last read: the slave's input or output flushed
(TIOCPKT_FLUSHREAD, TIOCPKT_FLUSHWRITE), software flow control turned on or off
(TIOCPKT_DOSTOP, TIOCPKT_NOSTOP, pty_set_termios). The master polls POLLPRI while
events wait. Not modelled: TIOCPKT_STOP/START (no output is ever stopped here)
and EXTPROC's TIOCPKT_IOCTL.
"""

from __future__ import annotations

import errno
import signal
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.signals import SI_KERNEL, SIG_IGN, SigInfo
from cofferos.coffers.wait import Block

from .termios import IXON, VSTART, VSTOP, Termios

if TYPE_CHECKING:
    from cofferos.coffers.task import Process, Task

    from .pty import PtyPair

# include/uapi/asm-generic/ioctls.h: TIOCPKT's status bits
TIOCPKT_DATA = 0
TIOCPKT_FLUSHREAD = 1
TIOCPKT_FLUSHWRITE = 2
TIOCPKT_NOSTOP = 16
TIOCPKT_DOSTOP = 32
#: The characters of software flow control that pty_set_termios looks for: ^S and ^Q.
STOP_CHAR, START_CHAR = 0o23, 0o21


def tty_check_change(task: Task, pair: PtyPair, sig: int) -> None:
    """__tty_check_change: return if ``task`` may go ahead; raise EIO, or signal its
    process group and restart the call (a Block that the pending signal ends)."""
    process = task.process
    if pair.session is None or pair.session != process.sid:
        return  # not the caller's controlling terminal
    if pair.pgrp is None or process.pgid == pair.pgrp:
        return
    if task.blocked >> (sig - 1) & 1 or process.handlers.get(sig).handler == SIG_IGN:
        if sig == signal.SIGTTIN:
            raise FsError(errno.EIO)
        return
    coffer = task.coffer
    members = [p for p in coffer.processes.values() if p.pgid == process.pgid and not p.zombie]
    if _orphaned(members, process.pgid):
        raise FsError(errno.EIO)
    for member in members:  # kill_pgrp(pgrp, sig, 1)
        coffer.signals.send_process(member, SigInfo(sig, code=SI_KERNEL))
    raise Block()  # -ERESTARTSYS: the pending signal interrupts it at once


def _orphaned(members: list[Process], pgid: int) -> bool:
    """will_become_orphaned_pgrp: no member has a parent in another process group of
    the same session."""
    for member in members:
        parent = member.parent
        if parent is not None and not parent.zombie and parent.pgid != pgid \
                and parent.sid == member.sid:
            return False
    return True


def flow_control(termios: Termios) -> bool:
    """Whether ^S and ^Q stop and start output (IXON with the usual characters)."""
    return bool(termios.iflag & IXON) and termios.cc[VSTOP] == STOP_CHAR \
        and termios.cc[VSTART] == START_CHAR


def settings_changed(pair: PtyPair, old_flow: bool) -> None:
    """pty_set_termios: in packet mode, tell the master that flow control changed."""
    new_flow = flow_control(pair.termios)
    if pair.packet and new_flow != old_flow:
        pair.pktstatus &= ~(TIOCPKT_DOSTOP | TIOCPKT_NOSTOP)
        pair.pktstatus |= TIOCPKT_DOSTOP if new_flow else TIOCPKT_NOSTOP
