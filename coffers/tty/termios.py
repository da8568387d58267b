"""Terminal settings: the kernel's ``struct termios`` and ``struct winsize``.

A pseudo-terminal's settings (:class:`Termios`) are what tcgetattr(3) reads with
TCGETS (or TCGETS2, which adds the two speeds) and tcsetattr(3) writes; the line
discipline (:mod:`.ldisc`) reads its flags and special characters. A new slave
starts with the pts driver's ``init_termios`` (drivers/tty/pty.c: the standard
settings of drivers/tty/tty_io.c's ``tty_std_termios`` with ``c_cflag``
B38400 | CS8 | CREAD). Flag values are the x86-64 ones of
include/uapi/asm-generic/termbits.h.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

# c_iflag
IGNBRK, BRKINT, IGNPAR, PARMRK, INPCK, ISTRIP = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
INLCR, IGNCR, ICRNL, IUCLC, IXON = 0o100, 0o200, 0o400, 0o1000, 0o2000
# c_oflag
OPOST, OLCUC, ONLCR, OCRNL, ONOCR, ONLRET = 0o1, 0o2, 0o4, 0o10, 0o20, 0o40
# c_cflag
B38400, CS8, CREAD, HUPCL = 0o17, 0o60, 0o200, 0o2000
# c_lflag
ISIG, ICANON, ECHO, ECHOE, ECHOK, ECHONL, NOFLSH = 0o1, 0o2, 0o10, 0o20, 0o40, 0o100, 0o200
TOSTOP, ECHOCTL, ECHOPRT, ECHOKE, IEXTEN = 0o400, 0o1000, 0o2000, 0o4000, 0o100000
# c_cc indices
VINTR, VQUIT, VERASE, VKILL, VEOF, VTIME, VMIN = 0, 1, 2, 3, 4, 5, 6
VSTART, VSTOP, VSUSP, VEOL, VREPRINT, VWERASE, VLNEXT, VEOL2 = 8, 9, 10, 11, 12, 14, 15, 16
NCCS = 19  #: the kernel's c_cc length (glibc's struct termios has 32: it copies 19)
#: INIT_C_CC (include/linux/tty.h): ^C ^\ DEL ^U ^D, VTIME 0, VMIN 1, VSWTC 0, ^Q ^S
#: ^Z, VEOL 0, ^R ^O ^W ^V, VEOL2 0; the two spare slots 0.
INIT_C_CC = bytes([0o3, 0o34, 0o177, 0o25, 0o4, 0, 1, 0, 0o21, 0o23, 0o32, 0,
                   0o22, 0o17, 0o27, 0o26, 0, 0, 0])
DISABLED_CHAR = 0  #: _POSIX_VDISABLE: a c_cc slot set to 0 matches no input byte
STANDARD_SPEED = 38400  #: the baud rate a pty reports (B38400)

#: struct termios: four tcflag_t, c_line, c_cc[NCCS] (36 bytes).
TERMIOS = struct.Struct(f"<IIIIB{NCCS}s")
#: struct termios2: the same, then c_ispeed and c_ospeed (44 bytes).
TERMIOS2 = struct.Struct(f"<IIIIB{NCCS}sII")
#: struct winsize: ws_row, ws_col, ws_xpixel, ws_ypixel.
WINSIZE = struct.Struct("<HHHH")


@dataclass
class Termios:
    """One terminal's settings (``struct ktermios``), defaults of a new pts."""

    iflag: int = ICRNL | IXON
    oflag: int = OPOST | ONLCR
    cflag: int = B38400 | CS8 | CREAD
    lflag: int = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN
    line: int = 0
    cc: bytearray = field(default_factory=lambda: bytearray(INIT_C_CC))
    ispeed: int = STANDARD_SPEED
    ospeed: int = STANDARD_SPEED

    def pack(self, with_speeds: bool = False) -> bytes:
        fields = (self.iflag, self.oflag, self.cflag, self.lflag, self.line, bytes(self.cc))
        if with_speeds:
            return TERMIOS2.pack(*fields, self.ispeed, self.ospeed)
        return TERMIOS.pack(*fields)

    def unpack(self, data: bytes, with_speeds: bool = False) -> None:
        """Take the settings in ``data`` (a TCSETS or TCSETS2 argument)."""
        if with_speeds:
            (self.iflag, self.oflag, self.cflag, self.lflag, self.line, cc,
             self.ispeed, self.ospeed) = TERMIOS2.unpack(data)
        else:
            self.iflag, self.oflag, self.cflag, self.lflag, self.line, cc = TERMIOS.unpack(data)
        self.cc = bytearray(cc)

    def has(self, which: str, flag: int) -> bool:
        """Whether ``flag`` is set in the ``which`` flags ("iflag", "oflag", "lflag")."""
        return bool(getattr(self, which) & flag)

    def char(self, index: int) -> int | None:
        """The special character at ``c_cc[index]``, or None when it is disabled."""
        value = self.cc[index]
        return None if value == DISABLED_CHAR else value


@dataclass
class WinSize:
    """``struct winsize``: TIOCGWINSZ reads it, TIOCSWINSZ writes it (all 0 at first)."""

    rows: int = 0
    cols: int = 0
    xpixel: int = 0
    ypixel: int = 0

    def pack(self) -> bytes:
        return WINSIZE.pack(self.rows, self.cols, self.xpixel, self.ypixel)

    @classmethod
    def unpack(cls, data: bytes) -> WinSize:
        return cls(*WINSIZE.unpack(data))
