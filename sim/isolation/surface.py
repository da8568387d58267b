"""``surface``: the attack surface of a container, per kernel and personality stack.

Two measures:

(a) **system calls reachable**: every call of the kernel's table is *probed*
    through a coffer's real dispatch path (:meth:`SyscallDispatcher._personal`:
    the personality stack's ``on_entry``, ``handle`` and ``on_exit`` hooks) with
    harmless arguments, the kernel's handler replaced by a probe that only notes
    that it was reached. A call counts when it reaches the kernel's
    implementation. A container on a shared kernel also passes Docker's default
    seccomp filter. Beside it, the size of the interface to state other
    containers hold: on a shared kernel every reachable call is served by it; a
    user-space kernel reaches the host through its own allow list of host calls;
    a VM through its kinds of exit; a coffer through nothing.
(b) **kernel objects shared**: a mix of workloads runs in ``containers``
    containers on the timing machine; the lock table records which containers
    took each lock (:attr:`cofferos.sim.lockalgo.SimLock.users`), and the kernel
    domains which containers held tasks, drew on RAM and read through the page
    cache. An object used by more than one container is shared.
"""

from __future__ import annotations

import io
from typing import Any

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.syscalls.dispatch import SyscallDispatcher
from cofferos.coffers.syscalls.numbers import SYSCALL_NAMES
from cofferos.coffers.syscalls.table import SyscallEntry, default_table
from cofferos.personalities.builtin.hardened import DOCKER_BLOCKED
from cofferos.sim.experiment import ContainerSpec, run_mix, with_image
from cofferos.sim.isolation.common import (
    ExperimentParams,
    ExperimentResult,
    configuration,
    stack_label,
)
from cofferos.sim.kernels import VM_IO_CALLS, VM_TIMER_CALLS, KernelArchitecture, architecture
from cofferos.sim.machine import Machine
from cofferos.workloads.build import resolve

#: The experiment runs once per ``--personality`` stack.
VARIES_PERSONALITIES = True
DESCRIPTION = "system calls reachable per personality stack, and kernel objects containers share"

DOC = """\
**What it measures.** (a) How many system calls of the kernel's table a process
inside a container can get to the kernel's implementation of, under each
personality stack (`--personality`), and how large the interface to state that
other containers hold is; (b) which kernel objects (locks, task table, RAM,
page cache) the containers of one machine actually touch in common.

**How.** (a) Each call is *probed* through the coffer's real dispatch path (the
stack's `on_entry`, `handle` and `on_exit` hooks, exactly as for a trapped
call) with harmless arguments (a path under `/tmp`, a zeroed buffer, descriptor
1, `AT_FDCWD`); the kernel handler is replaced by a probe that only notes that
it was reached. A call handled or refused by a personality does not count. On a
shared kernel a container also passes Docker's default seccomp filter (the
calls of moby's `profiles/seccomp/default.json` it blocks). The *host
interface* is: on a shared kernel, every reachable call (each is served by the
kernel every container shares); for a user-space kernel, the host calls its
seccomp allow list lets it make (an estimate of gVisor's Sentry filter; that
filter is the Sentry's own, so it is the same under every guest personality); for a
VM, its kinds of exit the reachable calls cause (I/O, timer, IPI); for a
coffer, none. (b) A mix of workloads (`@metadata`, `@unixsock`, `@threads`, one
per container in turn) runs on the timing machine; the lock table records the
containers that took each lock, also when the machine skips replaying locks
that nobody could contend, and each kernel domain the containers that held
tasks, drew on its RAM and read through its page cache.

**Reading the result.** Personalities shrink (a) only where they refuse calls by
name: `hardened`'s docker profile blocks about 46 calls of the ABI (none of which
the kernel model implements), its `minimal` profile all but about 60; `agent`
judges arguments (paths, peers), so every call passes with harmless ones;
`deterministic` serves the clock calls and `getrandom` itself. The architecture
decides (b): a shared kernel's locks, task table and RAM are used by every
container; host-backed memory (`sandbox`) is one shared RAM pool; a coffer or a
VM shares nothing. Nothing here is decided per architecture name: (b) follows
from where each keeps kernel state (`run_mix`'s kernel domains, the lock table).
"""

