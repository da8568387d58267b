"""Leaving and waiting: exit, exit_group, wait4, waitid (kernel/exit.c).

``exit`` ends the calling thread, ``exit_group`` every thread of the process
(see :mod:`cofferos.coffers.lifecycle` for what follows: zombies, SIGCHLD,
reparenting to the coffer's init). ``wait4`` and ``waitid`` find a child that
has ended, report its status in the kernel's encoding and reap it, or sleep on
the process's ``child_exit`` queue until one ends.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.lifecycle import child_uid
from cofferos.coffers.pid_ns import find_vpid, pid_vnr
from cofferos.coffers.signals import SigInfo
from cofferos.coffers.syscalls.uaccess import copy_to_user, put_i32, signed
from cofferos.coffers.task import ExitStatus
from cofferos.coffers.wait import Block

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Process, Task

EXIT_CODE_MASK = 0xFF  # only the low 8 bits of the status reach the parent
WNOHANG, WUNTRACED, WSTOPPED, WEXITED, WCONTINUED, WNOWAIT = 1, 2, 2, 4, 8, 0x01000000
WAIT_STOPPED = 0x7F  #: the low byte of a stopped child's wait status (WIFSTOPPED)
WNOTHREAD, WALL, WCLONE = 0x20000000, 0x40000000, 0x80000000
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3
RUSAGE_SIZE = 144  # struct rusage: two timevals and fourteen longs
SIGINFO_SIZE = 128
CHILD_SIGINFO = struct.Struct("<iii4xiIi")  # signo, errno, code, pid, uid, status
SIGCHLD = 17


def sys_exit_group(task: Task, status: int) -> None:
    task.charge(task.coffer.config.kernel_costs.exit_work)
    task.coffer.kill_process(task.process, ExitStatus(code=status & EXIT_CODE_MASK))


def sys_exit(task: Task, status: int) -> None:
    task.charge(task.coffer.config.kernel_costs.exit_work)
    task.exit(ExitStatus(code=status & EXIT_CODE_MASK))


def _matches(task: Task, child: Process, pid: int) -> bool:
    if pid == -1:
        return True
    if pid > 0:
        return child.tgid == pid
    if pid == 0:
        return child.pgid == task.process.pgid
    return child.pgid == -pid


def _find(task: Task, pid: int) -> tuple[list[Process], Process | None]:
    """(matching children, the first of them that has ended). ``pid`` and a process
    group's number are the caller's PID namespace's (:func:`find_vpid`)."""
    if task.process.pid_ns is not None and pid not in (-1, 0):
        found = find_vpid(task, abs(pid))
        if found is None:
            return [], None
        pid = found if pid > 0 else -found
    children = [c for c in task.process.children if _matches(task, c, pid)]
    ended = next((c for c in children if c.zombie), None)
    return children, ended


def sys_wait4(task: Task, pid: int, status: int, options: int, rusage: int) -> int:
    pid = signed(pid, 32)
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE):
        return -errno.EINVAL
    children, ended = _find(task, pid)
    if not children:
        return -errno.ECHILD
    if ended is None and options & WUNTRACED:
        stopped = next((c for c in children if c.stop_report), None)
        if stopped is not None:  # wait_task_stopped: reported once
            if status:
                put_i32(task, status, stopped.stop_report << 8 | WAIT_STOPPED)
            stopped.stop_report = 0
            if rusage:
                copy_to_user(task, rusage, bytes(RUSAGE_SIZE))
            return pid_vnr(task, stopped.tgid)
    if ended is None:
        if options & WNOHANG:
            return 0
        raise Block([task.process.child_exit])
    if status:
        put_i32(task, status, (ended.exit_status or ExitStatus()).wait_status)
    if rusage:
        copy_to_user(task, rusage, bytes(RUSAGE_SIZE))
    nr = pid_vnr(task, ended.tgid)
    task.coffer.lifecycle.reap(ended)
    return nr


def sys_waitid(task: Task, idtype: int, ident: int, infop: int, options: int,
               rusage: int) -> int:
    ident = signed(ident, 32)
    if not options & (WEXITED | WSTOPPED | WCONTINUED):
        return -errno.EINVAL
    if idtype == P_ALL:
        pid = -1
    elif idtype == P_PID and ident > 0:
        pid = ident
    elif idtype == P_PGID and ident >= 0:
        pid = -ident if ident else 0
    else:
        return -errno.EINVAL
    children, ended = _find(task, pid)
    if not children:
        return -errno.ECHILD
    if ended is None or not options & WEXITED:
        if options & WNOHANG:
            if infop:
                copy_to_user(task, infop, bytes(SIGINFO_SIZE))
            return 0
        raise Block([task.process.child_exit])
    code, value = task.coffer.signals.child_status(ended.exit_status or ExitStatus())
    if infop:
        info = SigInfo(SIGCHLD, code=code, pid=pid_vnr(task, ended.tgid), status=value,
                       uid=child_uid(task.process, ended))
        raw = CHILD_SIGINFO.pack(info.signo, 0, info.code, info.pid, info.uid, info.status)
        copy_to_user(task, infop, raw.ljust(SIGINFO_SIZE, b"\0"))
    if rusage:
        copy_to_user(task, rusage, bytes(RUSAGE_SIZE))
    if not options & WNOWAIT:
        task.coffer.lifecycle.reap(ended)
    return 0


def register(table: SyscallTable) -> None:
    table.add("exit", sys_exit, "int")
    table.add("exit_group", sys_exit_group, "int")
    table.add("wait4", sys_wait4, "int", "ptr", "hex", "ptr")
    table.add("waitid", sys_waitid, "int", "int", "ptr", "hex", "ptr")
