"""The line discipline of a pseudo-terminal's slave: Linux's drivers/tty/n_tty.c, in small.

Bytes written to the master are *input* to the slave: :meth:`NTty.receive` maps
carriage returns (ICRNL, IGNCR, INLCR), turns the interrupt, quit and suspend
characters into signals for the foreground process group (ISIG), and either
edits a line (ICANON: erase, kill, end of file, the line ends at a newline) or
hands bytes over as they come (raw). What it echoes (ECHO, ECHOE, ECHOK,
ECHOKE, ECHONL, ECHOCTL's ``^X``) goes to the master as output does. Bytes
the slave writes are *output*: :meth:`NTty.output` applies OPOST (ONLCR: a
newline becomes CR LF; OCRNL).

A canonical read returns at most one line, an empty line finished by the end of
file character reads as end of file. A raw read waits for ``VMIN`` bytes (0: it
never waits, reading what is there); ``VTIME`` is a read timeout in tenths of a
second when ``VMIN`` is 0, and ignored otherwise (Linux uses it as an
inter-byte timer there). Not modelled: flow control (IXON's stop and start
characters pass as data), VREPRINT, tab and column bookkeeping for erase,
parity and break handling, packet mode.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable

from .termios import (
    ECHO,
    ECHOCTL,
    ECHOE,
    ECHOK,
    ECHOKE,
    ECHONL,
    ICANON,
    ICRNL,
    IEXTEN,
    IGNCR,
    INLCR,
    ISIG,
    ISTRIP,
    NOFLSH,
    OCRNL,
    ONLCR,
    OPOST,
    VEOF,
    VEOL,
    VEOL2,
    VERASE,
    VINTR,
    VKILL,
    VLNEXT,
    VQUIT,
    VSUSP,
    VWERASE,
    Termios,
)

N_TTY_BUF_SIZE = 4096  #: the read buffer of n_tty (include/linux/tty.h)
NEWLINE, CARRIAGE_RETURN, TAB, DELETE = 0x0A, 0x0D, 0x09, 0x7F
CONTROL_FLIP = 0o100  #: ``^X`` shows control character c as c ^ 0100
ERASE_ONE = b"\b \b"  #: how ECHOE rubs out one echoed column
SIGNAL_CHARS = ((VINTR, signal.SIGINT), (VQUIT, signal.SIGQUIT), (VSUSP, signal.SIGTSTP))

Echo = Callable[[bytes], None]
Signal = Callable[[int], None]


def is_control(c: int) -> bool:
    return c < 0x20 or c == DELETE


class NTty:
    """The slave's input queue and editing state; ``echo``, ``kill`` and ``flush_output``
    are the pair's ways to put echoed bytes before the master, to signal the
    foreground group and to drop what the master has not read yet."""

    def __init__(self, termios: Termios, echo: Echo, kill: Signal,
                 flush_output: Callable[[], None]) -> None:
        self.termios = termios
        self._echo = echo
        self._kill = kill
        self._flush_output = flush_output
        self.ready = bytearray()  #: bytes a read may take
        self.ends: deque[int] = deque()  #: canonical: where each finished line ends in ready
        self.line = bytearray()  #: canonical: the line being edited
        self._literal = False  #: the previous byte was VLNEXT

    # -- input: bytes the master wrote -------------------------------------------------
    def room(self) -> int:
        return max(N_TTY_BUF_SIZE - len(self.ready) - len(self.line), 0)

    def receive(self, data: bytes) -> int:
        """Take input bytes; returns how many were taken (raw mode stops when full)."""
        for taken, c in enumerate(data):
            if not self._canonical() and len(self.ready) >= N_TTY_BUF_SIZE:
                return taken
            self._receive_char(c)
        return len(data)

    def _canonical(self) -> bool:
        return self.termios.has("lflag", ICANON)

    def _receive_char(self, c: int) -> None:
        t = self.termios
        if t.has("iflag", ISTRIP):
            c &= 0x7F
        if self._literal:
            self._literal = False
            self._store(c)
            return
        if c == CARRIAGE_RETURN:
            if t.has("iflag", IGNCR):
                return
            if t.has("iflag", ICRNL):
                c = NEWLINE
        elif c == NEWLINE and t.has("iflag", INLCR):
            c = CARRIAGE_RETURN
        if t.has("lflag", ISIG):
            for index, sig in SIGNAL_CHARS:
                if c == t.char(index):
                    self._signal(c, sig)
                    return
        if self._canonical() and self._edit(c):
            return
        self._store(c)

    def _signal(self, c: int, sig: int) -> None:
        if not self.termios.has("lflag", NOFLSH):  # __isig: both queues are flushed
            self.flush_input()
            self._flush_output()
        self._echo_char(c)
        self._kill(sig)

    def _edit(self, c: int) -> bool:
        """A canonical-mode special character: acted on (True), or plain data."""
        t = self.termios
        extended = t.has("lflag", IEXTEN)
        if c == t.char(VERASE) or (extended and c == t.char(VWERASE)):
            self._erase(word=c != t.char(VERASE))
        elif c == t.char(VKILL):
            self._kill_line()
        elif c == t.char(VEOF):
            self._finish_line()
        elif extended and c == t.char(VLNEXT):
            self._literal = True
            if t.has("lflag", ECHO) and t.has("lflag", ECHOCTL):
                self._echo(b"^\b")
        elif c == NEWLINE or c == t.char(VEOL) or (extended and c == t.char(VEOL2)):
            self.line.append(c)
            if t.has("lflag", ECHO) or (c == NEWLINE and t.has("lflag", ECHONL)):
                self._echo(bytes([c]))
            self._finish_line()
        else:
            return False
        return True

    def _store(self, c: int) -> None:
        if self._canonical():
            if len(self.ready) + len(self.line) >= N_TTY_BUF_SIZE - 1:
                return  # a full line buffer drops what does not fit (keeps room for NL)
            self.line.append(c)
        else:
            self.ready.append(c)
        self._echo_char(c)

    def _echo_char(self, c: int) -> None:
        t = self.termios
        if not t.has("lflag", ECHO):
            return
        if t.has("lflag", ECHOCTL) and is_control(c) and c != TAB:
            self._echo(bytes([ord("^"), c ^ CONTROL_FLIP]))
        else:
            self._echo(bytes([c]))

    def _rub_out(self, c: int) -> None:
        t = self.termios
        if t.has("lflag", ECHO) and t.has("lflag", ECHOE):
            wide = t.has("lflag", ECHOCTL) and is_control(c) and c != TAB
            self._echo(ERASE_ONE * (2 if wide else 1))

    def _erase(self, word: bool) -> None:
        while self.line and word and self.line[-1] in b" \t":
            self._rub_out(self.line.pop())
        while self.line:
            c = self.line.pop()
            self._rub_out(c)
            if not word or (self.line and self.line[-1] in b" \t"):
                break

    def _kill_line(self) -> None:
        t = self.termios
        if t.has("lflag", ECHO) and t.has("lflag", ECHOKE):
            while self.line:
                self._rub_out(self.line.pop())
        elif t.has("lflag", ECHO) and t.has("lflag", ECHOK):
            self._echo(b"\n")
        self.line.clear()

    def _finish_line(self) -> None:
        self.ready += self.line
        self.line.clear()
        self.ends.append(len(self.ready))

    # -- reading ------------------------------------------------------------------------
    def available(self) -> bool:
        """Whether a read would return now (a line, or raw bytes enough for VMIN)."""
        if self._canonical():
            return bool(self.ends)
        return bool(self.ready)

    def read(self, size: int) -> bytes:
        """Take what one read returns; the caller checked :meth:`available`."""
        if self._canonical():
            take = min(size, self.ends[0])
        else:
            take = min(size, len(self.ready))
        data = bytes(self.ready[:take])
        del self.ready[:take]
        if self._canonical():
            if self.ends[0] == take:
                self.ends.popleft()  # the whole line (or an end of file) consumed
        else:
            while self.ends and self.ends[0] <= take:
                self.ends.popleft()
        self.ends = deque(end - take for end in self.ends)
        return data

    def flush_input(self) -> None:
        self.ready.clear()
        self.ends.clear()
        self.line.clear()

    def set_termios(self, new: Termios) -> None:
        """TCSETS: leaving canonical mode makes the edited line readable as it is."""
        was_canonical = self._canonical()
        self.termios.unpack(new.pack(with_speeds=True), with_speeds=True)
        if was_canonical and not self._canonical():
            self.ready += self.line
            self.line.clear()
            self.ends.clear()
        elif not was_canonical and self._canonical() and self.ready:
            self.ends.append(len(self.ready))  # what was typed raw reads as one line

    # -- output: bytes the slave wrote ---------------------------------------------------
    def output(self, data: bytes) -> bytes:
        """``data`` as the master reads it: OPOST's ONLCR and OCRNL applied."""
        t = self.termios
        if not t.has("oflag", OPOST):
            return data
        if t.has("oflag", OCRNL):
            data = data.replace(b"\r", b"\n")
        if t.has("oflag", ONLCR):
            data = data.replace(b"\n", b"\r\n")
        return data
