"""Terminal requests of ioctl(2) on a pseudo-terminal: drivers/tty/tty_io.c's tty_ioctl,
tty_ioctl.c's tty_mode_ioctl and pty.c's pty_unix98_ioctl.

Settings (TCGETS, TCSETS and its W/F variants, the termios2 forms, TCFLSH),
the window size (TIOCGWINSZ; TIOCSWINSZ, which sends SIGWINCH to the foreground
group when it changes), bytes waiting (FIONREAD, TIOCOUTQ), the master's own
requests (TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK, TIOCGPTPEER) and the session ones
(TIOCSCTTY, TIOCNOTTY, TIOCGPGRP, TIOCSPGRP, TIOCGSID). Requests on a master
about settings and size act on its slave, as Linux's tty_pair_get_tty does.
Anything else is ENOTTY (:mod:`cofferos.coffers.syscalls.ioctl` calls this only
for a pty).
"""

from __future__ import annotations

import errno
import os
import signal
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_ADMIN
from cofferos.coffers.fs import FsError
from cofferos.coffers.syscalls.uaccess import I32, copy_from_user, copy_to_user, put_i32
from cofferos.coffers.userns import ns_capable

from .jobctl import (
    TIOCPKT_FLUSHREAD,
    TIOCPKT_FLUSHWRITE,
    flow_control,
    settings_changed,
    tty_check_change,
)
from .pty import PtyFile, PtyMaster
from .termios import TERMIOS, TERMIOS2, WINSIZE, Termios, WinSize

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

# include/uapi/asm-generic/ioctls.h (x86-64)
TCGETS, TCSETS, TCSETSW, TCSETSF = 0x5401, 0x5402, 0x5403, 0x5404
TCSBRK, TCXONC, TCFLSH = 0x5409, 0x540A, 0x540B
TIOCSCTTY, TIOCGPGRP, TIOCSPGRP, TIOCOUTQ = 0x540E, 0x540F, 0x5410, 0x5411
TIOCGWINSZ, TIOCSWINSZ, FIONREAD, TIOCNOTTY = 0x5413, 0x5414, 0x541B, 0x5422
TIOCGSID = 0x5429
TCGETS2, TCSETS2, TCSETSW2, TCSETSF2 = 0x802C542A, 0x402C542B, 0x402C542C, 0x402C542D
TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK, TIOCGPTPEER = 0x80045430, 0x40045431, 0x80045439, 0x5441
TIOCPKT, TIOCGPKT = 0x5420, 0x80045438
TCIFLUSH, TCOFLUSH, TCIOFLUSH = 0, 1, 2
SETS = {TCSETS: (False, False), TCSETSW: (False, False), TCSETSF: (False, True),
        TCSETS2: (True, False), TCSETSW2: (True, False), TCSETSF2: (True, True)}
"""Each set request: (with the two speeds, flush the input first)."""


def tty_ioctl(task: Task, file: PtyFile, request: int, arg: int) -> int:
    pair = file.pair
    if request in (TCGETS, TCGETS2):
        copy_to_user(task, arg, pair.termios.pack(with_speeds=request == TCGETS2))
    elif request in SETS:
        speeds, flush = SETS[request]
        size = (TERMIOS2 if speeds else TERMIOS).size
        new = Termios()
        new.unpack(copy_from_user(task, arg, size), with_speeds=speeds)
        tty_check_change(task, pair, signal.SIGTTOU)  # set_termios
        if flush:
            pair.ldisc.flush_input()
        old_flow = flow_control(pair.termios)
        pair.ldisc.set_termios(new)
        settings_changed(pair, old_flow)
        pair.changed()
    elif request == TIOCGWINSZ:
        copy_to_user(task, arg, pair.winsize.pack())
    elif request == TIOCSWINSZ:
        size = WinSize.unpack(copy_from_user(task, arg, WINSIZE.size))
        if size != pair.winsize:
            pair.winsize = size
            pair.kill_foreground(signal.SIGWINCH)
    elif request == FIONREAD:
        put_i32(task, arg, len(pair.to_master) if file.master else len(pair.ldisc.ready))
    elif request == TIOCOUTQ:
        put_i32(task, arg, 0 if file.master else len(pair.to_master))
    elif request == TCFLSH:
        if not file.master:
            tty_check_change(task, pair, signal.SIGTTOU)
        return _flush(file, arg)
    elif request in (TCSBRK, TCXONC):
        if not file.master:
            tty_check_change(task, pair, signal.SIGTTOU)
        return 0  # tcdrain, tcsendbreak, tcflow: nothing is ever queued towards a line
    elif isinstance(file, PtyMaster) and request in (TIOCPKT, TIOCGPKT):
        if request == TIOCGPKT:
            put_i32(task, arg, int(pair.packet))
        else:  # pty_set_pktmode
            (mode,) = I32.unpack(copy_from_user(task, arg, I32.size))
            if mode and not pair.packet:
                pair.pktstatus = 0
            pair.packet = bool(mode)
    elif isinstance(file, PtyMaster) and request in (TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK,
                                                     TIOCGPTPEER):
        return _master_request(task, file, request, arg)
    else:
        return _session_request(task, file, request, arg)
    return 0


