"""Process file descriptors (kernel/pid.c, kernel/fork.c's pidfd_fops): pidfd_open.

A pidfd names one process (a thread group leader) for as long as it is open, even
after the process is gone, so its number can never name another. It is an
anonymous file (``anon_inode:[pidfd]``), always close-on-exec, that cannot be
read or written (EINVAL, as any file without those operations) and is readable
for poll, select and epoll once the process has exited (thread_group_exited: a
zombie), with POLLHUP too once reaped (as since Linux 6.9). That is how event
loops wait for a child without SIGCHLD. Sending signals through it
(pidfd_send_signal), waitid's P_PIDFD and pidfd_getfd are not modelled (ENOSYS).
The system call is in :mod:`cofferos.coffers.syscalls.pidfd`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cofferos.coffers.anon_inodes import AnonInodeFile
from cofferos.coffers.poll import POLLHUP, POLLIN

if TYPE_CHECKING:
    from cofferos.coffers.task import Process
    from cofferos.coffers.wait import WaitQueue

PIDFD_NONBLOCK = os.O_NONBLOCK  #: include/uapi/linux/pidfd.h: the only flag of Linux 6.1


class PidFd(AnonInodeFile):
    """An open pidfd: the process it names."""

    def __init__(self, process: Process, flags: int) -> None:
        super().__init__("pidfd", flags)
        self.process = process

    def poll_mask(self) -> int:
        if self.process.reaped:
            return POLLIN | POLLHUP  # Linux 6.9's pidfd_poll: the task is gone
        return POLLIN if self.process.zombie else 0

    def wait_queues(self) -> tuple[WaitQueue, ...]:
        return (self.process.pidfd_wait,)
