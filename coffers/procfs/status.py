"""/proc/PID/status, stat and statm: a task's identity, state, memory and times.

The formats are Linux's (fs/proc/array.c, task_mmu.c). Memory figures come
from the task's VMAs; the simulator maps whole areas eagerly and does not track
which pages were touched, so every mapped page counts as resident (VmRSS is
VmSize) and the peak is the current size. Times are the task's own cycles at
the coffer's clock frequency, in clock ticks of ``USER_HZ``.
"""

from __future__ import annotations

import resource
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.mm import PAGE_SIZE
from cofferos.coffers.pid_ns import nr_in, ns_numbers
from cofferos.coffers.procfs import taskinfo
from cofferos.coffers.userns import GID_MAP, UID_MAP, from_kid_munged

if TYPE_CHECKING:
    from cofferos.coffers.procfs.tree import ProcFs
    from cofferos.coffers.task import Task

KIB = 1024
USER_HZ = 100
"""Clock ticks per second of the times in /proc (sysconf(_SC_CLK_TCK))."""
NS_PER_SECOND = 1_000_000_000
PROT_WRITE, PROT_EXEC = 0x2, 0x4
STACK_NAME, HEAP_NAME = "[stack]", "[heap]"
PTE_BYTES = 8
"""One page table entry per mapped page (VmPTE)."""
DEFAULT_PRIORITY = 20
"""stat's priority field: static priority 120 less MAX_RT_PRIO, for nice 0."""
NO_TTY_PGRP = -1
"""tpgid when there is no controlling terminal."""
CAP_LAST_CAP = 40
ALL_CAPS = (1 << (CAP_LAST_CAP + 1)) - 1
FD_TABLE_GRANULE = 64
"""FDSize: the descriptor table grows in steps of BITS_PER_LONG."""
STATE_NAMES = {"R": "running", "S": "sleeping", "D": "disk sleep", "T": "stopped",
               "t": "tracing stop", "X": "dead", "Z": "zombie", "P": "parked", "I": "idle"}
ONLINE_CPUS = 1
"""Simulated cores each coffer's tasks may run on."""


@dataclass(frozen=True)
class MemoryUse:
    """A task's mapped memory in bytes, sorted by kind of area."""

    size: int = 0
    anon: int = 0
    file: int = 0
    data: int = 0
    stack: int = 0
    text: int = 0

    @property
    def rss(self) -> int:
        return self.size  # every mapped page counts as resident (see module docstring)


def memory_use(task: Task) -> MemoryUse:
    mm = getattr(task, "mm", None)
    if mm is None or taskinfo.state(task) == taskinfo.ZOMBIE:
        return MemoryUse()
    size = anon = file = data = stack = text = 0
    for vma in mm.vmas:
        length = vma.end - vma.start
        size += length
        named_file = vma.name.startswith("/")
        if named_file:
            file += length
        else:
            anon += length
        if vma.name == STACK_NAME:
            stack += length
        elif vma.prot & PROT_WRITE:
            data += length
        if named_file and vma.prot & PROT_EXEC:
            text += length
    return MemoryUse(size, anon, file, data, stack, text)


def _ticks(cycles: int, frequency_hz: int) -> int:
    return cycles * USER_HZ // frequency_hz


def _kb(value: int) -> str:
    return f"{value // KIB:8d} kB"


def _mask(value: int) -> str:
    return f"{value:016x}"