def _flush(file: PtyFile, queue: int) -> int:
    """TCFLSH: drop what is waiting to be read (input) or written (output); on a
    master the two queues are swapped, as tty_perform_flush on the pair sees them."""
    if queue not in (TCIFLUSH, TCOFLUSH, TCIOFLUSH):
        return -errno.EINVAL
    pair = file.pair
    slave_input = queue in (TCIFLUSH, TCIOFLUSH) if not file.master else queue != TCIFLUSH
    master_input = queue in (TCOFLUSH, TCIOFLUSH) if not file.master else queue != TCOFLUSH
    if slave_input:
        pair.ldisc.flush_input()
    if master_input:
        pair.to_master.clear()
    if pair.packet and not file.master:  # n_tty_packet_mode_flush, pty_flush_buffer
        pair.pktstatus |= (TIOCPKT_FLUSHREAD if slave_input else 0) \
            | (TIOCPKT_FLUSHWRITE if master_input else 0)
    pair.changed()
    return 0


def _master_request(task: Task, file: PtyMaster, request: int, arg: int) -> int:
    pair = file.pair
    if request == TIOCGPTN:
        put_i32(task, arg, pair.index)
    elif request == TIOCSPTLCK:
        (lock,) = I32.unpack(copy_from_user(task, arg, I32.size))
        pair.locked = bool(lock)
    elif request == TIOCGPTLCK:
        put_i32(task, arg, int(pair.locked))
    else:  # TIOCGPTPEER: open the slave without a path lookup
        flags = arg & 0xFFFF_FFFF  # ptm_open_peer checks none of them
        slave = task.coffer.devpts.open_pair_slave(task, pair, flags, pair.name,
                                                   noctty=bool(flags & os.O_NOCTTY))
        return task.files.install(slave, cloexec=bool(flags & os.O_CLOEXEC))
    return 0


def _session_request(task: Task, file: PtyFile, request: int, arg: int) -> int:
    pair = file.pair
    process = task.process
    devpts = task.coffer.devpts
    if request == TIOCSCTTY:  # tiocsctty
        if process.sid == pair.session:
            return 0
        if process.sid != process.tgid or devpts.ctty(process.sid) is not None:
            return -errno.EPERM
        if pair.session is not None:
            if arg != 1 or not ns_capable(task.creds, None, CAP_SYS_ADMIN):  # capable()
                return -errno.EPERM
            pair.session = None  # stolen from its session (arg 1 and CAP_SYS_ADMIN)
        devpts.set_ctty(process, pair)
        return 0
    if request not in (TIOCNOTTY, TIOCGPGRP, TIOCSPGRP, TIOCGSID):
        return -errno.ENOTTY
    if file.master or pair.session != process.sid:
        return -errno.ENOTTY  # not the caller's controlling terminal
    if request == TIOCNOTTY:
        if process.sid == process.tgid:
            pair.disassociate(process.sid)
        return 0
    if request == TIOCGSID:
        put_i32(task, arg, pair.session)
    elif request == TIOCGPGRP:
        put_i32(task, arg, pair.pgrp if pair.pgrp is not None else 0)
    else:
        try:
            tty_check_change(task, pair, signal.SIGTTOU)  # tiocspgrp
        except FsError as err:
            if err.errno == errno.EIO:
                return -errno.ENOTTY
            raise
        (pgrp,) = I32.unpack(copy_from_user(task, arg, I32.size))
        if pgrp < 0:
            return -errno.EINVAL
        members = [p for p in task.coffer.processes.values() if p.pgid == pgrp and not p.zombie]
        if not members:
            return -errno.ESRCH
        if any(p.sid != process.sid for p in members):
            return -errno.EPERM
        pair.pgrp = pgrp
    return 0
