"""``hardened``: a seccomp-like allow list, with every denial in an audit log.

Profiles: ``docker`` (Docker's default: everything but the calls its seccomp
profile blocks, such as ``mount``, ``reboot``, ``ptrace``, ``kexec_load``,
``bpf``, ``unshare``), ``minimal`` (what a static program needs to compute and
do file and pipe I/O), or ``file:PATH`` (one call name per line, read from the
host when the personality is created). A denied call gets ``-EPERM`` or, with
``action=kill``, kills the process with SIGSYS, as SECCOMP_RET_KILL_PROCESS.

Cost: every allowed call pays :data:`FILTER_CYCLES`, what one seccomp filter
costs Linux (its check is the same bitmap lookup); a denied call is charged by
the kernel as a seccomp denial (entry and exit, seccomp's entry cost and this
filter: :data:`cofferos.personalities.base.DENIAL_CYCLES`), never the call's work.
"""

from __future__ import annotations

import errno
import json
import signal
from typing import Any

from cofferos.coffers.syscalls.numbers import SYSCALL_NAMES
from cofferos.errors import ConfigError
from cofferos.personalities.base import (
    SECCOMP_FILTER_CYCLES,
    KillTask,
    Option,
    Personality,
    SyscallContext,
)

FILTER_CYCLES = SECCOMP_FILTER_CYCLES  #: M: seccomp_benchmark, first filter 17-40 ns

DOCKER_BLOCKED = frozenset({
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
    "delete_module", "finit_module", "get_kernel_syms", "get_mempolicy", "init_module",
    "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
    "mbind", "mount", "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at",
    "perf_event_open", "personality", "pivot_root", "process_vm_readv",
    "process_vm_writev", "ptrace", "query_module", "quotactl", "reboot", "request_key",
    "set_mempolicy", "setns", "settimeofday", "swapon", "swapoff", "sysfs", "_sysctl",
    "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old"})
MINIMAL = frozenset({
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "open", "openat",
    "close", "fstat", "stat", "lstat", "newfstatat", "statx", "brk", "mmap", "munmap",
    "mprotect", "mremap", "madvise", "exit", "exit_group", "arch_prctl", "set_tid_address",
    "set_robust_list", "rseq", "prlimit64", "getrandom", "readlink", "ioctl", "fcntl",
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "uname",
    "clock_gettime", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "getdents64", "futex", "pipe2",
    "dup", "dup2", "dup3", "getcwd", "access", "faccessat", "unlink", "unlinkat", "mkdir",
    "rename", "sched_yield"})


def _profile(spec: str) -> tuple[frozenset[str], bool]:
    """(names, is_allow_list) for a profile specification."""
    if spec == "docker":
        return DOCKER_BLOCKED, False
    if spec == "minimal":
        return MINIMAL, True
    if spec.startswith("file:"):
        path = spec[len("file:"):]
        try:
            with open(path) as listing:
                names = {line.strip() for line in listing if line.strip()
                         and not line.startswith("#")}
        except OSError as err:
            raise ConfigError(f"hardened: cannot read profile {path}: {err.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"hardened: profile {path} is not a text file (one system "
                              "call name a line)") from None
        unknown = names - set(SYSCALL_NAMES.values())
        if unknown:
            raise ConfigError(f"hardened: unknown system calls in {path}: {sorted(unknown)}")
        return frozenset(names), True
    raise ConfigError(f"hardened: profile must be docker, minimal or file:PATH, not {spec!r}")


class Hardened(Personality):
    name = "hardened"
    description = "seccomp-like allow list (docker, minimal, file:PATH); deny or kill; audit"
    static_cost = True  # cost reads only the call's name
    options = {
        "profile": Option(str, "docker", "docker, minimal or file:PATH"),
        "action": Option(str, "deny", "deny (EPERM) or kill (SIGSYS)"),
        "audit": Option(str, "", "host file for JSON lines of denials (empty: keep in memory)"),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.config["action"] not in ("deny", "kill"):
            raise ConfigError(f"hardened: action must be deny or kill, not "
                              f"{self.config['action']!r}")
        self.names, self.allow_list = _profile(str(self.config["profile"]))
        self.denials: list[dict[str, Any]] = []

    def counters(self) -> dict[str, int | float]:
        """Calls denied (each also in the audit: ``denials`` or the ``audit`` file)."""
        return {"denied": len(self.denials)}

    def hooks_for(self, name: str, nr: int) -> tuple[str, ...]:
        """A permitted call pays the filter (cost); only a refused one needs on_entry."""
        return ("cost",) if self.permits(name) else ("on_entry",)

    def cost(self, ctx: SyscallContext, cycles: int) -> int:
        # A denial's filter is in the kernel's denial charge already.
        return cycles + FILTER_CYCLES if self.permits(ctx.name) else cycles

    def permits(self, name: str) -> bool:
        return (name in self.names) == self.allow_list

    def on_entry(self, ctx: SyscallContext) -> int | None:
        if self.permits(ctx.name):
            return None
        record = {"time_ns": ctx.task.coffer.monotonic_ns(), "pid": ctx.task.tgid,
                  "syscall": ctx.name, "action": self.config["action"]}
        self.denials.append(record)
        if self.config["audit"]:
            with open(self.config["audit"], "a") as log:
                log.write(json.dumps(record) + "\n")
        if self.config["action"] == "kill":
            raise KillTask(signal.SIGSYS, f"hardened: {ctx.name} is not allowed")
        return -errno.EPERM
