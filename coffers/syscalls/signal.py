"""Signal system calls (kernel/signal.c, arch/x86/kernel/signal.c, kernel/time/itimer.c).

rt_sigaction, rt_sigprocmask, rt_sigreturn, sigaltstack, rt_sigpending,
rt_sigsuspend, rt_sigtimedwait, pause, kill, tgkill, tkill, alarm, setitimer,
getitimer. Every pid here is a pid of the caller's coffer: a pid that names no
task of this coffer is ESRCH, whatever runs under that number elsewhere.
Sending, even signal 0, needs permission (:func:`may_signal`): EPERM otherwise.
"""

from __future__ import annotations

import errno
import signal
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_KILL
from cofferos.coffers.itimers import (
    CPU_ITIMERS,
    ITIMER_REAL,
    get_cpu_itimer,
    process_cpu_ns,
    set_cpu_itimer,
)
from cofferos.coffers.ktime import InvalidTime, ktime_add_safe, ns_to_timeval, timeval_to_ktime
from cofferos.coffers.pid_ns import find_vpid, init_ignores, pid_nr_of, pid_vnr
from cofferos.coffers.sigframe import on_altstack, pack_siginfo, restore_frame
from cofferos.coffers.signals import (
    SA_RESTORER,
    SI_TKILL,
    SI_USER,
    UNBLOCKABLE,
    SigAction,
    SigInfo,
    valid,
)
from cofferos.coffers.syscalls.rusage import running_cycles
from cofferos.coffers.syscalls.time import NS_PER_SECOND
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user, get_timespec, signed
from cofferos.coffers.userns import UID_MAP, from_kid_munged, ns_capable
from cofferos.coffers.wait import SYSCALL_INSN_LENGTH, TIMED_OUT, Block
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Process, Task

SIGSET_SIZE = 8
KSIGACTION = struct.Struct("<QQQQ")  # handler, flags, restorer, mask
STACK_T = struct.Struct("<Qi4xQ")  # ss_sp, ss_flags, ss_size
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
SS_ONSTACK, SS_DISABLE, SS_AUTODISARM = 1, 2, 1 << 31
MINSIGSTKSZ = 2048
U64 = struct.Struct("<Q")
ITIMERVAL = struct.Struct("<qqqq")  # it_interval (sec, usec), it_value (sec, usec)
MASK64 = (1 << 64) - 1
UINT_MASK = 0xFFFF_FFFF  #: alarm(2) returns an unsigned int


def _sigset(task: Task, address: int, size: int) -> int:
    if size != SIGSET_SIZE:
        raise _Invalid
    (value,) = U64.unpack(copy_from_user(task, address, SIGSET_SIZE))
    return int(value)


class _Invalid(Exception):
    pass


def sys_rt_sigaction(task: Task, sig: int, act: int, oact: int, size: int) -> int:
    sig = signed(sig, 32)
    if size != SIGSET_SIZE or not valid(sig):
        return -errno.EINVAL
    handlers = task.process.handlers
    old = handlers.get(sig)
    if act:
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            return -errno.EINVAL
        raw = copy_from_user(task, act, KSIGACTION.size)
        handler, flags, restorer, mask = KSIGACTION.unpack(raw)
        if not flags & SA_RESTORER:
            restorer = 0
        handlers.set(sig, SigAction(handler, flags, restorer, mask & ~UNBLOCKABLE))
        if handlers.ignores(sig):  # setting SIG_IGN discards what is pending (POSIX)
            task.process.pending.discard(sig)
            for thread in task.process.threads:
                thread.pending.discard(sig)
    if oact:
        copy_to_user(task, oact, KSIGACTION.pack(old.handler, old.flags, old.restorer, old.mask))
    return 0


