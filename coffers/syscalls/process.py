"""Process identity and per-process settings (kernel/sys.c, arch/x86/kernel/process_64.c).

getpid and friends, uname, arch_prctl (the FS/GS base registers threads use for
TLS), set_tid_address, set_robust_list, rseq, resource limits, getrandom,
process groups and sessions, nice values (getpriority, setpriority), getcpu and
prctl. The user and group ids are in :mod:`.cred`, the scheduler's calls in
:mod:`.sched`, getrusage, times and sysinfo in :mod:`.rusage`.
Everything answered here comes from the task or its coffer: the PIDs are the
coffer's own numbering, the node name is the coffer's, randomness is the
coffer's seeded generator.
"""

from __future__ import annotations

import errno
import resource
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_NICE, CAP_SYS_RESOURCE
from cofferos.coffers.files import NR_OPEN
from cofferos.coffers.fs import FsError
from cofferos.coffers.pid_ns import find_vpid, pid_vnr, ppid_vnr
from cofferos.coffers.syscalls.capability import cap_task_prctl
from cofferos.coffers.syscalls.cred import capable_initial
from cofferos.coffers.syscalls.nsproxy import uts_of
from cofferos.coffers.syscalls.uaccess import (
    copy_from_user,
    copy_to_user,
    put_i32,
    put_u64,
    read_user,
    signed,
    strncpy_from_user,
)
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Process, Task

# arch/x86/include/uapi/asm/prctl.h
ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
USER_ADDRESS_LIMIT = 1 << 47  # FS/GS bases must be canonical user addresses

UTSNAME_FIELD = 65  # __NEW_UTS_LEN + 1
UTS_SYSNAME = "Linux"
UTS_RELEASE = "6.1.0-cofferos"
UTS_VERSION = "#1 SMP PREEMPT_DYNAMIC CofferOS"
UTS_MACHINE = "x86_64"
UTS_DOMAINNAME = "(none)"

# struct rseq (include/uapi/linux/rseq.h): cpu_id_start u32, cpu_id u32, rseq_cs u64, flags u32
RSEQ_MIN_LEN = 32
RSEQ_FLAG_UNREGISTER = 1
RSEQ_CPU_IDS = struct.Struct("<II")
RSEQ_CPU_ID_UNINITIALIZED = 0xFFFFFFFF  # written back when unregistering
CURRENT_CPU = 0

ROBUST_LIST_HEAD_LEN = 24  # struct robust_list_head: list, futex_offset, list_op_pending

GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE = 0x1, 0x2, 0x4
GETRANDOM_MAX = 33_554_431  # Linux caps one call at INT_MAX >> 6 bytes

RLIM_INFINITY = (1 << 64) - 1
RLIMIT = struct.Struct("<QQ")  # struct rlimit64: rlim_cur, rlim_max
RLIM_NLIMITS = 16

# getpriority/setpriority (include/uapi/linux/resource.h, include/linux/sched/prio.h)
PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2
MIN_NICE, MAX_NICE = -20, 19
RLIMIT_NICE = 13

# prctl options (include/uapi/linux/prctl.h)
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG = 1, 2
PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4
PR_SET_NAME, PR_GET_NAME = 15, 16
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
SUID_DUMP_DISABLE, SUID_DUMP_USER = 0, 1
TASK_COMM_LEN = 16  #: comm is 15 characters and a NUL
MAX_SIGNAL = 64  #: _NSIG: valid_signal()


def sys_getpid(task: Task) -> int:
    if task.process.pid_ns is None:
        return task.tgid
    return pid_vnr(task, task.tgid)


def sys_gettid(task: Task) -> int:
    if task.process.pid_ns is None:
        return task.pid
    return pid_vnr(task, task.pid)


def sys_getppid(task: Task) -> int:
    if task.process.pid_ns is None:
        return task.ppid
    return ppid_vnr(task)