def status(procfs: ProcFs, task: Task) -> str:
    """/proc/PID/status."""
    coffer = procfs.coffer
    state = taskinfo.state(task)
    ids = taskinfo.ids(task)
    tgid = taskinfo.tgid(task)
    fds = taskinfo.fds(task)
    fd_size = -(-(max(fds, default=0) + 1) // FD_TABLE_GRANULE) * FD_TABLE_GRANULE
    umask = getattr(getattr(task, "fs", None), "umask", 0)
    pid_ns = getattr(taskinfo.process_of(task), "pid_ns", None)
    proc_ns = getattr(procfs, "ns", None)  # a nested PID namespace's own proc's
    level = 0 if proc_ns is None else proc_ns.level
    reader = taskinfo.current(coffer)
    reader_ns = reader.creds.userns if reader is not None else None

    def seen(which: str, kid: int) -> int:  # the ids as the reader's user namespace sees them
        return from_kid_munged(reader_ns, which, kid)

    lines = [
        f"Name:\t{taskinfo.comm(task)}",
        f"Umask:\t{umask:04o}",
        f"State:\t{state} ({STATE_NAMES.get(state, 'unknown')})",
        f"Tgid:\t{nr_in(proc_ns, tgid)}",
        "Ngid:\t0",
        f"Pid:\t{nr_in(proc_ns, task.pid)}",
        f"PPid:\t{nr_in(proc_ns, taskinfo.ppid(task))}",
        "TracerPid:\t0",
        "Uid:\t" + "\t".join(str(seen(UID_MAP, i)) for i in ids.uid),
        "Gid:\t" + "\t".join(str(seen(GID_MAP, i)) for i in ids.gid),
        f"FDSize:\t{fd_size}",
        # task_state: the groups apart by spaces, then always a trailing space
        "Groups:\t" + " ".join(str(seen(GID_MAP, g)) for g in ids.groups) + " ",
        # one number per PID namespace level, from this proc's down
        *(f"{name}:\t" + "\t".join(map(str, ns_numbers(pid_ns, nr)[level:]))
          for name, nr in (("NStgid", tgid), ("NSpid", task.pid),
                           ("NSpgid", taskinfo.pgid(task)), ("NSsid", taskinfo.sid(task)))),
    ]
    if state != taskinfo.ZOMBIE:
        mem = memory_use(task)
        pte = mem.size // PAGE_SIZE * PTE_BYTES
        lines += [f"{name}:\t{_kb(value)}" for name, value in (
            ("VmPeak", mem.size), ("VmSize", mem.size), ("VmLck", 0), ("VmPin", 0),
            ("VmHWM", mem.rss), ("VmRSS", mem.rss), ("RssAnon", mem.anon),
            ("RssFile", mem.file), ("RssShmem", 0), ("VmData", mem.data),
            ("VmStk", mem.stack), ("VmExe", mem.text), ("VmLib", 0), ("VmPTE", pte),
            ("VmSwap", 0))]
    masks = taskinfo.signal_masks(task)
    creds = getattr(task, "creds", None)  # the capability sets (capability.py)
    default = ALL_CAPS if ids.uid[1] == 0 else 0

    def cap_set(name: str, fallback: int) -> str:
        return _mask(int(getattr(creds, name, fallback)))
    # Linux sizes RLIMIT_SIGPENDING like RLIMIT_NPROC, from max_threads at boot.
    sigpending = taskinfo.rlimit(task, resource.RLIMIT_NPROC)[0]
    lines += [
        f"Threads:\t{len(taskinfo.threads(coffer, task)) or 1}",
        f"SigQ:\t{bin(masks.pending | masks.shared_pending).count('1')}/{sigpending}",
        f"SigPnd:\t{_mask(masks.pending)}",
        f"ShdPnd:\t{_mask(masks.shared_pending)}",
        f"SigBlk:\t{_mask(masks.blocked)}",
        f"SigIgn:\t{_mask(masks.ignored)}",
        f"SigCgt:\t{_mask(masks.caught)}",
        f"CapInh:\t{cap_set('cap_inheritable', 0)}",
        f"CapPrm:\t{cap_set('cap_permitted', default)}",
        f"CapEff:\t{cap_set('cap_effective', default)}",
        f"CapBnd:\t{cap_set('cap_bset', ALL_CAPS)}",
        f"CapAmb:\t{_mask(0)}",
        "NoNewPrivs:\t0",
        "Seccomp:\t0",
        "Seccomp_filters:\t0",
        f"Cpus_allowed:\t{(1 << ONLINE_CPUS) - 1:x}",
        f"Cpus_allowed_list:\t0-{ONLINE_CPUS - 1}" if ONLINE_CPUS > 1 else
        "Cpus_allowed_list:\t0",
        "Mems_allowed:\t1",
        "Mems_allowed_list:\t0",
        "voluntary_ctxt_switches:\t0",
        "nonvoluntary_ctxt_switches:\t0",
    ]
    return "\n".join(lines) + "\n"


def stat(procfs: ProcFs, task: Task) -> str:
    """/proc/PID/stat: the 52 fields of do_task_stat, in order."""
    coffer = procfs.coffer
    frequency = coffer.config.kernel_costs.frequency_hz
    mem = memory_use(task)
    mm = getattr(task, "mm", None)
    exe_vmas = [v for v in getattr(mm, "vmas", []) if v.name.startswith("/") and v.prot & PROT_EXEC]
    stack_vmas = [v for v in getattr(mm, "vmas", []) if v.name == STACK_NAME]
    zombie = taskinfo.state(task) == taskinfo.ZOMBIE
    masks = taskinfo.signal_masks(task)
    rss_limit = taskinfo.rlimit(task, resource.RLIMIT_RSS)[0]
    proc_ns = getattr(procfs, "ns", None)  # a nested PID namespace's own proc's
    fields: list[object] = [
        nr_in(proc_ns, task.pid),
        f"({taskinfo.comm(task)})",
        taskinfo.state(task),
        nr_in(proc_ns, taskinfo.ppid(task)),
        nr_in(proc_ns, taskinfo.pgid(task)),
        nr_in(proc_ns, taskinfo.sid(task)),
        0,  # tty_nr: no controlling terminal
        NO_TTY_PGRP,
        0,  # flags
        0, 0, 0, 0,  # minflt cminflt majflt cmajflt
        _ticks(taskinfo.user_cycles(task), frequency),
        _ticks(taskinfo.kernel_cycles(task), frequency),
        0, 0,  # cutime cstime
        DEFAULT_PRIORITY,
        0,  # nice
        len(taskinfo.threads(coffer, task)) or 1,
        0,  # itrealvalue
        taskinfo.start_ns(task) * USER_HZ // NS_PER_SECOND,
        mem.size,
        mem.rss // PAGE_SIZE,
        rss_limit,
        0 if zombie or not exe_vmas else exe_vmas[0].start,
        0 if zombie or not exe_vmas else exe_vmas[-1].end,
        0 if zombie or not stack_vmas else stack_vmas[-1].end,
        0, 0,  # kstkesp kstkeip
        masks.pending | masks.shared_pending,
        masks.blocked,
        masks.ignored,
        masks.caught,
        0, 0, 0,  # wchan nswap cnswap
        int(signal.SIGCHLD),
        0,  # processor
        0, 0, 0, 0, 0,  # rt_priority policy delayacct_blkio_ticks guest_time cguest_time
        *(0, 0),  # start_data end_data: not recorded by the loader
        0 if zombie or mm is None else mm.brk_start,
        *(getattr(mm, name, 0) for name in ("arg_start", "arg_end", "env_start", "env_end")),
        taskinfo.exit_code(task),
    ]
    return " ".join(map(str, fields)) + "\n"


def statm(procfs: ProcFs, task: Task) -> str:
    """/proc/PID/statm: size resident shared text lib data dt, in pages."""
    mem = memory_use(task)
    pages = [mem.size, mem.rss, mem.file, mem.text, 0, mem.data + mem.stack, 0]
    return " ".join(str(value // PAGE_SIZE) for value in pages) + "\n"