def sys_rt_sigprocmask(task: Task, how: int, nset: int, oset: int, size: int) -> int:
    if size != SIGSET_SIZE:
        return -errno.EINVAL
    old = task.blocked
    if nset:
        new = _sigset(task, nset, size)
        if how == SIG_BLOCK:
            task.blocked |= new
        elif how == SIG_UNBLOCK:
            task.blocked &= ~new
        elif how == SIG_SETMASK:
            task.blocked = new
        else:
            return -errno.EINVAL
        task.blocked &= ~UNBLOCKABLE & MASK64
    if oset:
        copy_to_user(task, oset, U64.pack(old))
    return 0


def sys_rt_sigreturn(task: Task) -> int | None:
    try:
        mask = restore_frame(task)
    except MemoryFault:  # a frame the task cannot read: Linux's badframe path
        task.coffer.signals.force_sigsegv(task, 0)
        return 0
    task.blocked = mask & ~UNBLOCKABLE & MASK64
    # Unicorn adds the SYSCALL length to RIP when this hook returns: pre-compensate.
    task.cpu.pc = task.cpu.pc - SYSCALL_INSN_LENGTH
    task.cpu.stop()


def sys_sigaltstack(task: Task, ss: int, old_ss: int) -> int:
    sp_now = task.cpu.sp
    if old_ss:
        base, flags, size = task.altstack
        shown = SS_ONSTACK if on_altstack(task, sp_now) else (flags if size else SS_DISABLE)
        copy_to_user(task, old_ss, STACK_T.pack(base, shown, size))
    if ss:
        if on_altstack(task, sp_now):
            return -errno.EPERM
        base, flags, size = STACK_T.unpack(copy_from_user(task, ss, STACK_T.size))
        mode = flags & ~SS_AUTODISARM
        if mode not in (0, SS_ONSTACK, SS_DISABLE):
            return -errno.EINVAL
        if mode == SS_DISABLE:
            task.altstack = (0, SS_DISABLE, 0)
        else:
            if size < MINSIGSTKSZ:
                return -errno.ENOMEM
            task.altstack = (base, 0, size)
    return 0


def sys_rt_sigpending(task: Task, uset: int, size: int) -> int:
    if size > SIGSET_SIZE:
        return -errno.EINVAL
    pending = (task.pending.mask | task.process.pending.mask) & task.blocked
    copy_to_user(task, uset, U64.pack(pending)[:size])
    return 0


def sys_pause(task: Task) -> int:
    raise Block()  # only a signal ends it: -EINTR from the signal code


def sys_rt_sigsuspend(task: Task, mask: int, size: int) -> int:
    try:
        new = _sigset(task, mask, size)
    except _Invalid:
        return -errno.EINVAL
    if task.saved_blocked is None:
        task.saved_blocked = task.blocked
    task.blocked = new & ~UNBLOCKABLE & MASK64
    if task.coffer.signals.has_pending(task):
        return -errno.EINTR  # already deliverable under the new mask: handled on return
    raise Block()


def sys_rt_sigtimedwait(task: Task, uthese: int, uinfo: int, uts: int, size: int) -> int:
    try:
        wanted = _sigset(task, uthese, size) & ~UNBLOCKABLE
    except _Invalid:
        return -errno.EINVAL
    info = task.pending.take(wanted) or task.process.pending.take(wanted)
    if info is not None:
        task.sigwait_set = 0
        if uinfo:
            copy_to_user(task, uinfo, pack_siginfo(info))
        return info.signo
    if task.wakeup == TIMED_OUT:
        task.sigwait_set = 0
        return -errno.EAGAIN
    deadline = None
    if uts:
        try:
            timeout = get_timespec(task, uts)
        except InvalidTime:
            return -errno.EINVAL
        if timeout == 0:
            return -errno.EAGAIN
        deadline = ktime_add_safe(task.coffer.monotonic_ns(), timeout)
    task.sigwait_set = wanted
    raise Block([], deadline)


# -- sending ------------------------------------------------------------------------------
def may_signal(task: Task, target: Process, sig: int) -> bool:
    """check_kill_permission: one's own process; a process whose real or saved uid is
    the sender's real or effective uid (kill_ok_by_cred); anyone with CAP_KILL in the
    receiver's user namespace; and SIGCONT within the session."""
    if target is task.process:
        return True
    sender, receiver = task.creds, target.creds
    if {sender.uid, sender.euid} & {receiver.uid, receiver.suid}:
        return True
    if ns_capable(sender, receiver.userns, CAP_KILL):
        return True
    return sig == signal.SIGCONT and target.sid == task.process.sid