def sys_uname(task: Task, buf: int) -> int:
    uts = uts_of(task)
    fields = (UTS_SYSNAME, uts.hostname, UTS_RELEASE, UTS_VERSION, UTS_MACHINE,
              uts.domainname)
    raw = b"".join(f.encode()[: UTSNAME_FIELD - 1].ljust(UTSNAME_FIELD, b"\0") for f in fields)
    copy_to_user(task, buf, raw)
    return 0


def sys_arch_prctl(task: Task, code: int, addr: int) -> int:
    if code in (ARCH_SET_FS, ARCH_SET_GS):
        if addr >= USER_ADDRESS_LIMIT:
            return -errno.EPERM
        if code == ARCH_SET_FS:
            task.cpu.fs_base = addr
        else:
            task.cpu.gs_base = addr
        return 0
    if code in (ARCH_GET_FS, ARCH_GET_GS):
        put_u64(task, addr, task.cpu.fs_base if code == ARCH_GET_FS else task.cpu.gs_base)
        return 0
    return -errno.EINVAL


def sys_set_tid_address(task: Task, tidptr: int) -> int:
    task.clear_child_tid = tidptr
    return pid_vnr(task, task.pid)


def sys_set_robust_list(task: Task, head: int, length: int) -> int:
    if length != ROBUST_LIST_HEAD_LEN:
        return -errno.EINVAL
    task.robust_list = head
    return 0


def sys_rseq(task: Task, rseq: int, length: int, flags: int, _sig: int) -> int:
    """Register the thread's rseq area; with one simulated CPU its cpu id is always 0."""
    if flags & RSEQ_FLAG_UNREGISTER:
        if task.rseq_area != rseq:
            return -errno.EINVAL
        copy_to_user(task, rseq, RSEQ_CPU_IDS.pack(RSEQ_CPU_ID_UNINITIALIZED,
                                                   RSEQ_CPU_ID_UNINITIALIZED))
        task.rseq_area = 0
        return 0
    if flags or length < RSEQ_MIN_LEN or rseq % RSEQ_MIN_LEN:
        return -errno.EINVAL
    if task.rseq_area:
        return -errno.EBUSY if task.rseq_area == rseq else -errno.EINVAL
    copy_to_user(task, rseq, RSEQ_CPU_IDS.pack(CURRENT_CPU, CURRENT_CPU))
    task.rseq_area = rseq
    return 0


def sys_getrandom(task: Task, buf: int, count: int, flags: int) -> int:
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) or (
            flags & GRND_INSECURE and flags & GRND_RANDOM):
        return -errno.EINVAL
    count = min(count, GETRANDOM_MAX)
    copy_to_user(task, buf, task.coffer.random_bytes(count))
    return count


def sys_prlimit64(task: Task, pid: int, which: int, new: int, old: int) -> int:
    pid = signed(pid, 32)
    if pid not in (0, pid_vnr(task, task.tgid)):
        return -errno.ESRCH
    if which >= RLIM_NLIMITS:
        return -errno.EINVAL
    limits = task.rlimits
    if old:
        copy_to_user(task, old, RLIMIT.pack(*limits.get(which, (RLIM_INFINITY, RLIM_INFINITY))))
    if new:
        soft, hard = RLIMIT.unpack(copy_from_user(task, new, RLIMIT.size))
        if soft > hard:
            return -errno.EINVAL
        if which == resource.RLIMIT_NOFILE and hard > NR_OPEN:
            return -errno.EPERM  # do_prlimit: no table may grow past fs.nr_open
        if hard > limits.get(which, (RLIM_INFINITY, RLIM_INFINITY))[1] and \
                not capable_initial(task, CAP_SYS_RESOURCE):
            return -errno.EPERM  # do_prlimit: raising a hard limit
        limits[which] = (soft, hard)
        if which == resource.RLIMIT_NOFILE:
            task.files.limit = soft
    return 0


def sys_getrlimit(task: Task, which: int, rlim: int) -> int:
    return sys_prlimit64(task, 0, which, 0, rlim)


def sys_setrlimit(task: Task, which: int, rlim: int) -> int:
    return sys_prlimit64(task, 0, which, rlim, 0)