#: Personality stacks compared when the user gives only the default ``((),)``.
DEFAULT_STACKS: tuple[tuple[str, ...], ...] = (
    (), ("hardened",), ("hardened:profile=minimal",), ("agent",), ("deterministic",))
#: The calls Docker's default seccomp profile blocks (M: moby profiles/seccomp/default.json;
#: the same list as the ``hardened`` personality's docker profile).
DOCKER_SECCOMP_BLOCKED = DOCKER_BLOCKED
#: E: host calls gVisor's Sentry may make (runsc/boot/filter, systrap platform, ~70 calls).
SENTRY_HOST_CALLS = frozenset({
    "arch_prctl", "clock_gettime", "clone", "close", "connect", "dup", "dup3",
    "epoll_create1", "epoll_ctl", "epoll_pwait", "eventfd2", "exit", "exit_group",
    "fallocate", "fchmod", "fcntl", "fstat", "fstatfs", "fsync", "ftruncate", "futex",
    "getcpu", "getdents64", "getpid", "getrandom", "getsockopt", "gettid", "gettimeofday",
    "ioctl", "lseek", "madvise", "membarrier", "mincore", "mmap", "mprotect", "mremap",
    "munmap", "nanosleep", "newfstatat", "openat", "pipe2", "poll", "ppoll", "pread64",
    "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "recvmmsg", "recvmsg",
    "restart_syscall", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sched_yield",
    "sendmmsg", "sendmsg", "setitimer", "shutdown", "sigaltstack", "socket", "splice",
    "statx", "sync_file_range", "tee", "tgkill", "timer_create", "timer_delete",
    "timer_settime", "uname", "write", "writev"})
#: Workloads of part (b), given to containers in turn (short runs: shared paths only).
MIX: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("@metadata", ("/tmp/shared", "40")), ("@unixsock", ("1",)), ("@threads", ("2", "50")))
PROBE_PATH = b"/tmp/probe\0"
PROBE_FD = 1  #: stdout: a descriptor every process has
AT_FDCWD = (1 << 64) - 100  #: -100 as the register holds it
SCRATCH_BELOW_SP = 64 << 10  #: probe buffers: this far below the stack pointer (8 MiB mapped)
SCRATCH_BYTES = 4096
ARG_REGISTERS = 6
TASK_TABLE, RAM, PAGE_CACHE = "task table", "RAM", "page cache"
LEGEND_HEADROOM = 1.35  #: y range above the tallest bar, for the legend


