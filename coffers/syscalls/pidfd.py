"""Signals to a process named by a descriptor: pidfd_send_signal, from Linux's kernel/signal.c.

Linux takes two kinds of descriptor there (pidfd_to_pid): a pidfd from pidfd_open
or clone's CLONE_PIDFD, and an open /proc/PID directory of a thread-group leader
(tgid_pidfd_to_pid). A coffer has no pidfds yet (pidfd_open is ENOSYS), so the
/proc/PID directory is the one kind here; anything else is EBADF, as is a
/proc/PID/task/TID directory. The checks run in Linux's order: ``flags`` (EINVAL
unless 0), the descriptor, then a caller-supplied siginfo (its si_signo must be
``sig``, and only a process signalling itself may claim a kernel si_code or
SI_TKILL: EPERM), then kill_pid_info: ESRCH once the process is gone, EINVAL for
an invalid signal, EPERM where kill(2) would refuse.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.files import InodeFile
from cofferos.coffers.signals import SI_TKILL, SI_USER, SigInfo, valid
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.signal import may_signal
from cofferos.coffers.syscalls.uaccess import copy_from_user, fd_arg, signed

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

#: The head of siginfo_t (include/uapi/asm-generic/siginfo.h): si_signo, si_errno, si_code.
SIGINFO_HEAD = struct.Struct("<iii")


def sys_pidfd_send_signal(task: Task, pidfd: int, sig: int, info: int, flags: int) -> int:
    sig = signed(sig, 32)
    if flags & 0xFFFF_FFFF:
        return -errno.EINVAL
    file = fdget(task, fd_arg(pidfd))
    target = (task.coffer.procfs.tgid_of_dir(file.inode)
              if isinstance(file, InodeFile) else None)
    if target is None:
        return -errno.EBADF
    code = SI_USER
    if info:
        signo, _, code = SIGINFO_HEAD.unpack(copy_from_user(task, info, SIGINFO_HEAD.size))
        if signo != sig:
            return -errno.EINVAL
        if target is not task and (code >= 0 or code == SI_TKILL):
            return -errno.EPERM
    process = target.process
    if not target.alive or process.zombie:
        return -errno.ESRCH
    if sig != 0 and not valid(sig):
        return -errno.EINVAL
    if not may_signal(task, process, sig):
        return -errno.EPERM
    if sig:
        info_sent = SigInfo(sig, code=code, pid=task.tgid, uid=task.creds.uid)
        task.coffer.signals.send_process(process, info_sent)
    return 0


def register(table: SyscallTable) -> None:
    table.add("pidfd_send_signal", sys_pidfd_send_signal, "fd", "signal", "ptr", "hex")
