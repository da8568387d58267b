"""File owners and the signals they get (Linux's ``struct fown_struct``, fs/fcntl.c).

An open file may name an *owner*: a thread, a process or a process group, set by
fcntl F_SETOWN / F_SETOWN_EX (and by F_SETLEASE, which makes the caller's process
the owner). The kernel signals the owner when something it asked to hear of
happens on the file: a lease break (:mod:`cofferos.coffers.leases`), or data and
room in a pipe set O_ASYNC (:mod:`cofferos.coffers.pipe`). The
signal is SIGIO, or the one F_SETSIG chose; a chosen signal carries a siginfo
with ``si_code`` the reason (POLL_MSG for a lease break), ``si_band`` the poll
events and ``si_fd`` the descriptor (send_sigio_to_task).

Simplification: Linux also checks that the process which set the owner may
signal it (sigio_perm); inside one coffer every owner set here passed the same
pid lookup, and the check is not repeated at send time.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.poll import (
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLOUT,
    POLLPRI,
    POLLRDBAND,
    POLLRDNORM,
    POLLWRBAND,
    POLLWRNORM,
)
from cofferos.coffers.signals import SigInfo

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer

# struct f_owner_ex's type (include/uapi/asm-generic/fcntl.h)
F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP = 0, 1, 2
# si_code reasons for SIGPOLL-style signals (include/uapi/asm-generic/siginfo.h)
POLL_IN, POLL_OUT, POLL_MSG, POLL_ERR, POLL_PRI, POLL_HUP = 1, 2, 3, 4, 5, 6
SI_SIGIO, SI_KERNEL = -5, 0x80
POLLMSG = 0x400
#: si_band for each reason (band_table in fs/fcntl.c).
BAND_TABLE = {
    POLL_IN: POLLIN | POLLRDNORM,
    POLL_OUT: POLLOUT | POLLWRNORM | POLLWRBAND,
    POLL_MSG: POLLIN | POLLRDNORM | POLLMSG,
    POLL_ERR: POLLERR,
    POLL_PRI: POLLPRI | POLLRDBAND,
    POLL_HUP: POLLHUP | POLLERR,
}
#: Signals whose si_code values mean something of their own (sig_specific_sicodes):
#: an F_SETSIG signal among them gets SI_SIGIO instead of the POLL_* reason.
SIG_SPECIFIC_SICODES = frozenset({signal.SIGILL, signal.SIGFPE, signal.SIGSEGV, signal.SIGBUS,
                                  signal.SIGTRAP, signal.SIGCHLD, signal.SIGPOLL, signal.SIGSYS})


@dataclass
class FileOwner:
    """Who is told about an open file's events, and with which signal."""

    kind: int = F_OWNER_TID  #: F_OWNER_TID, F_OWNER_PID or F_OWNER_PGRP
    pid: int = 0  #: 0: nobody
    signum: int = 0  #: F_SETSIG's signal; 0 means plain SIGIO


def pid_exists(coffer: Coffer, pid: int) -> bool:
    """Whether ``pid`` names a thread, process or process group (find_vpid)."""
    return pid in coffer.tasks or any(
        pid in (process.pgid, process.sid) for process in coffer.processes.values())


def owner_alive(coffer: Coffer, owner: FileOwner) -> bool:
    """Whether the owner has a task of its kind (pid_task), as F_GETOWN asks."""
    if owner.kind == F_OWNER_TID:
        task = coffer.tasks.get(owner.pid)
        return task is not None and task.alive
    if owner.kind == F_OWNER_PID:
        process = coffer.processes.get(owner.pid)
        return process is not None and not process.zombie
    return any(p.pgid == owner.pid and not p.zombie for p in coffer.processes.values())


def send_sigio(coffer: Coffer, owner: FileOwner, fd: int, reason: int) -> None:
    """Signal ``owner`` of an event on descriptor ``fd`` (send_sigio)."""
    if owner.pid == 0:
        return
    if owner.signum:
        code = SI_SIGIO if owner.signum in SIG_SPECIFIC_SICODES - {signal.SIGPOLL} else reason
        info = SigInfo(owner.signum, code=code, band=BAND_TABLE[reason], fd=fd)
    else:
        info = SigInfo(signal.SIGIO, code=SI_KERNEL)
    signals = coffer.signals
    if owner.kind == F_OWNER_TID:
        task = coffer.tasks.get(owner.pid)
        if task is not None and task.alive:
            signals.send_task(task, info)
        return
    for process in list(coffer.processes.values()):
        if (process.tgid if owner.kind == F_OWNER_PID else process.pgid) == owner.pid:
            signals.send_process(process, info)