def _si_uid(task: Task, target: Process) -> int:
    """si_uid: the sender's real uid as the receiver's user namespace sees it
    (userns_fixup_signal_uid)."""
    return from_kid_munged(target.creds.userns, UID_MAP, task.creds.uid)


def _targets(task: Task, pid: int) -> list[Process]:
    coffer = task.coffer
    live = [p for p in coffer.processes.values() if not p.zombie]
    if task.process.pid_ns is not None:
        return _ns_targets(task, pid, live)
    if pid > 0:
        return [p for p in live if p.tgid == pid]
    if pid == 0:
        return [p for p in live if p.pgid == task.process.pgid]
    if pid == -1:  # everyone the caller may signal, except the coffer's init and itself
        return [p for p in live if p is not coffer.init and p is not task.process]
    return [p for p in live if p.pgid == -pid]


def _ns_targets(task: Task, pid: int, live: list[Process]) -> list[Process]:
    """_targets for a caller in a nested PID namespace: numbers are its namespace's,
    and kill(-1) spares the namespace's init (pid 1 there) and the caller."""
    if pid == -1:
        return [p for p in live if pid_vnr(task, p.tgid) > 1 and p is not task.process]
    if pid == 0:
        return [p for p in live if p.pgid == task.process.pgid]
    found = find_vpid(task, abs(pid))
    if found is None:
        return []
    if pid > 0:
        return [p for p in live if p.tgid == found]
    return [p for p in live if p.pgid == found]  # the whole group, as __kill_pgrp_info


def _ignored_by_init(task: Task, target: Process, sig: int) -> bool:
    """A PID namespace's init drops what it has no handler for (SIGNAL_UNKILLABLE)."""
    return target.pid_ns is not None and sig != 0 and \
        init_ignores(task, target, sig, target.handlers.get(sig).handler)


def sys_kill(task: Task, pid: int, sig: int) -> int:
    pid, sig = signed(pid, 32), signed(sig, 32)
    if sig != 0 and not valid(sig):
        return -errno.EINVAL
    targets = _targets(task, pid)
    if not targets:
        return -errno.ESRCH
    allowed = [process for process in targets if may_signal(task, process, sig)]
    if not allowed and pid != -1:  # kill(-1) answers 0 even when it may signal no one
        return -errno.EPERM
    if sig:
        for process in allowed:
            if _ignored_by_init(task, process, sig):
                continue
            info = SigInfo(sig, code=SI_USER, pid=pid_nr_of(process, task.tgid),
                           uid=_si_uid(task, process))
            task.coffer.signals.send_process(process, info)
    return 0


def _send_thread(task: Task, tgid: int | None, tid: int, sig: int) -> int:
    if sig != 0 and not valid(sig):
        return -errno.EINVAL
    found = find_vpid(task, tid)
    target = None if found is None else task.coffer.tasks.get(found)
    if target is None or not target.alive or (
            tgid is not None and pid_vnr(task, target.tgid) != tgid):
        return -errno.ESRCH
    if not may_signal(task, target.process, sig):
        return -errno.EPERM
    if sig and not _ignored_by_init(task, target.process, sig):
        info = SigInfo(sig, code=SI_TKILL, pid=pid_nr_of(target.process, task.tgid),
                       uid=_si_uid(task, target.process))
        task.coffer.signals.send_task(target, info)
    return 0


def sys_tgkill(task: Task, tgid: int, tid: int, sig: int) -> int:
    tgid, tid = signed(tgid, 32), signed(tid, 32)
    if tgid <= 0 or tid <= 0:
        return -errno.EINVAL
    return _send_thread(task, tgid, tid, signed(sig, 32))


