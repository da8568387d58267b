"""Kernel architectures: what differs between CofferOS, Linux containers, VMs and a sandbox.

All four run the *same* system call implementations (``cofferos.coffers``); they
differ only where the real systems differ (ARCHITECTURES below):

* **where kernel state lives**, which decides which locks containers share:
  ``linux`` has one kernel, so its dentry cache, mount table, task list, page
  allocator, futex hash and network stack locks are taken by every container;
  ``cofferos``, ``vm`` and ``sandbox`` give each container its own kernel
  state, so only that container's own threads contend on it. The same fact
  decides the *kernel domains* (:mod:`cofferos.coffers.domain`): which
  containers see each other's load and memory, draw on one task table, and
  fall together when that kernel panics;
* **where memory comes from**: on demand from the host's RAM (``linux``, and
  ``sandbox``, whose Sentry maps host memory) or from a reservation made when
  the container starts (a coffer, a VM's RAM);
* **extra work on each system call**: Docker's default seccomp filter on
  ``linux``; the personality dispatch on ``cofferos``; interception by a
  user-space kernel on ``sandbox``;
* **virtualization exits** on ``vm``, each where its mechanism happens: a device
  request (virtio-blk on a page-cache miss of the disk, virtio-net for a message
  to another container, the console; :mod:`cofferos.coffers.devio`) exits to the
  user-space VMM; arming a timer and a wake-up onto another core (an IPI) exit to
  the host kernel; page faults walk two-dimensional page tables. Reads and writes
  of tmpfs files, pipes and in-kernel devices stay inside the guest and cost no
  exit. Every VM boots and carries its own kernel's memory.

No constant here is tuned to make one architecture win: each is the cost of a
mechanism, with its source (``docs/calibration.md``), applied wherever the
mechanism exists.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cofferos.errors import ConfigError

# Per-call costs of mechanisms, in cycles at 3 GHz (docs/calibration.md).
SECCOMP_DOCKER_DEFAULT = 75 + 85  #: M: fixed entry cost + first filter (seccomp_benchmark)
PERSONALITY_DISPATCH = 60  #: E: one table lookup and an indirect call through the stack
SYSTRAP_INTERCEPTION = 7_100 - 700  #: M: gVisor systrap getpid 7.1k, less the native call
VM_EXIT_HOST_KERNEL = 1_550  #: M: KVM vmcall exit handled in the host kernel
VM_EXIT_USER_VMM = 15_000  #: E: an exit to a user-space VMM (virtio queue kick, device model)
TWO_DIMENSIONAL_WALK = 900  #: E: extra cost of a nested (EPT) page walk on a fault
MICROVM_BOOT_NS = 125_000_000  #: M: Firecracker, <= 125 ms to guest init
MICROVM_MEMORY = 5 << 20  #: M: Firecracker, <= 5 MiB VMM memory
GUEST_KERNEL_MEMORY = 64 << 20  #: E: a minimal guest kernel's resident memory
SANDBOX_MEMORY = 15 << 20  #: E: a gVisor Sentry's resident memory
SANDBOX_START_NS = 50_000_000  #: E: starting a sandbox (runsc create + start)
# Recovery: bringing a failed kernel back, or restarting a container in a live one.
HOST_REBOOT_NS = 60_000_000_000  #: E: a server's reboot: firmware POST + kernel + init, ~1 min
CONTAINER_START_NS = 300_000_000  #: E: `docker start` of a small image (runc create + start)
COFFER_START_NS = 1_000_000  #: E: a new Coffer: kernel objects + exec (no kernel to boot:
#: the coffer *is* its container's kernel state, so cofferos's restart_kernel_ns is 0)
GUEST_PROCESS_START_NS = 5_000_000  #: E: restarting the workload inside its guest or Sentry

#: Calls through which a container can reach a device (cofferos.coffers.devio): a VM exit
#: is charged only when one of them really does (a page-cache miss on the disk, a message
#: through the virtual NIC, the console), not for tmpfs files, pipes or /dev/coffer/ops.
VM_IO_CALLS = frozenset({
    "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev",
    "preadv2", "pwritev2", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendfile",
    "splice", "copy_file_range"})
#: Calls that arm or wait for a timer: the guest's timer hardware is emulated (an exit).
VM_TIMER_CALLS = frozenset({
    "nanosleep", "clock_nanosleep", "timerfd_settime", "setitimer", "alarm"})


@dataclass(frozen=True)
class KernelArchitecture:
    """One kernel architecture. Each field: default, then meaning."""

    name: str
    description: str
    shared_kernel: bool = False
    """One kernel for all containers: its locks and its kernel-global state (task
    table, RAM, page cache, load) are shared by every container (one kernel domain)."""
    memory_from_host: bool = False
    """Containers' memory comes from the host's RAM on demand (overcommitted) rather
    than from a reservation made when the container starts (a coffer, a VM's RAM)."""
    storage_from_host: bool = False
    """Containers' writable files live on the host's filesystem (overlayfs upper
    directories on the host disk; a sandbox's Gofer writing host files), so they fill
    one machine-wide disk, rather than a volume or disk image of their own."""
    per_call: int = 0
    """Cycles added to every system call (filters, dispatch, interception)."""
    per_call_is_virtualization: bool = False
    """Count per_call as virtualization overhead rather than kernel time."""
    io_exit: int = 0
    """Cycles added to each device request (VM: an exit to the device model), charged
    where the request happens (cofferos.coffers.devio), never to a call by its name."""
    timer_exit: int = 0
    """Cycles added to each timer call (VM: a write of the TSC-deadline MSR, an exit
    handled in the host kernel)."""
    wakeup_exit: int = 0
    """Cycles added to a wake-up of a task on another core (VM: an IPI exit)."""
    page_fault_extra: int = 0
    """Cycles added to each page fault (VM: two-dimensional page walk)."""
    boot_ns: int = 0
    """Simulated time before a container's first instruction."""
    memory_overhead: int = 0
    """Bytes each container costs beyond its processes (guest kernel, VMM, sandbox)."""
    restart_kernel_ns: int = 0
    """Simulated time to bring back a failed kernel domain (reboot the host or VM,
    start a new sandbox or coffer), before its containers start again."""
    restart_container_ns: int = 0
    """Simulated time to restart one container whose kernel is still sound."""

    def call_extra(self, name: str) -> int:
        """Cycles this architecture adds to every call of ``name`` (device I/O exits are
        charged per request, where it happens: cofferos.coffers.devio)."""
        extra = self.per_call
        if name in VM_TIMER_CALLS:
            extra += self.timer_exit
        return extra

    def virtualization_share(self, name: str) -> int:
        """The part of call_extra that is virtualization overhead (for the breakdown)."""
        share = self.per_call if self.per_call_is_virtualization else 0
        if name in VM_TIMER_CALLS:
            share += self.timer_exit
        return share


ARCHITECTURES: dict[str, KernelArchitecture] = {arch.name: arch for arch in (
    KernelArchitecture(
        "cofferos", "one Coffer per container: no kernel state or lock shared",
        per_call=PERSONALITY_DISPATCH, restart_kernel_ns=0,
        restart_container_ns=COFFER_START_NS),
    KernelArchitecture(
        "linux", "namespaces and cgroups over one shared kernel, Docker's seccomp filter",
        shared_kernel=True, memory_from_host=True, storage_from_host=True,
        per_call=SECCOMP_DOCKER_DEFAULT,
        restart_kernel_ns=HOST_REBOOT_NS, restart_container_ns=CONTAINER_START_NS),
    KernelArchitecture(
        "vm", "one guest kernel per container in a microVM (KVM + user-space VMM)",
        io_exit=VM_EXIT_USER_VMM, timer_exit=VM_EXIT_HOST_KERNEL,
        wakeup_exit=VM_EXIT_HOST_KERNEL, page_fault_extra=TWO_DIMENSIONAL_WALK,
        boot_ns=MICROVM_BOOT_NS, memory_overhead=MICROVM_MEMORY + GUEST_KERNEL_MEMORY,
        restart_kernel_ns=MICROVM_BOOT_NS, restart_container_ns=GUEST_PROCESS_START_NS),
    KernelArchitecture(
        "sandbox", "a gVisor-like user-space kernel per container (systrap)",
        per_call=SYSTRAP_INTERCEPTION, per_call_is_virtualization=True,
        memory_from_host=True, storage_from_host=True,
        boot_ns=SANDBOX_START_NS, memory_overhead=SANDBOX_MEMORY,
        restart_kernel_ns=SANDBOX_START_NS, restart_container_ns=GUEST_PROCESS_START_NS),
)}


def architecture(name: str) -> KernelArchitecture:
    """The architecture of a kernel name; a version suffix (``linux:2.6.35``, see
    sim/lockversions.py) is checked and does not change the architecture."""
    if ":" in name:
        from cofferos.sim.lockversions import split_kernel
        name = split_kernel(name)[0]
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(f"unknown kernel {name!r}; choose from "
                          f"{', '.join(ARCHITECTURES)} ({VERSION_HINT})") from None


VERSION_HINT = "linux and vm take a Linux version, e.g. linux:2.6.35"


def check_kernel(name: str) -> str:
    """``name`` if it is an architecture with an optional version; else ConfigError."""
    architecture(name)
    return name


ARCH_PREFIX = "arch."
#: Architecture constants that ``--cost arch.FIELD=CYCLES`` may override.
OVERRIDABLE = ("per_call", "io_exit", "timer_exit", "wakeup_exit", "page_fault_extra",
               "boot_ns", "memory_overhead", "restart_kernel_ns", "restart_container_ns")


def with_mechanisms(arch: KernelArchitecture, mechanisms: dict[str, int]) -> KernelArchitecture:
    """``arch`` with any ``arch.FIELD`` overrides applied (other keys are not ours)."""
    fields = {name[len(ARCH_PREFIX):]: value for name, value in mechanisms.items()
              if name.startswith(ARCH_PREFIX)}
    unknown = set(fields) - set(OVERRIDABLE)
    if unknown:
        raise ConfigError(f"unknown architecture constant(s) {sorted(unknown)}; "
                          f"valid: {', '.join(OVERRIDABLE)}")
    return replace(arch, **fields) if fields else arch
