"""Pseudo-terminal pairs: Linux's drivers/tty/pty.c (the Unix 98 kind).

Opening /dev/ptmx makes a :class:`PtyPair` and returns its master
(:class:`PtyMaster`); the slave appears as /dev/pts/N in the coffer's devpts
(:mod:`.devpts`), locked until TIOCSPTLCK unlocks it, and each open of it is a
:class:`PtySlave`. Bytes the master writes are the slave's input, through the
line discipline (:mod:`.ldisc`); bytes the slave writes (and what the line
discipline echoes) are the master's to read. Both sides share one set of
settings and one window size, as Linux's TCGETS and TIOCGWINSZ on a master act
on its slave.

The end of either side, as Linux gives it: once every slave is closed the
master reads EIO (when its buffer is empty) and polls POLLHUP; closing the
master hangs the slave up: it reads end of file, writes EIO and polls every
event, and the session whose controlling terminal it was loses it, its leader
getting SIGHUP and SIGCONT (tty_signal_session_leader). The slave's number is
free for a new pair once both sides are closed.
"""

from __future__ import annotations

import errno
import os
import signal
from typing import TYPE_CHECKING

from cofferos.coffers.files import POLLIN, POLLOUT, OpenFile
from cofferos.coffers.fs import FsError, Inode, StatResult
from cofferos.coffers.signals import SI_KERNEL, SigInfo
from cofferos.coffers.wait import TIMED_OUT, Block, WaitQueue

from .jobctl import TIOCPKT_DATA, tty_check_change
from .ldisc import NTty
from .termios import ICANON, TOSTOP, VMIN, VTIME, Termios, WinSize

if TYPE_CHECKING:
    from collections.abc import Callable

    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Process

POLLPRI, POLLERR, POLLHUP = 0x2, 0x8, 0x10
#: TTYB_DEFAULT_MEM_LIMIT (drivers/tty/tty_buffer.c): what a pty buffers towards the
#: master before a slave's write waits.
PTY_BUFFER = 64 * 1024
NS_PER_DECISECOND = 100_000_000  #: VTIME counts tenths of a second


class PtyPair:
    """One pseudo-terminal: its number, settings, buffers and who has it open."""

    def __init__(self, coffer: Coffer, index: int, inode: Inode) -> None:
        self.coffer = coffer
        self.index = index
        self.inode = inode  #: /dev/pts/N
        self.termios = Termios()
        self.winsize = WinSize()
        self.to_master = bytearray()  #: the slave's output and echoes, for the master to read
        self.ldisc = NTty(self.termios, self._echo, self.kill_foreground, self.to_master.clear)
        self.locked = True  #: TIOCSPTLCK: the slave cannot be opened while set
        self.master_open = True
        self.slaves = 0  #: open slave file descriptions
        self.other_closed = False  #: every slave was closed (TTY_OTHER_CLOSED on the master)
        self.session: int | None = None  #: the session whose controlling terminal it is
        self.pgrp: int | None = None  #: its foreground process group
        self.packet = False  #: TIOCPKT: the master's reads start with a status byte
        self.pktstatus = 0  #: TIOCPKT_ events not yet read by the master (:mod:`.jobctl`)
        # Who waits for what: each side's readers and writers apart, so that a read on
        # one side wakes only the writers of the other (a spurious wake-up would turn
        # a signal that interrupts a sleeping reader into a restart).
        self.master_readable, self.master_writable = WaitQueue(), WaitQueue()
        self.slave_readable, self.slave_writable = WaitQueue(), WaitQueue()

    @property
    def name(self) -> str:
        return f"/dev/pts/{self.index}"

    @property
    def hung_up(self) -> bool:
        return not self.master_open

    def changed(self) -> None:
        """Anything may have changed (a close, new settings, a flush): wake everyone."""
        for queue in (self.master_readable, self.master_writable, self.slave_readable,
                      self.slave_writable):
            queue.wake_all()

    def _echo(self, data: bytes) -> None:
        self.to_master += self.ldisc.output(data)

    def kill_foreground(self, sig: int) -> None:
        """A signal from the line discipline to every process of the foreground group."""
        if self.pgrp is not None:
            self._kill(lambda p: p.pgid == self.pgrp, sig)

    def _kill(self, chosen: Callable[[Process], bool], sig: int) -> None:
        for process in list(self.coffer.processes.values()):
            if not process.zombie and chosen(process):
                self.coffer.signals.send_process(process, SigInfo(sig, code=SI_KERNEL))

    def hangup(self) -> None:
        """The master closed (pty_close -> tty_vhangup): the slave is hung up."""
        self.master_open = False
        if self.session is not None:
            sid = self.session
            self.session = self.pgrp = None
            for sig in (signal.SIGHUP, signal.SIGCONT):
                self._kill(lambda p: p.tgid == sid, sig)
        self.changed()

    def disassociate(self, sid: int) -> None:
        """The session leader exited (disassociate_ctty): the foreground group gets
        SIGHUP and SIGCONT, and the terminal belongs to no session any more."""
        if self.session != sid:
            return
        if self.pgrp is not None:
            for sig in (signal.SIGHUP, signal.SIGCONT):
                self.kill_foreground(sig)
        self.session = self.pgrp = None

    def free(self) -> bool:
        return not self.master_open and self.slaves == 0


