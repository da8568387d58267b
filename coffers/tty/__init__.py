"""Pseudo-terminals: the only terminals a coffer has.

    termios.py  struct termios and struct winsize, a new slave's settings
    ldisc.py    the line discipline (n_tty): canonical and raw input, echo, signals
    pty.py      a pair: the master and slave open files, hang-up and EIO
    devpts.py   /dev/pts, /dev/ptmx and /dev/tty opens, controlling terminals
    ioctl.py    the terminal ioctls: settings, window size, TIOCGPTN ... TIOCSCTTY

Standard input and output stay the host's streams (:class:`~cofferos.coffers.files.HostStream`),
never terminals: a program sees a terminal in a coffer only when it makes one.
"""

from cofferos.coffers.tty.devpts import Devpts, mount_devpts
from cofferos.coffers.tty.pty import PtyFile, PtyMaster, PtySlave

__all__ = ["Devpts", "PtyFile", "PtyMaster", "PtySlave", "mount_devpts"]
