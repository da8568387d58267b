"""The scheduler's system calls (kernel/sched/syscalls.c): policy, priority, affinity, yield.

A coffer's tasks run on one simulated CPU (see :mod:`cofferos.coffers.sched`), so
the affinity mask is the single bit of CPU 0: it can be read, and set to any mask
that contains CPU 0 (EINVAL otherwise, as for a mask of offline CPUs). Policies
and static priorities are validated and remembered per task, as Linux does, but
the coffer's round-robin scheduler does not act on them. ``pid`` 0 means the
caller; any other pid is a thread id of the coffer. sched_rr_get_interval answers
from the policy as Linux's scheduling classes do, for one CPU.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_NICE
from cofferos.coffers.itimers import HZ
from cofferos.coffers.ktime import pack_timespec
from cofferos.coffers.pid_ns import find_vpid
from cofferos.coffers.syscalls.cred import capable_initial
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user, signed
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

# include/uapi/linux/sched.h
SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 2, 3, 5, 6
SCHED_RESET_ON_FORK = 0x40000000
RT_POLICIES = frozenset({SCHED_FIFO, SCHED_RR})
#: Policies sched_setscheduler accepts (SCHED_DEADLINE needs sched_setattr).
SETSCHEDULER_POLICIES = frozenset({SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE})
MAX_RT_PRIO = 100  #: real-time priorities are 1 .. 99
SCHED_PARAM = struct.Struct("<i")  # struct sched_param: sched_priority
NS_PER_SECOND = 1_000_000_000
#: SCHED_RR's slice in jiffies: RR_TIMESLICE, 100 ms (include/linux/sched/rt.h).
RR_TIMESLICE_JIFFIES = 100 * HZ // 1000
#: The fair class's latency period on one CPU: sysctl_sched_latency, 6 ms scaled by
#: 1 + ilog2(CPUs) (kernel/sched/fair.c); a lone runnable task gets all of it.
FAIR_SLICE_NS = 6_000_000

NR_CPU_IDS = 1  #: one simulated CPU
BITS_PER_BYTE = 8
#: cpumask_size(): the mask in whole unsigned longs.
CPUMASK_SIZE = 8
CPU0_MASK = (1).to_bytes(CPUMASK_SIZE, "little")


def find_process_by_pid(task: Task, pid: int) -> Task | None:
    """The caller for 0, else the live thread with that id (None: ESRCH)."""
    if pid == 0:
        return task
    found = find_vpid(task, pid)  # (the caller's PID namespace's number)
    target = None if found is None else task.coffer.tasks.get(found)
    return target if target is not None and target.alive else None


def sys_sched_yield(task: Task) -> int:
    task.cpu.stop()  # end the slice: the next runnable task goes first
    return 0


def sys_sched_getaffinity(task: Task, pid: int, length: int, mask: int) -> int:
    length = length & 0xFFFF_FFFF
    if length * BITS_PER_BYTE < NR_CPU_IDS or length % CPUMASK_SIZE:
        return -errno.EINVAL
    if find_process_by_pid(task, signed(pid, 32)) is None:
        return -errno.ESRCH
    size = min(length, CPUMASK_SIZE)
    copy_to_user(task, mask, CPU0_MASK[:size])
    return size


def sys_sched_setaffinity(task: Task, pid: int, length: int, mask: int) -> int:
    length = length & 0xFFFF_FFFF
    raw = copy_from_user(task, mask, CPUMASK_SIZE) if length >= CPUMASK_SIZE else b""
    target = find_process_by_pid(task, signed(pid, 32))
    if target is None:
        return -errno.ESRCH
    if target.creds.euid != task.creds.euid and target.creds.uid != task.creds.euid \
            and not ns_capable(task.creds, target.creds.userns, CAP_SYS_NICE):
        return -errno.EPERM
    if not raw or not raw[0] & 1:
        return -errno.EINVAL  # no allowed CPU left in the mask
    return 0


def sys_sched_getscheduler(task: Task, pid: int) -> int:
    pid = signed(pid, 32)
    if pid < 0:
        return -errno.EINVAL
    target = find_process_by_pid(task, pid)
    return -errno.ESRCH if target is None else target.policy


def sys_sched_getparam(task: Task, pid: int, param: int) -> int:
    pid = signed(pid, 32)
    if not param or pid < 0:
        return -errno.EINVAL
    target = find_process_by_pid(task, pid)
    if target is None:
        return -errno.ESRCH
    copy_to_user(task, param, SCHED_PARAM.pack(target.rt_priority))
    return 0


def _setscheduler(task: Task, pid: int, policy: int | None, param: int) -> int:
    pid = signed(pid, 32)
    if not param or pid < 0:
        return -errno.EINVAL
    (priority,) = SCHED_PARAM.unpack(copy_from_user(task, param, SCHED_PARAM.size))
    target = find_process_by_pid(task, pid)
    if target is None:
        return -errno.ESRCH
    if policy is None:  # sched_setparam: keep the policy
        policy = target.policy
    policy &= ~SCHED_RESET_ON_FORK
    if policy not in SETSCHEDULER_POLICIES:
        return -errno.EINVAL
    if priority < 0 or priority >= MAX_RT_PRIO or (policy in RT_POLICIES) != (priority != 0):
        return -errno.EINVAL
    if not capable_initial(task, CAP_SYS_NICE) and (
            policy in RT_POLICIES or target.creds.uid != task.creds.euid
            and target.creds.euid != task.creds.euid):
        return -errno.EPERM
    target.policy, target.rt_priority = policy, priority
    return 0


def sys_sched_setscheduler(task: Task, pid: int, policy: int, param: int) -> int:
    policy = signed(policy, 32)
    if policy < 0:
        return -errno.EINVAL
    return _setscheduler(task, pid, policy, param)


def sys_sched_setparam(task: Task, pid: int, param: int) -> int:
    return _setscheduler(task, pid, None, param)


def _rr_interval_jiffies(target: Task) -> int:
    """The class's get_rr_interval: SCHED_RR's round-robin slice, 0 for SCHED_FIFO
    and SCHED_DEADLINE, and for the fair classes the slice of a runnable task on the
    coffer's one CPU (Linux 6.1's sched_slice: the whole latency period)."""
    if target.policy == SCHED_RR:
        return RR_TIMESLICE_JIFFIES
    if target.policy in (SCHED_FIFO, SCHED_DEADLINE):
        return 0
    return FAIR_SLICE_NS * HZ // NS_PER_SECOND  # NS_TO_JIFFIES rounds down


def sys_sched_rr_get_interval(task: Task, pid: int, interval: int) -> int:
    pid = signed(pid, 32)
    if pid < 0:
        return -errno.EINVAL
    target = find_process_by_pid(task, pid)
    if target is None:
        return -errno.ESRCH
    copy_to_user(task, interval, pack_timespec(
        _rr_interval_jiffies(target) * NS_PER_SECOND // HZ))  # jiffies_to_timespec64
    return 0


def sys_sched_get_priority_max(task: Task, policy: int) -> int:
    policy = signed(policy, 32)
    if policy in RT_POLICIES:
        return MAX_RT_PRIO - 1
    return 0 if policy in (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE) \
        else -errno.EINVAL


def sys_sched_get_priority_min(task: Task, policy: int) -> int:
    policy = signed(policy, 32)
    if policy in RT_POLICIES:
        return 1
    return 0 if policy in (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE) \
        else -errno.EINVAL


def register(table: SyscallTable) -> None:
    table.add("sched_yield", sys_sched_yield)
    table.add("sched_getaffinity", sys_sched_getaffinity, "int", "size", "ptr")
    table.add("sched_setaffinity", sys_sched_setaffinity, "int", "size", "ptr")
    table.add("sched_getscheduler", sys_sched_getscheduler, "int")
    table.add("sched_setscheduler", sys_sched_setscheduler, "int", "int", "ptr")
    table.add("sched_getparam", sys_sched_getparam, "int", "ptr")
    table.add("sched_setparam", sys_sched_setparam, "int", "ptr")
    table.add("sched_get_priority_max", sys_sched_get_priority_max, "int")
    table.add("sched_get_priority_min", sys_sched_get_priority_min, "int")
    table.add("sched_rr_get_interval", sys_sched_rr_get_interval, "int", "ptr")
