"""The kernel's cost model: what each system call costs in cycles, with sources.

Guest user-mode cycles come from :mod:`cofferos.isa.costs`; this table prices
what the kernel does on the guest's behalf. A system call costs

    entry/exit (with or without KPTI and retpoline)
  + the call's own work (per-call table; ``default_call_work`` otherwise)
  + per-byte copy between user and kernel memory.

Figures are cycles at 3 GHz, taken from ``docs/calibration.md``: M marks a
measured figure in the source named, E an estimate. The work figures are the
published whole-call latency minus the entry/exit cost of the same
configuration, so that entry/exit is not paid twice. Every field can be
overridden (``costs.with_overrides(entry_exit=220, call_work={"read": 900})``).

The defaults here are the ``skylake-2018-kpti`` profile; other machines are data
files (:mod:`cofferos.sim.costprofiles`). ``mitigations`` is a switch, not a
label: turning it off (``with_overrides(mitigations=False)``, ``--cost
mitigations=off``) replaces the figures that KPTI and retpoline change
(:data:`MITIGATION_SWITCH`: entry/exit, the file, mmap and poll paths, a page
fault, a thread's creation) by their LEBench figures without mitigations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cofferos.errors import ConfigError

FREQUENCY_HZ = 3_000_000_000  #: default core clock: a Skylake-class server at 3 GHz
ENTRY_EXIT_MITIGATED = 700  #: M: 228-237 ns Skylake, KPTI + retpoline (docs/calibration.md)
ENTRY_EXIT_PLAIN = 220  #: M: LEBench kernel 4.12, getpid 72 ns

#: Per-call kernel work beyond entry/exit, mitigations on (LEBench, docs/calibration.md).
MITIGATED_CALL_WORK: dict[str, int] = {
    # read/write: the pipe/socket path here; files and devices add file_io_work.
    "read": 300,  # E: pipe_read of a small message (ipc-bench: 2.7 us per round trip)
    "write": 300,  # E: pipe_write
    "pread64": 300,
    "pwrite64": 300,
    "mmap": 2_370 - ENTRY_EXIT_MITIGATED,  # M: small mmap 0.79 us
    "munmap": 2_370 - ENTRY_EXIT_MITIGATED,  # E: as mmap
    "poll": 3_300 - ENTRY_EXIT_MITIGATED,  # M: poll, few descriptors 1.1 us
    "openat": 3_000,  # E: path walk of a few components plus file allocation
    "open": 3_000,
    "newfstatat": 1_500,  # E: path walk without allocation
    "stat": 1_500,
    "lstat": 1_500,
    "statx": 1_500,
    "unlink": 2_500,  # E: path walk, dentry and inode release
    "unlinkat": 2_500,
    "wait4": 3_000,  # E: reaping a zombie
    # E: ~2 us, by parts: the path walk (~1,500 as stat), sget and a new superblock and
    # root inode for tmpfs (~2,500: three allocations and their initialisation),
    # namespace_sem and attaching the mount (~2,000); umount2 mirrors it (lookup, the
    # busy check, umount_tree, deactivate_super).
    "mount": 6_000,
    "umount2": 6_000,
}


#: The shape of the small process a fork's base cost was measured on, and above which
#: each mapping and resident page costs more (``fork_mapping_work``, ``fork_page_work``):
#: benchmarks/forksize's static process, 12 mappings and 14 anonymous pages.
SMALL_PROCESS_MAPPINGS = 12
SMALL_PROCESS_PAGES = 14

#: ``--cost`` keys of one call's work: ``call.NAME``.
CALL_KEY_PREFIX = "call."
#: The profile the defaults below are (sim/costprofiles/skylake-2018-kpti.toml).
DEFAULT_PROFILE = "skylake-2018-kpti"

#: The figures KPTI + retpoline change, as (mitigations off, on), keyed as ``--cost`` keys
#: them. Off: LEBench, Linux 4.12, less entry/exit where the figure is a whole call.
MITIGATION_SWITCH: dict[str, tuple[int, int]] = {
    "entry_exit": (ENTRY_EXIT_PLAIN, ENTRY_EXIT_MITIGATED),  # M: getpid 72 ns / 228-237 ns
    "file_io_work": (780 - ENTRY_EXIT_PLAIN - 300, 2_040 - ENTRY_EXIT_MITIGATED - 300),  # M: read
    "page_fault": (1_700, 2_550),  # M: LEBench first-touch fault 0.56 / 0.85 us
    "thread_create_work": (6_600 - ENTRY_EXIT_PLAIN, 36_000),  # M: LEBench 2.2 / 13 us
    "call.mmap": (1_100 - ENTRY_EXIT_PLAIN, 2_370 - ENTRY_EXIT_MITIGATED),  # M: 0.37 / 0.79 us
    "call.munmap": (1_100 - ENTRY_EXIT_PLAIN, 2_370 - ENTRY_EXIT_MITIGATED),  # E: as mmap
    "call.poll": (1_050 - ENTRY_EXIT_PLAIN, 3_300 - ENTRY_EXIT_MITIGATED),  # M: 0.35 / 1.1 us
}


@dataclass(frozen=True)
class KernelCosts:
    """Cycle costs of kernel work. Each field: default, then its source."""

    frequency_hz: int = FREQUENCY_HZ
    """Core clock used to turn cycles into simulated time."""
    mitigations: bool = True
    """KPTI + retpoline on (the default profile) or off."""
    entry_exit: int = ENTRY_EXIT_MITIGATED
    """SYSCALL entry + SYSRET exit; 220 without mitigations (see module doc)."""
    default_call_work: int = 0
    """A trivial call's work is inside the measured entry/exit (it was timed with getpid)."""
    file_io_work: int = 2_040 - ENTRY_EXIT_MITIGATED - 300
    """M-derived: LEBench small read 0.68 us, less entry/exit and the read path above."""
    copy_cycles_per_kib: int = 100
    """E: copy_to/from_user at about 10 bytes per cycle."""
    unimplemented_work: int = 0
    """An unimplemented call returns -ENOSYS straight from the dispatcher."""
    fork_work: int = 120_000
    """M-derived: LEBench fork+exit 55-60 us (165-180k cycles) less exit and wait below."""
    fork_mapping_work: int = 1_170
    """M: a fork's cost for each of the parent's mappings beyond a small process's (dup_mmap:
    copying the area and linking its anon_vma; the child's exit unlinks it): 391 ns on
    this host (a 2-core AMD EPYC VM at 2,596 MHz, Linux 6.18; ``sh
    benchmarks/forksize/measure.sh``, fork + _exit + waitpid, the least-squares slope
    over a grid of shapes), 1,170 cycles at 3 GHz. Its small process took 39 us, against
    LEBench's 55-60 us that ``fork_work`` is."""
    fork_page_work: int = 120
    """M: a fork's cost for each resident page of the parent beyond a small process's
    (copy_page_range copying the page table entry; the child's exit unmapping it): 41 ns
    on this host, the same measurement, 123 cycles at 3 GHz."""
    thread_create_work: int = 36_000
    """M: LEBench thread create 13 us mitigated (39k cycles) less entry/exit."""
    exit_work: int = 30_000
    """E: tearing down a small process (the rest of fork+exit+wait)."""
    exec_work: int = 300_000
    """E: lmbench exec 436-500 us on 2007 hardware scaled to a 3 GHz core."""
    context_switch: int = 8_000
    """M-derived: LEBench context switch 3.1-4.9 us (pipe ping-pong on one core), less
    its two pipe calls and the wake-up below."""
    wakeup: int = 1_500
    """E: try_to_wake_up of a sleeping task (pipe, futex, socket wake-ups), waker's side."""
    remote_wakeup: int = 1_300
    """E: a wake-up onto another core: IPI delivery and exit from idle, wakee's side
    (fits ipc-bench's 2.7 us cross-core pipe round trip with the calls above)."""
    page_fault: int = 2_550
    """M: LEBench first-touch page fault 0.85 us mitigated (charged by the timing model)."""
    page_cache_miss: int = 30_000
    """E: a 4 KiB page of a host-image file not yet in the kernel's page cache: one NVMe
    4 KiB random read, about 10 us (30,000 cycles at 3 GHz), charged to the reader."""
    call_work: MappingProxyType[str, int] = field(
        default_factory=lambda: MappingProxyType(dict(MITIGATED_CALL_WORK)))
    """Per-call work by system call name; calls not listed cost default_call_work."""
    mechanisms: MappingProxyType[str, int] = field(
        default_factory=lambda: MappingProxyType({}))
    """Overrides of the timing machine's mechanism constants: ``arch.FIELD`` (see
    cofferos.sim.kernels) and ``lock.NAME`` / ``lock.handoff`` (cofferos.sim.kernel_locks)."""
    profile: str = DEFAULT_PROFILE
    """The cost profile these figures start from (sim/costprofiles/NAME.toml)."""
    mitigation_switch: MappingProxyType[str, tuple[int, int]] = field(
        default_factory=lambda: MappingProxyType(dict(MITIGATION_SWITCH)))
    """What switching ``mitigations`` sets: per ``--cost`` key, (off, on) figures."""

    def work(self, name: str) -> int:
        return self.call_work.get(name, self.default_call_work)

    def copy(self, nbytes: int) -> int:
        return nbytes * self.copy_cycles_per_kib // 1024

    def with_overrides(self, call_work: dict[str, int] | None = None,
                       mechanisms: dict[str, int] | None = None, **fields: Any) -> KernelCosts:
        """A copy with fields replaced and ``call_work`` entries added or replaced.

        Switching ``mitigations`` first sets the figures of :attr:`mitigation_switch`
        for the new setting; figures given in the same call win over them. Unknown
        field names and negative costs raise :class:`ConfigError`; system call names
        in ``call_work`` are checked by the kernel that uses them.
        """
        known = {f.name for f in dataclasses.fields(self)} - NOT_OVERRIDABLE
        for key, value in {**fields, **(call_work or {})}.items():
            if key in fields and key not in known:
                raise ConfigError(f"unknown kernel cost {key!r}; known: {', '.join(sorted(known))}")
            if not isinstance(value, bool) and isinstance(value, int) and value < 0:
                raise ConfigError(f"kernel cost {key} must be >= 0, got {value}")
        if "mitigations" in fields and bool(fields["mitigations"]) != self.mitigations:
            setting = int(bool(fields["mitigations"]))  # index into (off, on)
            switched = {key: pair[setting] for key, pair in self.mitigation_switch.items()}
            fields = {**{k: v for k, v in switched.items()
                         if not k.startswith(CALL_KEY_PREFIX)}, **fields}
            call_work = {**{k[len(CALL_KEY_PREFIX):]: v for k, v in switched.items()
                            if k.startswith(CALL_KEY_PREFIX)}, **(call_work or {})}
        work = MappingProxyType({**self.call_work, **(call_work or {})})
        mech = MappingProxyType({**self.mechanisms, **(mechanisms or {})})
        return dataclasses.replace(self, call_work=work, mechanisms=mech, **fields)


#: Fields that are not cost figures: set by a profile, never by ``--cost NAME=VALUE``.
NOT_OVERRIDABLE = frozenset({"call_work", "mechanisms", "profile", "mitigation_switch"})

DEFAULT_KERNEL_COSTS = KernelCosts()
