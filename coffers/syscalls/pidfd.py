"""pidfd_open (kernel/pid.c) and pidfd_send_signal (kernel/signal.c).

pidfd_open gives a descriptor for a process (:mod:`cofferos.coffers.pidfd`). Its
checks are Linux 6.1's: a flag other than PIDFD_NONBLOCK or a pid that is not
positive is EINVAL, a pid nobody has ESRCH, a thread that leads no thread group
EINVAL. The descriptor is always close-on-exec.

pidfd_send_signal takes the two kinds of descriptor Linux takes (pidfd_to_pid): a
pidfd, and an open /proc/PID directory of a thread-group leader
(tgid_pidfd_to_pid); anything else is EBADF, as is a /proc/PID/task/TID
directory. The checks run in Linux's order: ``flags`` (EINVAL unless 0), the
descriptor, then a caller-supplied siginfo (its si_signo must be ``sig``, and only
a process signalling itself may claim a kernel si_code or SI_TKILL: EPERM), then
kill_pid_info: ESRCH once the process is gone, EINVAL for an invalid signal, EPERM
where kill(2) would refuse.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.files import InodeFile
from cofferos.coffers.pid_ns import find_vpid, init_ignores, pid_nr_of
from cofferos.coffers.pidfd import PIDFD_NONBLOCK, PidFd
from cofferos.coffers.signals import SI_TKILL, SI_USER, SigInfo, valid
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.signal import may_signal
from cofferos.coffers.syscalls.uaccess import copy_from_user, fd_arg, signed

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task


#: The head of siginfo_t (include/uapi/asm-generic/siginfo.h): si_signo, si_errno, si_code.
SIGINFO_HEAD = struct.Struct("<iii")


def sys_pidfd_open(task: Task, pid: int, flags: int) -> int:
    pid, flags = signed(pid, 32), flags & 0xFFFF_FFFF
    if flags & ~PIDFD_NONBLOCK or pid <= 0:
        return -errno.EINVAL
    found = find_vpid(task, pid)
    target = None if found is None else task.coffer.tasks.get(found)
    if target is None:
        return -errno.ESRCH
    if target.tgid != found:
        return -errno.EINVAL  # a thread that leads no thread group
    return task.files.install(PidFd(target.process, flags), cloexec=True)


def sys_pidfd_send_signal(task: Task, pidfd: int, sig: int, info: int, flags: int) -> int:
    sig = signed(sig, 32)
    if flags & 0xFFFF_FFFF:
        return -errno.EINVAL
    file = fdget(task, fd_arg(pidfd))
    if isinstance(file, PidFd):
        process = file.process
    else:
        leader = (task.coffer.procfs.tgid_of_dir(file.inode)
                  if isinstance(file, InodeFile) else None)
        if leader is None:
            return -errno.EBADF
        process = leader.process
    code = SI_USER
    if info:
        signo, _, code = SIGINFO_HEAD.unpack(copy_from_user(task, info, SIGINFO_HEAD.size))
        if signo != sig:
            return -errno.EINVAL
        if process is not task.process and (code >= 0 or code == SI_TKILL):
            return -errno.EPERM
    if process.zombie or not process.live_threads:
        return -errno.ESRCH
    if sig != 0 and not valid(sig):
        return -errno.EINVAL
    if not may_signal(task, process, sig):
        return -errno.EPERM
    if sig and not (process.pid_ns is not None and init_ignores(
            task, process, sig, process.handlers.get(sig).handler)):
        info_sent = SigInfo(sig, code=code, pid=pid_nr_of(process, task.tgid),
                            uid=task.creds.uid)
        task.coffer.signals.send_process(process, info_sent)
    return 0


def register(table: SyscallTable) -> None:
    table.add("pidfd_send_signal", sys_pidfd_send_signal, "fd", "signal", "ptr", "hex")
    table.add("pidfd_open", sys_pidfd_open, "int", "hex")
