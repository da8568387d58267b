"""/proc/config.gz: the simulated kernel's configuration, as CONFIG_IKCONFIG_PROC shows it.

Test suites (LTP's tst_kconfig, the kernel's selftests, systemd, container
runtimes' check scripts) read /proc/config.gz to decide what to run, so it must
say what the simulated kernel really does, not what a distribution kernel
would: an option is ``=y`` only when the coffer implements the feature, and
``# CONFIG_X is not set`` otherwise, in the format of ``make oldconfig``.

Options that stand for system calls are decided from the coffer's own system call
table (:class:`~cofferos.coffers.syscalls.table.SyscallTable`): ``=y`` when every
call of the feature has a handler, so the file follows the kernel as calls are
added and never claims one that answers ENOSYS. The others are fixed facts of the
model, each with its reason below. This is the one list of them.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

from cofferos.coffers.syscalls.process import UTS_RELEASE

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable

GZIP_MTIME = 0  #: a fixed gzip header time, so the file is the same in every run

#: Options whose value is a fact of the model: (option, implemented, why).
FIXED: tuple[tuple[str, bool, str], ...] = (
    ("64BIT", True, "x86-64 guests only"),
    ("X86_64", True, "x86-64 guests only"),
    ("MMU", True, "every process has its own address space"),
    ("SMP", True, "the timing machine models several cores"),
    ("MULTIUSER", True, "uids, gids and capabilities are checked"),
    ("PROC_FS", True, "/proc is generated from the coffer (procfs/)"),
    ("PROC_SYSCTL", True, "/proc/sys, read-only (procfs/sysctl.py)"),
    ("SYSCTL", True, "/proc/sys exists"),
    ("IKCONFIG", True, "this file"),
    ("IKCONFIG_PROC", True, "this file"),
    ("SHMEM", True, "tmpfs is the coffer's in-memory filesystem"),
    ("TMPFS", True, "mount -t tmpfs (syscalls/namespace.py)"),
    ("DEVTMPFS", False, "/dev is a fixed set of nodes made at boot (fs/defaults.py)"),
    ("SYSFS", False, "there is no /sys"),
    ("CGROUPS", True, "/proc/PID/cgroup and cgroup namespaces; the coffer is the "
     "resource container, one cgroup, no cgroup filesystem"),
    ("MODULES", False, "nothing can be loaded into the simulated kernel"),
    ("SWAP", False, "a coffer's memory limit is RAM only: no swap"),
    ("HUGETLBFS", False, "base pages only"),
    ("TRANSPARENT_HUGEPAGE", False, "base pages only"),
    ("NUMA", False, "one memory node"),
    ("BLOCK", False, "no block devices: files are in memory or imported from the host"),
    ("SECURITY", False, "no Linux security module; a coffer's policy is its personalities"),
    ("AUDIT", False, "no audit subsystem"),
    ("KPROBES", False, "no in-kernel instrumentation (the tracer is the simulator's)"),
    ("FTRACE", False, "no in-kernel instrumentation (the tracer is the simulator's)"),
    ("DEBUG_FS", False, "there is no debugfs"),
    ("PRINTK", False, "the kernel has no log a guest can read (no syslog(2), /dev/kmsg)"),
    ("NET", True, "sockets in the coffer's network namespace (coffers/net/)"),
    ("UNIX", True, "AF_UNIX sockets"),
    ("INET", True, "AF_INET TCP and UDP on the virtual network"),
    ("IPV6", False, "no AF_INET6"),
    ("FILE_LOCKING", True, "flock, POSIX and OFD locks (coffers/file_locks.py)"),
    ("DNOTIFY", True, "fcntl F_NOTIFY: directory change signals (coffers/dnotify.py)"),
    ("POSIX_TIMERS", True, "clocks and sleeps on the coffer's clock"),
    ("HIGH_RES_TIMERS", True, "clock resolution is 1 ns"),
    # unshare(2), see syscalls/nsproxy.py
    ("NAMESPACES", True, "unshare(2) of the namespaces below"),
    ("UTS_NS", True, "per-process host and domain names"),
    ("IPC_NS", True, "per-process System V IPC namespaces"),
    ("USER_NS", True, "user namespaces: coffers/userns.py"),
    ("PID_NS", True, "nested PID namespaces: coffers/pid_ns.py"),
    ("NET_NS", True, "network namespaces: coffers/net/namespace.py"),
    ("TIME_NS", True, "time namespaces: coffers/timens.py"),
)

#: Options that stand for system calls: (option, the calls it provides).
BY_CALLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("FUTEX", ("futex",)),
    ("EPOLL", ("epoll_create1", "epoll_ctl", "epoll_wait")),
    ("EVENTFD", ("eventfd2",)),
    ("TIMERFD", ("timerfd_create", "timerfd_settime", "timerfd_gettime")),
    ("SIGNALFD", ("signalfd4",)),
    ("INOTIFY_USER", ("inotify_init1", "inotify_add_watch")),
    ("FANOTIFY", ("fanotify_init",)),
    ("AIO", ("io_setup", "io_submit")),
    ("IO_URING", ("io_uring_setup",)),
    ("MEMFD_CREATE", ("memfd_create",)),
    ("FHANDLE", ("name_to_handle_at", "open_by_handle_at")),
    ("SYSVIPC", ("shmget", "semget", "msgget")),
    ("POSIX_MQUEUE", ("mq_open",)),
    ("BPF_SYSCALL", ("bpf",)),
    ("SECCOMP", ("seccomp",)),
    ("USERFAULTFD", ("userfaultfd",)),
    ("KCMP", ("kcmp",)),
    ("CHECKPOINT_RESTORE", ("kcmp", "process_vm_readv")),
    ("CROSS_MEMORY_ATTACH", ("process_vm_readv", "process_vm_writev")),
    ("ADVISE_SYSCALLS", ("madvise", "fadvise64")),
    ("MEMBARRIER", ("membarrier",)),
    ("RSEQ", ("rseq",)),
    ("KEYS", ("add_key", "keyctl")),
    ("QUOTA", ("quotactl",)),
    ("TMPFS_XATTR", ("setxattr", "getxattr", "listxattr", "removexattr")),
)


def options(table: SyscallTable) -> list[tuple[str, bool]]:
    """Every option and whether it is on, sorted by name."""
    have = set(table.implemented())
    decided = [(name, on) for name, on, _ in FIXED]
    decided += [(name, set(calls) <= have) for name, calls in BY_CALLS]
    return sorted(decided)


def config_text(table: SyscallTable) -> str:
    """The .config text, with the header ``make`` writes."""
    lines = ["#", "# Automatically generated file; DO NOT EDIT.",
             f"# Linux/x86 {UTS_RELEASE} Kernel Configuration", "#"]
    lines += [f"CONFIG_{name}=y" if on else f"# CONFIG_{name} is not set"
              for name, on in options(table)]
    return "\n".join(lines) + "\n"


def config_gz(table: SyscallTable) -> bytes:
    """/proc/config.gz's bytes: :func:`config_text` compressed, the same in every run."""
    return gzip.compress(config_text(table).encode(), mtime=GZIP_MTIME)
