"""pidfd_open (kernel/pid.c): a descriptor for a process; see :mod:`cofferos.coffers.pidfd`.

The checks are Linux 6.1's: a flag other than PIDFD_NONBLOCK or a pid that is not
positive is EINVAL, a pid nobody has ESRCH, a thread that leads no thread group
EINVAL. The descriptor is always close-on-exec.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from cofferos.coffers.pidfd import PIDFD_NONBLOCK, PidFd
from cofferos.coffers.syscalls.uaccess import signed

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task


def sys_pidfd_open(task: Task, pid: int, flags: int) -> int:
    pid, flags = signed(pid, 32), flags & 0xFFFF_FFFF
    if flags & ~PIDFD_NONBLOCK or pid <= 0:
        return -errno.EINVAL
    target = task.coffer.tasks.get(pid)
    if target is None:
        return -errno.ESRCH
    if target.tgid != pid:
        return -errno.EINVAL  # a thread that leads no thread group
    return task.files.install(PidFd(target.process, flags), cloexec=True)


def register(table: SyscallTable) -> None:
    table.add("pidfd_open", sys_pidfd_open, "int", "hex")