# -- (a) system calls reachable ----------------------------------------------------------
class _Probe:
    """A coffer whose init has not run: its task traps calls through the real stack."""

    def __init__(self, stack: tuple[str, ...]) -> None:
        self.coffer = Coffer(with_image(CofferConfig(name="probe", personalities=stack)),
                             stdin=io.BytesIO(), stdout=io.BytesIO(), stderr=io.BytesIO())
        self.task = self.coffer.spawn(str(resolve("@hello")), ["hello"])
        scratch = (self.task.cpu.sp - SCRATCH_BELOW_SP) & ~(SCRATCH_BYTES - 1)
        self.path, self.buffer = scratch, scratch + SCRATCH_BYTES // 2
        self.task.cpu.write(self.path, PROBE_PATH)
        self.task.cpu.write(self.buffer, bytes(SCRATCH_BYTES // 2))

    def argument(self, kind: str) -> int:
        """A harmless value of each argument kind (cofferos.coffers.syscalls.table)."""
        if kind in ("path", "str"):
            return self.path
        if kind in ("ptr", "hex"):
            return self.buffer
        if kind == "fd":
            return PROBE_FD
        if kind == "dirfd":
            return AT_FDCWD
        return 0


def passing(stack: tuple[str, ...]) -> set[str]:
    """The calls of the whole Linux ABI (numbers.py) that ``stack`` lets reach the kernel.

    Each is trapped through the real dispatch path with the kernel's entry (or, for
    a call this kernel does not implement, an entry of the same number) replaced by
    a stand-in that notes it was reached.
    """
    reached: set[str] = set()
    table = default_table()
    probe = _Probe(stack)
    for nr, name in sorted(SYSCALL_NAMES.items()):
        if not probe.task.alive:  # a personality killed the prober (action=kill)
            probe = _Probe(stack)

        def note(_task: object, *_args: int, name: str = name) -> int:
            reached.add(name)
            return 0

        entry = table.entries[nr]
        kinds = entry.args if entry is not None else ()
        dispatcher: SyscallDispatcher = probe.coffer.dispatcher
        stand_in = SyscallEntry(nr, name, note, kinds)
        args = [probe.argument(kind) for kind in kinds]
        args += [0] * (ARG_REGISTERS - len(args))
        dispatcher._personal(probe.task, nr, stand_in, [nr, *args])
    return reached


def implemented() -> set[str]:
    """The calls this kernel model implements (its table)."""
    return set(default_table().implemented())


def host_interface(arch: KernelArchitecture, calls: set[str]) -> tuple[int, str]:
    """How much of what holds other containers' state ``calls`` (the calls passing the
    container's filters) can reach, and its unit."""
    if arch.shared_kernel:  # the shared kernel implements the whole ABI
        return len(calls), "calls into the shared kernel"
    if arch.per_call_is_virtualization:
        return len(SENTRY_HOST_CALLS), "host calls of the user-space kernel"
    exits = [kind for kind, cost, causes in (
        ("io", arch.io_exit, calls & VM_IO_CALLS), ("timer", arch.timer_exit,
                                                    calls & VM_TIMER_CALLS),
        ("ipi", arch.wakeup_exit, calls)) if cost and causes]
    if exits:
        return len(exits), "kinds of VM exit (" + ", ".join(exits) + ")"
    return 0, "none: no state of another container is reachable"


# -- (b) kernel objects shared -------------------------------------------------------------
def _note_users(machine: Machine) -> None:
    machine.note_users = True


def shared_objects(kernel: str, containers: int, seed: int) -> dict[str, list[str]]:
    """Kernel objects used by more than one container of a mixed run -> their users."""
    seen: dict[str, Machine] = {}
    specs = [ContainerSpec(str(resolve(MIX[i % len(MIX)][0])), MIX[i % len(MIX)][1])
             for i in range(containers)]
    run_mix(specs, kernel=kernel, cores=containers, base=CofferConfig(seed=seed),
            prepare=lambda machine: _note_users(seen.setdefault("machine", machine)))
    machine = seen["machine"]
    users: dict[str, set[str]] = {}
    for lock in machine.locks.locks.values():
        users.setdefault(f"lock {lock.name}", set()).update(lock.users)
    pools: dict[int, set[str]] = {}
    for coffer in machine.coffers:
        name, domain = coffer.config.name, coffer.domain
        if coffer.init is not None:  # its tasks were in its domain's task table
            users.setdefault(f"{TASK_TABLE}@{domain.name}#{id(domain)}", set()).add(name)
        if coffer.memory.pool is not None:
            pools.setdefault(id(coffer.memory.pool), set()).add(name)
        if name in domain.page_cache_users:
            users.setdefault(f"{PAGE_CACHE}@{domain.name}#{id(domain)}", set()).add(name)
    for pool, names in pools.items():
        users[f"{RAM}#{pool}"] = names
    return {_plain(obj): sorted(names) for obj, names in users.items() if len(names) > 1}


def _plain(obj: str) -> str:
    """An object's name without the identity that kept instances apart."""
    return obj.partition("#")[0]


def run(params: ExperimentParams) -> ExperimentResult:
    stacks = params.personalities if params.personalities != ((),) else DEFAULT_STACKS
    passed = {stack: passing(stack) for stack in stacks}
    own = implemented()
    rows: list[dict[str, Any]] = []
    for kernel in params.each_kernel("surface"):
        arch = architecture(kernel)
        shared = shared_objects(kernel, params.containers, params.seed)
        for stack in stacks:
            # A container on a shared kernel also passes Docker's seccomp filter.
            calls = passed[stack] - (DOCKER_SECCOMP_BLOCKED if arch.shared_kernel else set())
            size, unit = host_interface(arch, calls)
            rows.append({"kernel": kernel, "personalities": stack_label(stack),
                         "reachable_calls": len(calls & own), "abi_calls": len(calls),
                         "host_interface": size,
                         "host_interface_unit": unit, "shared_objects": len(shared),
                         "shared_object_names": ", ".join(sorted(shared))})
    return ExperimentResult(
        name="surface", rows=rows,
        configuration=configuration(params, stacks=[list(s) for s in stacks],
                                    mix=[" ".join((p, *a)) for p, a in MIX]),
        finding=_finding(rows), draw=lambda path: _draw(rows, path),
        columns=("kernel", "personalities", "reachable_calls", "abi_calls", "host_interface",
                 "shared_objects", "shared_object_names"))


def _finding(rows: list[dict[str, Any]]) -> str:
    kernels = list(dict.fromkeys(r["kernel"] for r in rows))
    own = [k for k in kernels if not architecture(k).shared_kernel]
    reference = (own or kernels or ["-"])[0]
    first = [r for r in rows if r["kernel"] == reference]
    calls = ", ".join(f"{r['personalities']} {r['reachable_calls']} ({r['abi_calls']} of the "
                      f"{len(SYSCALL_NAMES)}-call ABI)" for r in first)
    filtered = "".join(
        f"; on {k}, through Docker's seccomp filter: "
        + ", ".join(f"{r['personalities']} {r['abi_calls']}" for r in rows if r["kernel"] == k)
        for k in kernels if k not in own)
    shared = "; ".join(
        f"{k} {r['shared_objects']}" + (f" ({r['shared_object_names']})"
                                        if r["shared_objects"] else "")
        for k in kernels for r in [next(r for r in rows if r["kernel"] == k)])
    interface = "; ".join(f"{k} {r['host_interface']} {r['host_interface_unit']}"
                          for k in kernels for r in [next(r for r in rows if r["kernel"] == k)])
    return (f"System calls reaching an implementation on {reference}: {calls}{filtered}. "
            f"Interface to other containers' state (no personality): {interface}. "
            f"Kernel objects touched by more than one container: {shared}.")


def _draw(rows: list[dict[str, Any]], path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from cofferos.results.labels import short_labels
    from cofferos.results.plot import OKABE_ITO

    kernels = list(dict.fromkeys(r["kernel"] for r in rows))
    stacks = list(dict.fromkeys(r["personalities"] for r in rows))
    short = short_labels(stacks)  # without their options, unless two would look alike
    figure = Figure(figsize=(11.0, 4.2))
    FigureCanvasAgg(figure)
    calls_ax, shared_ax = figure.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / max(len(stacks), 1)
    for index, stack in enumerate(stacks):
        values = [next(r["abi_calls"] for r in rows
                       if r["kernel"] == k and r["personalities"] == stack) for k in kernels]
        positions = [k + (index - (len(stacks) - 1) / 2) * width for k in range(len(kernels))]
        calls_ax.bar(positions, values, width, label=short[stack],
                     color=OKABE_ITO[index % len(OKABE_ITO)])
    calls_ax.set_xticks(range(len(kernels)), kernels)
    calls_ax.set_xlabel("kernel")
    calls_ax.set_ylabel(f"calls of the {len(SYSCALL_NAMES)}-call ABI reaching the kernel")
    calls_ax.set_title("System calls passing the personalities (and, on linux, seccomp)")
    calls_ax.set_ylim(0, len(SYSCALL_NAMES) * LEGEND_HEADROOM)
    calls_ax.legend(title="personalities", fontsize="small", ncol=3, loc="upper center")
    shared = [next(r["shared_objects"] for r in rows if r["kernel"] == k) for k in kernels]
    shared_ax.bar(kernels, shared, color=OKABE_ITO[5])
    shared_ax.set_xlabel("kernel")
    shared_ax.set_ylabel("kernel objects used by > 1 container (count)")
    shared_ax.set_title("Shared kernel objects")
    figure.tight_layout()
    figure.savefig(path, dpi=150)


def redraw(result: ExperimentResult, out: str) -> None:
    """The figure of a result, run or loaded from its directory."""
    _draw(result.rows, out)