def sys_tkill(task: Task, tid: int, sig: int) -> int:
    tid = signed(tid, 32)
    if tid <= 0:
        return -errno.EINVAL
    return _send_thread(task, None, tid, signed(sig, 32))


# -- the interval timers -------------------------------------------------------------------
def _remaining(task: Task) -> int:
    deadline = task.process.alarm_deadline_ns
    return max(deadline - task.coffer.monotonic_ns(), 0) if deadline is not None else 0


def sys_alarm(task: Task, seconds: int) -> int:
    left = _remaining(task)
    process = task.process
    process.alarm_interval_ns = 0
    seconds &= 0xFFFFFFFF
    task.coffer.scheduler.arm_alarm(
        process, task.coffer.monotonic_ns() + seconds * NS_PER_SECOND if seconds else None)
    # alarm(2) rounds the remaining time to the nearest second, at least 1 if any is left,
    # and returns it as an unsigned int.
    return max((left + NS_PER_SECOND // 2) // NS_PER_SECOND, 1) & UINT_MASK if left else 0


def _real_itimer(task: Task) -> tuple[int, int]:
    return task.process.alarm_interval_ns, _remaining(task)


def _cpu_now(task: Task, which: int) -> int:
    return process_cpu_ns(task.coffer, task.process, which, running_cycles(task))


def sys_getitimer(task: Task, which: int, value: int) -> int:
    which = signed(which, 32)
    if which == ITIMER_REAL:
        interval, left = _real_itimer(task)
    elif which in CPU_ITIMERS:
        interval, left = get_cpu_itimer(task.process, which, _cpu_now(task, which))
    else:
        return -errno.EINVAL
    copy_to_user(task, value, ITIMERVAL.pack(*ns_to_timeval(interval), *ns_to_timeval(left)))
    return 0


def sys_setitimer(task: Task, which: int, new: int, old: int) -> int:
    which = signed(which, 32)
    interval = value = 0  # no new value: disarm, as Linux does (with a warning)
    if new:
        isec, iusec, vsec, vusec = ITIMERVAL.unpack(copy_from_user(task, new, ITIMERVAL.size))
        try:
            interval, value = timeval_to_ktime(isec, iusec), timeval_to_ktime(vsec, vusec)
        except InvalidTime:
            return -errno.EINVAL
    process = task.process
    if which == ITIMER_REAL:
        previous = _real_itimer(task)
        process.alarm_interval_ns = interval if value else 0  # do_setitimer: disarmed, no period
        task.coffer.scheduler.arm_alarm(
            process, ktime_add_safe(task.coffer.monotonic_ns(), value) if value else None)
    elif which in CPU_ITIMERS:
        previous = set_cpu_itimer(process, which, _cpu_now(task, which), interval, value)
    else:
        return -errno.EINVAL
    if old:
        copy_to_user(task, old, ITIMERVAL.pack(*ns_to_timeval(previous[0]),
                                               *ns_to_timeval(previous[1])))
    return 0


def register(table: SyscallTable) -> None:
    table.add("rt_sigaction", sys_rt_sigaction, "signal", "ptr", "ptr", "size")
    table.add("rt_sigprocmask", sys_rt_sigprocmask, "int", "ptr", "ptr", "size")
    table.add("rt_sigreturn", sys_rt_sigreturn)
    table.add("sigaltstack", sys_sigaltstack, "ptr", "ptr")
    table.add("rt_sigpending", sys_rt_sigpending, "ptr", "size")
    table.add("pause", sys_pause)
    table.add("rt_sigsuspend", sys_rt_sigsuspend, "ptr", "size")
    table.add("rt_sigtimedwait", sys_rt_sigtimedwait, "ptr", "ptr", "ptr", "size")
    table.add("kill", sys_kill, "int", "signal")
    table.add("tgkill", sys_tgkill, "int", "int", "signal")
    table.add("tkill", sys_tkill, "int", "signal")
    table.add("alarm", sys_alarm, "uint")
    table.add("getitimer", sys_getitimer, "int", "ptr")
    table.add("setitimer", sys_setitimer, "int", "ptr", "ptr")