class PtyFile(OpenFile):
    """What both sides share: the pair, the device inode, no seeking."""

    seekable = False
    master = False

    def __init__(self, pair: PtyPair, inode: Inode, flags: int, path: str) -> None:
        super().__init__(flags, path)
        self.pair = pair
        self._inode = inode

    @property
    def inode(self) -> Inode:
        return self._inode

    def stat(self) -> StatResult:
        return self._inode.stat()

    def queues(self) -> tuple[WaitQueue, WaitQueue]:
        """This side's (readable, writable) queues."""
        pair = self.pair
        if self.master:
            return pair.master_readable, pair.master_writable
        return pair.slave_readable, pair.slave_writable

    def wait_queues(self) -> tuple[WaitQueue, ...]:
        return self.queues()

    def _wait(self, writing: bool, deadline_ns: int | None = None) -> Block:
        if self.flags & os.O_NONBLOCK:
            raise FsError(errno.EAGAIN)
        return Block([self.queues()[writing]], deadline_ns)


class PtyMaster(PtyFile):
    """The master side (/dev/ptmx): reads the slave's output, writes its input."""

    master = True

    def read(self, size: int) -> bytes:
        pair = self.pair
        if pair.packet and pair.pktstatus and size:
            status, pair.pktstatus = pair.pktstatus, 0
            return bytes([status])  # n_tty_read: the events alone
        if not pair.to_master:
            if pair.other_closed:
                raise FsError(errno.EIO)  # n_tty_read: the other side is gone
            raise self._wait(writing=False)
        if pair.packet and size:
            size -= 1  # room for TIOCPKT_DATA
        data = bytes(pair.to_master[:size])
        del pair.to_master[:size]
        pair.slave_writable.wake_all()
        return bytes([TIOCPKT_DATA]) + data if pair.packet else data

    def write(self, data: bytes) -> int:
        pair = self.pair
        echoed = len(pair.to_master)
        taken = pair.ldisc.receive(data)
        if data and not taken:
            raise self._wait(writing=True)
        pair.slave_readable.wake_all()
        if len(pair.to_master) != echoed:
            pair.master_readable.wake_all()
        return taken

    def poll_mask(self) -> int:
        pair = self.pair
        mask = POLLIN if pair.to_master else 0
        if pair.packet and pair.pktstatus:
            mask |= POLLIN | POLLPRI  # n_tty_poll
        mask |= POLLOUT if pair.ldisc.room() > 0 else 0
        return mask | (POLLHUP if pair.other_closed else 0)

    def release(self) -> None:
        pair = self.pair
        pair.hangup()
        pair.coffer.devpts.release(pair)


class PtySlave(PtyFile):
    """One open of /dev/pts/N: the terminal a program reads and writes."""

    def __init__(self, pair: PtyPair, inode: Inode, flags: int, path: str) -> None:
        super().__init__(pair, inode, flags, path)
        pair.slaves += 1
        pair.other_closed = False

    def read(self, size: int) -> bytes:
        pair = self.pair
        if pair.hung_up:
            return b""  # hung_up_tty_read
        self._job_control(signal.SIGTTIN)
        ldisc = pair.ldisc
        if ldisc.available():
            data = ldisc.read(size)
            pair.master_writable.wake_all()
            return data
        termios = pair.termios
        if not termios.lflag & ICANON and termios.cc[VMIN] == 0:
            if termios.cc[VTIME] == 0 or self.task_timed_out():
                return b""  # VMIN 0: a read never waits longer than VTIME
            deadline = pair.coffer.monotonic_ns() + termios.cc[VTIME] * NS_PER_DECISECOND
            raise self._wait(False, deadline)
        raise self._wait(writing=False)

    def _job_control(self, sig: int) -> None:
        task = self.pair.coffer.current
        if task is not None:
            tty_check_change(task, self.pair, sig)

    def task_timed_out(self) -> bool:
        """Whether the reader (the task in the call) was woken by its VTIME deadline."""
        current = self.pair.coffer.current
        return current is not None and current.wakeup == TIMED_OUT

    def write(self, data: bytes) -> int:
        pair = self.pair
        if pair.hung_up:
            raise FsError(errno.EIO)  # hung_up_tty_write
        if pair.termios.lflag & TOSTOP:
            self._job_control(signal.SIGTTOU)
        room = PTY_BUFFER - len(pair.to_master)
        if data and room <= 0:
            raise self._wait(writing=True)
        take = min(len(data), room)
        out = pair.ldisc.output(data[:take])
        while len(out) > room:  # ONLCR made it longer: write less of it
            take -= len(out) - room
            out = pair.ldisc.output(data[:take])
        pair.to_master += out
        pair.master_readable.wake_all()
        return take

    def poll_mask(self) -> int:
        pair = self.pair
        if pair.hung_up:
            return POLLIN | POLLOUT | POLLERR | POLLHUP  # hung_up_tty_poll
        mask = POLLIN if pair.ldisc.available() else 0
        return mask | (POLLOUT if len(pair.to_master) < PTY_BUFFER else 0)

    def release(self) -> None:
        pair = self.pair
        pair.slaves -= 1
        if pair.slaves == 0:
            pair.other_closed = True  # pty_close: the master learns the slave is gone
        pair.changed()
        pair.coffer.devpts.release(pair)