# -- process groups and sessions (kernel/sys.c) ------------------------------------------
def _process(task: Task, pid: int) -> Process | None:
    pid = signed(pid, 32)
    if pid == 0:
        return task.process
    found = find_vpid(task, pid)
    process = None if found is None else task.coffer.processes.get(found)
    return None if process is None or process.zombie and found != task.tgid else process


def sys_setpgid(task: Task, pid: int, pgid: int) -> int:
    pgid = signed(pgid, 32)
    if pgid < 0:
        return -errno.EINVAL
    target = _process(task, pid)
    if target is None or (target is not task.process and target.parent is not task.process):
        return -errno.ESRCH
    if target.sid != task.process.sid:
        return -errno.EPERM
    if target.tgid == target.sid:
        return -errno.EPERM  # a session leader cannot move
    new = target.tgid if pgid == 0 else find_vpid(task, pgid)
    if new is None:
        return -errno.EPERM  # no process group of that number in the namespace
    if new != target.tgid and not any(p.pgid == new and p.sid == task.process.sid
                                      for p in task.coffer.processes.values()):
        return -errno.EPERM
    target.pgid = new
    return 0


def sys_getpgid(task: Task, pid: int) -> int:
    target = _process(task, pid)
    return -errno.ESRCH if target is None else pid_vnr(task, target.pgid)


def sys_getpgrp(task: Task) -> int:
    return pid_vnr(task, task.process.pgid)


def sys_setsid(task: Task) -> int:
    process = task.process
    if any(p.pgid == process.tgid for p in task.coffer.processes.values()):
        return -errno.EPERM  # already a group leader
    process.sid = process.pgid = process.tgid
    return pid_vnr(task, process.sid)


def sys_getsid(task: Task, pid: int) -> int:
    target = _process(task, pid)
    return -errno.ESRCH if target is None else pid_vnr(task, target.sid)


# -- nice values (kernel/sys.c) ---------------------------------------------------------
def _prio_targets(task: Task, which: int, who: int) -> list[Process]:
    """The processes getpriority/setpriority act on; [] if none matches."""
    coffer = task.coffer
    live = [p for p in coffer.processes.values() if not p.zombie]
    if which == PRIO_PROCESS:
        if who == 0:
            return [task.process]
        found = find_vpid(task, who)
        target = None if found is None else coffer.tasks.get(found)
        return [target.process] if target is not None and target.alive else []
    if which == PRIO_PGRP:
        pgid = who or task.process.pgid
        return [p for p in live if p.pgid == pgid]
    uid = who or task.creds.uid
    return [p for p in live if p.creds.uid == uid]


def sys_getpriority(task: Task, which: int, who: int) -> int:
    which, who = signed(which, 32), signed(who, 32)
    if which not in (PRIO_PROCESS, PRIO_PGRP, PRIO_USER):
        return -errno.EINVAL
    targets = _prio_targets(task, which, who)
    if not targets:
        return -errno.ESRCH
    return max(MAX_NICE + 1 - p.nice for p in targets)  # nice_to_rlimit: 1 .. 40


def sys_setpriority(task: Task, which: int, who: int, niceval: int) -> int:
    which, who = signed(which, 32), signed(who, 32)
    if which not in (PRIO_PROCESS, PRIO_PGRP, PRIO_USER):
        return -errno.EINVAL
    nice = min(max(signed(niceval, 32), MIN_NICE), MAX_NICE)
    result = -errno.ESRCH
    privileged = capable_initial(task, CAP_SYS_NICE)  # can_nice
    for process in _prio_targets(task, which, who):  # set_one_prio
        if task.creds.euid not in (process.creds.uid, process.creds.euid) and not \
                ns_capable(task.creds, process.creds.userns, CAP_SYS_NICE):
            result = -errno.EPERM
            continue
        soft_limit = process.rlimits.get(RLIMIT_NICE, (0, 0))[0]
        if nice < process.nice and MAX_NICE + 1 - nice > soft_limit and not privileged:
            result = -errno.EACCES
            continue
        process.nice = nice
        if result == -errno.ESRCH:
            result = 0
    return result


