"""The system-wide files of /proc, each computed from the coffer's kernel domain.

The kernel-global figures come from the coffer's kernel domain
(:mod:`cofferos.coffers.domain`): for a coffer that shares its kernel with
nobody (CofferOS) that is the coffer alone; on a modelled shared Linux kernel it
is every container of that kernel, as Linux's unnamespaced files show.
``meminfo`` from the domain's RAM and what is mapped in it; ``loadavg`` and
``stat``'s running counts from the domain's tasks, and ``stat``'s ``processes``
from the domain's fork count (Linux's ``total_forks``, which no namespace
splits); ``uptime`` from the coffer's clock; the last PID from the coffer's own PID namespace;
``cpuinfo`` from the simulated CPUID (:mod:`.cpuinfo`); ``version`` and
``filesystems`` from the coffer's configuration, ``sys/`` from :mod:`.sysctl`,
``config.gz`` from :mod:`.kconfig`; ``coffer/personalities`` (CofferOS's own, not
Linux's) from the coffer's personality stack and what each publishes. A coffer
never sees another coffer's tasks or memory, and nothing is read from the host.

The load averages are :mod:`cofferos.coffers.loadavg`'s, which sysinfo(2) shows too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofferos.coffers.fs import Inode
from cofferos.coffers.loadavg import avenrun, shown
from cofferos.coffers.procfs import kconfig, sysctl, taskinfo
from cofferos.coffers.procfs.cpuinfo import ONLINE_CPUS, cpuinfo
from cofferos.coffers.procfs.mounts import PROC_FS_TYPE, ROOT_FS_TYPE
from cofferos.coffers.syscalls.namespace import TMPFS
from cofferos.coffers.syscalls.process import UTS_RELEASE, UTS_SYSNAME, UTS_VERSION
from cofferos.coffers.timens import boottime_offset

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.procfs.tree import ProcFs

KIB = 1024
PAGE_SIZE = 4096
PTE_BYTES = 8
NS_PER_SECOND = 1_000_000_000
NS_PER_CENTISECOND = 10_000_000
USER_HZ = 100
VMALLOC_TOTAL_KB = 34_359_738_367
"""x86-64's vmalloc area with 4-level paging, as every such kernel reports it."""
HUGEPAGE_KB = 2048
MEMINFO_NAME_WIDTH = 16
MEMINFO_VALUE_WIDTH = 8
def filesystems() -> str:
    return "".join(f"nodev\t{kind}\n" for kind in (ROOT_FS_TYPE, PROC_FS_TYPE, TMPFS))


