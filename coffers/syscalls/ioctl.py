"""Device control: ioctl, from Linux's fs/ioctl.c (and drivers/tty for what it refuses).

do_vfs_ioctl answers a few requests for every descriptor: FIOCLEX and FIONCLEX
(close-on-exec), FIONBIO (O_NONBLOCK) and FIONREAD on a regular file (bytes left
to read). Anything else goes to the file's driver: a pseudo-terminal takes the
terminal requests (:mod:`cofferos.coffers.tty.ioctl`), a socket the interface
requests (SIOCGIFINDEX ..., :mod:`cofferos.coffers.syscalls.sockios`), /dev/vsock
its local CID (:mod:`cofferos.coffers.net.vsock`);
everything else is ENOTTY, the errno Linux gives for a request a file does not
understand. The coffer's standard streams are no terminals: isatty(3) is false
on them, and true only on a pty the program opened.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.files import InodeFile
from cofferos.coffers.net.sock import Socket
from cofferos.coffers.net.vsock import VsockDeviceFile
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.sockios import SOCKIOS, sock_ioctl
from cofferos.coffers.syscalls.uaccess import I32, copy_from_user, copy_to_user, fd_arg, put_i32
from cofferos.coffers.tty import PtyFile
from cofferos.coffers.tty.ioctl import tty_ioctl

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/asm-generic/ioctls.h
TCGETS, TCSETS, TCSETSW, TCSETSF = 0x5401, 0x5402, 0x5403, 0x5404
TIOCGPGRP, TIOCSPGRP = 0x540F, 0x5410
TIOCGWINSZ, TIOCSWINSZ = 0x5413, 0x5414
FIONREAD = 0x541B
FIONBIO = 0x5421
FIONCLEX, FIOCLEX = 0x5450, 0x5451
U32 = struct.Struct("<I")
#: Terminal requests, named for the trace and the tests: ENOTTY on anything but a pty.
TERMINAL_REQUESTS = frozenset({TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGPGRP, TIOCSPGRP,
                               TIOCGWINSZ, TIOCSWINSZ})


def sys_ioctl(task: Task, fd: int, request: int, arg: int) -> int:
    fd, request = fd_arg(fd), request & 0xFFFF_FFFF  # cmd is an unsigned int
    file = fdget(task, fd)
    if isinstance(file, PtyFile) and request not in (FIOCLEX, FIONCLEX, FIONBIO):
        return tty_ioctl(task, file, request, arg)
    if request == FIOCLEX or request == FIONCLEX:
        task.files.set_cloexec(fd, request == FIOCLEX)
        return 0
    if request == FIONBIO:
        (on,) = I32.unpack(copy_from_user(task, arg, I32.size))
        file.flags = file.flags | os.O_NONBLOCK if on else file.flags & ~os.O_NONBLOCK
        return 0
    if isinstance(file, Socket) and request in SOCKIOS:
        return sock_ioctl(task, file, request, arg)
    if isinstance(file, VsockDeviceFile):
        copy_to_user(task, arg, U32.pack(file.local_cid(request)))
        return 0
    if request == FIONREAD and isinstance(file, InodeFile) and file.inode.is_reg():
        put_i32(task, arg, max(file.inode.size - file.pos, 0))
        return 0
    return -errno.ENOTTY  # TERMINAL_REQUESTS and everything else: no driver takes it


def register(table: SyscallTable) -> None:
    table.add("ioctl", sys_ioctl, "fd", "hex", "hex")