def sys_getcpu(task: Task, cpu: int, node: int, _cache: int) -> int:
    for address in (cpu, node):
        if address:
            put_i32(task, address, CURRENT_CPU)  # one CPU, one NUMA node
    return 0


# -- prctl (kernel/sys.c) ------------------------------------------------------------------
def _comm_from_user(task: Task, address: int) -> bytes:
    """Up to 15 bytes of a name, cut at its NUL (strncpy_from_user into comm)."""
    try:
        return strncpy_from_user(task, address, TASK_COMM_LEN)[: TASK_COMM_LEN - 1]
    except FsError:  # no NUL within the first 16 bytes: keep 15 of them
        return read_user(task, address, TASK_COMM_LEN - 1)


def sys_prctl(task: Task, option: int, arg2: int, arg3: int, arg4: int, arg5: int) -> int:
    option = signed(option, 32)
    process = task.process
    if option == PR_SET_PDEATHSIG:
        if arg2 > MAX_SIGNAL:
            return -errno.EINVAL
        task.pdeath_signal = arg2
        return 0
    if option == PR_GET_PDEATHSIG:
        put_i32(task, arg2, task.pdeath_signal)
        return 0
    if option == PR_GET_DUMPABLE:
        return process.dumpable
    if option == PR_SET_DUMPABLE:
        if arg2 not in (SUID_DUMP_DISABLE, SUID_DUMP_USER):
            return -errno.EINVAL
        process.dumpable = arg2
        return 0
    if option == PR_SET_NAME:
        process.comm = _comm_from_user(task, arg2).decode("utf-8", "surrogateescape")
        return 0
    if option == PR_GET_NAME:
        comm = process.comm.encode("utf-8", "surrogateescape")[: TASK_COMM_LEN - 1]
        copy_to_user(task, arg2, comm.ljust(TASK_COMM_LEN, b"\0"))
        return 0
    if option == PR_SET_NO_NEW_PRIVS:
        if arg2 != 1 or arg3 or arg4 or arg5:
            return -errno.EINVAL
        process.no_new_privs = True
        return 0
    if option == PR_GET_NO_NEW_PRIVS:
        if arg2 or arg3 or arg4 or arg5:
            return -errno.EINVAL
        return int(process.no_new_privs)
    answer = cap_task_prctl(task, option, arg2)  # the security module's options
    if answer is not None:
        return answer
    return -errno.EINVAL  # seccomp, timers slack ...: not modelled


def register(table: SyscallTable) -> None:
    table.add("getpid", sys_getpid)
    table.add("gettid", sys_gettid)
    table.add("getppid", sys_getppid)
    table.add("uname", sys_uname, "ptr")
    table.add("arch_prctl", sys_arch_prctl, "hex", "hex")
    table.add("set_tid_address", sys_set_tid_address, "ptr")
    table.add("set_robust_list", sys_set_robust_list, "ptr", "size")
    table.add("rseq", sys_rseq, "ptr", "size", "hex", "hex")
    table.add("getrandom", sys_getrandom, "ptr", "size", "hex")
    table.add("prlimit64", sys_prlimit64, "int", "int", "ptr", "ptr")
    table.add("getrlimit", sys_getrlimit, "int", "ptr")
    table.add("setrlimit", sys_setrlimit, "int", "ptr")
    table.add("setpgid", sys_setpgid, "int", "int")
    table.add("getpgid", sys_getpgid, "int")
    table.add("getpgrp", sys_getpgrp)
    table.add("setsid", sys_setsid)
    table.add("getsid", sys_getsid, "int")
    table.add("getpriority", sys_getpriority, "int", "int")
    table.add("setpriority", sys_setpriority, "int", "int", "int")
    table.add("getcpu", sys_getcpu, "ptr", "ptr", "ptr")
    table.add("prctl", sys_prctl, "int", "hex", "hex", "hex", "hex")