def meminfo(coffer: Coffer) -> str:
    domain = getattr(coffer, "domain", None)
    if domain is not None:
        total = domain.memory_total(coffer)
        used = min(domain.memory_used(coffer), total)
    else:
        total = coffer.config.memory_limit
        used = min(taskinfo.mapped_bytes(coffer), total)
    free = total - used
    kb_rows = (
        ("MemTotal", total), ("MemFree", free), ("MemAvailable", free), ("Buffers", 0),
        ("Cached", 0), ("SwapCached", 0), ("Active", used), ("Inactive", 0),
        ("Active(anon)", used), ("Inactive(anon)", 0), ("Active(file)", 0),
        ("Inactive(file)", 0), ("Unevictable", 0), ("Mlocked", 0), ("SwapTotal", 0),
        ("SwapFree", 0), ("Dirty", 0), ("Writeback", 0), ("AnonPages", used),
        ("Mapped", 0), ("Shmem", 0), ("Slab", 0), ("PageTables", used // PAGE_SIZE * PTE_BYTES),
        ("CommitLimit", total), ("Committed_AS", used),
        ("VmallocTotal", VMALLOC_TOTAL_KB * KIB), ("VmallocUsed", 0), ("VmallocChunk", 0),
    )
    lines = [f"{name + ':':<{MEMINFO_NAME_WIDTH}}{value // KIB:>{MEMINFO_VALUE_WIDTH}} kB"
             for name, value in kb_rows]
    lines += [f"{name + ':':<{MEMINFO_NAME_WIDTH}}{0:>{MEMINFO_VALUE_WIDTH}}" for name in
              ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp")]
    lines.append(f"{'Hugepagesize:':<{MEMINFO_NAME_WIDTH}}{HUGEPAGE_KB:>{MEMINFO_VALUE_WIDTH}} kB")
    return "\n".join(lines) + "\n"


def _seconds(ns: int) -> str:
    """Seconds with two decimals, truncated, as Linux prints uptime."""
    return f"{ns // NS_PER_SECOND}.{ns % NS_PER_SECOND // NS_PER_CENTISECOND:02d}"


def _idle_ns(coffer: Coffer) -> int:
    return int(getattr(coffer, "sleep_ns", 0)) * ONLINE_CPUS


def uptime(coffer: Coffer, offset_ns: int = 0) -> str:
    """``offset_ns``: the reader's time namespace's boottime offset (timens_add_boottime)."""
    return f"{_seconds(coffer.monotonic_ns() + offset_ns)} {_seconds(_idle_ns(coffer))}\n"


def _reader_boottime(coffer: Coffer) -> int:
    """The boottime offset of the time namespace of the task reading (0: none)."""
    task = taskinfo.current(coffer)
    return 0 if task is None else boottime_offset(task)


def _domain_tasks(coffer: Coffer) -> list:
    """The tasks of the coffer's kernel (its own, unless it shares a kernel)."""
    domain = getattr(coffer, "domain", None)
    return domain.tasks() if domain is not None else taskinfo.tasks(coffer)


def _runnable(coffer: Coffer) -> int:
    return sum(1 for t in _domain_tasks(coffer) if taskinfo.state(t) == taskinfo.RUNNING)


def _last_pid(coffer: Coffer) -> int:
    """The pid last handed out in the coffer's PID namespace (loadavg's last field is
    read from the reader's namespace on Linux)."""
    return max((t.pid for t in taskinfo.tasks(coffer)), default=0)


def _total_forks(coffer: Coffer) -> int:
    """Tasks forked since boot in the whole kernel (/proc/stat ``processes``)."""
    domain = getattr(coffer, "domain", None)
    return domain.forks if domain is not None else _last_pid(coffer)


def loadavg(coffer: Coffer) -> str:
    loads = " ".join(shown(load) for load in avenrun(coffer))
    total = len(_domain_tasks(coffer))
    return f"{loads} {_runnable(coffer)}/{total} {_last_pid(coffer)}\n"


def _ticks(cycles: int, frequency_hz: int) -> int:
    return cycles * USER_HZ // frequency_hz


def cpu_stat(coffer: Coffer) -> str:
    """/proc/stat: the coffer's CPU time, boot time and task counts."""
    frequency = coffer.config.kernel_costs.frequency_hz
    user_cycles = getattr(coffer, "user_cycles", None)
    if user_cycles is None:
        user_cycles = sum(taskinfo.user_cycles(t) for t in taskinfo.tasks(coffer))
    user = _ticks(int(user_cycles), frequency)
    system = _ticks(coffer.stats.kernel_cycles, frequency)
    idle = _idle_ns(coffer) * USER_HZ // NS_PER_SECOND
    times = [user, 0, system, idle, 0, 0, 0, 0, 0, 0]
    lines = ["cpu  " + " ".join(map(str, times))]
    lines += [f"cpu{n} " + " ".join(map(str, times)) for n in range(ONLINE_CPUS)]
    lines += [
        "intr 0",
        "ctxt 0",
        f"btime {coffer.config.epoch_ns // NS_PER_SECOND}",
        f"processes {_total_forks(coffer)}",
        f"procs_running {_runnable(coffer)}",
        "procs_blocked 0",
        "softirq " + " ".join(["0"] * 11),
    ]
    return "\n".join(lines) + "\n"


def version(coffer: Coffer) -> str:
    return (f"{UTS_SYSNAME} version {UTS_RELEASE} (cofferos@{coffer.config.name}) "
            f"(cofferos-sim) {UTS_VERSION}\n")


def personalities(coffer: Coffer) -> str:
    """/proc/coffer/personalities: one line per personality of the coffer's stack,
    bottom first: its spec as ``--personality`` takes it (``NAME:key=value,...``), a
    tab, then its counters as ``name=value`` separated by spaces (``counters failed:``
    and why, for a personality whose ``counters`` hook failed)."""
    lines = []
    for _, personality, values in coffer.dispatcher.personalities.published():
        shown = (f"counters failed: {values.problem}" if isinstance(values, Exception)
                 else " ".join(f"{name}={value}" for name, value in values.items()))
        lines.append(f"{personality!r}\t{shown}".rstrip())
    return "".join(f"{line}\n" for line in lines)


def entries(procfs: ProcFs) -> list[tuple[str, Inode]]:
    """The system entries of /proc's root (the caller adds self and the pids)."""
    coffer = procfs.coffer
    frequency = coffer.config.kernel_costs.frequency_hz
    return [
        ("coffer", procfs.fixed_directory(
            [("personalities", procfs.text(lambda: personalities(coffer)))])),
        ("config.gz", procfs.file(lambda: kconfig.config_gz(coffer.dispatcher.table))),
        ("cpuinfo", procfs.text(lambda: cpuinfo(frequency))),
        ("filesystems", procfs.text(filesystems)),
        ("loadavg", procfs.text(lambda: loadavg(coffer))),
        ("meminfo", procfs.text(lambda: meminfo(coffer))),
        ("mounts", procfs.link(lambda: "self/mounts")),
        ("net", procfs.link(lambda: "self/net")),
        ("stat", procfs.text(lambda: cpu_stat(coffer))),
        ("sys", sysctl.tree(procfs)),
        ("uptime", procfs.text(lambda: uptime(coffer, _reader_boottime(coffer)))),
        ("version", procfs.text(lambda: version(coffer))),
    ]
