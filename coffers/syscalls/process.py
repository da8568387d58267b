"""Process identity and per-process settings (kernel/sys.c, arch/x86/kernel/process_64.c).

getpid and friends, uname, arch_prctl (the FS/GS base registers threads use for
TLS), set_tid_address, set_robust_list, rseq, resource limits and getrandom.
Everything answered here comes from the task or its coffer: the PIDs are the
coffer's own numbering, the node name is the coffer's, randomness is the
coffer's seeded generator.
"""

from __future__ import annotations

import errno
import resource
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user, put_u64, signed

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


def sys_getpid(task: Task) -> int:
    return task.tgid


def sys_gettid(task: Task) -> int:
    return task.pid


def sys_getppid(task: Task) -> int:
    return task.ppid


def sys_getuid(task: Task) -> int:
    return task.creds.uid


def sys_geteuid(task: Task) -> int:
    return task.creds.euid


def sys_getgid(task: Task) -> int:
    return task.creds.gid


def sys_getegid(task: Task) -> int:
    return task.creds.egid


def sys_uname(task: Task, buf: int) -> int:
    fields = (UTS_SYSNAME, task.coffer.config.hostname, UTS_RELEASE, UTS_VERSION,
              UTS_MACHINE, UTS_DOMAINNAME)
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
    return task.pid


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
    if pid not in (0, task.tgid):
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
        limits[which] = (soft, hard)
        if which == resource.RLIMIT_NOFILE:
            task.files.limit = soft
    return 0


def sys_getrlimit(task: Task, which: int, rlim: int) -> int:
    return sys_prlimit64(task, 0, which, 0, rlim)


def sys_setrlimit(task: Task, which: int, rlim: int) -> int:
    return sys_prlimit64(task, 0, which, rlim, 0)


def sys_sched_yield(task: Task) -> int:
    task.cpu.stop()  # end the slice: the next runnable task goes first
    return 0


# -- process groups and sessions (kernel/sys.c) ------------------------------------------
def _process(task: Task, pid: int) -> Process | None:
    pid = signed(pid, 32)
    if pid == 0:
        return task.process
    process = task.coffer.processes.get(pid)
    return None if process is None or process.zombie and pid != task.tgid else process


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
    new = pgid or target.tgid
    if new != target.tgid and not any(p.pgid == new and p.sid == task.process.sid
                                      for p in task.coffer.processes.values()):
        return -errno.EPERM
    target.pgid = new
    return 0


def sys_getpgid(task: Task, pid: int) -> int:
    target = _process(task, pid)
    return -errno.ESRCH if target is None else target.pgid


def sys_getpgrp(task: Task) -> int:
    return task.process.pgid


def sys_setsid(task: Task) -> int:
    process = task.process
    if any(p.pgid == process.tgid for p in task.coffer.processes.values()):
        return -errno.EPERM  # already a group leader
    process.sid = process.pgid = process.tgid
    return process.sid


def sys_getsid(task: Task, pid: int) -> int:
    target = _process(task, pid)
    return -errno.ESRCH if target is None else target.sid


def register(table: SyscallTable) -> None:
    table.add("getpid", sys_getpid)
    table.add("gettid", sys_gettid)
    table.add("getppid", sys_getppid)
    table.add("getuid", sys_getuid)
    table.add("geteuid", sys_geteuid)
    table.add("getgid", sys_getgid)
    table.add("getegid", sys_getegid)
    table.add("uname", sys_uname, "ptr")
    table.add("arch_prctl", sys_arch_prctl, "hex", "hex")
    table.add("set_tid_address", sys_set_tid_address, "ptr")
    table.add("set_robust_list", sys_set_robust_list, "ptr", "size")
    table.add("rseq", sys_rseq, "ptr", "size", "hex", "hex")
    table.add("getrandom", sys_getrandom, "ptr", "size", "hex")
    table.add("prlimit64", sys_prlimit64, "int", "int", "ptr", "ptr")
    table.add("getrlimit", sys_getrlimit, "int", "ptr")
    table.add("setrlimit", sys_setrlimit, "int", "ptr")
    table.add("sched_yield", sys_sched_yield)
    table.add("setpgid", sys_setpgid, "int", "int")
    table.add("getpgid", sys_getpgid, "int")
    table.add("getpgrp", sys_getpgrp)
    table.add("setsid", sys_setsid)
    table.add("getsid", sys_getsid, "int")



