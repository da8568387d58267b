"""Decoding a system call's arguments beyond their kinds: flags and guest structures.

:mod:`cofferos.coffers.syscalls.trace` renders each argument from the kind its
table entry declares (an fd, a path, open flags). Some calls need more: the
meaning of ``fcntl``'s third argument depends on its second, ``clone``'s flags
are a set of CLONE_* bits, and ``write``'s buffer, ``fstat``'s ``struct stat`` or
``connect``'s ``sockaddr`` live in guest memory. This module decodes them for
``--trace=verbose`` and for the debugger (:mod:`cofferos.debugger`):

    call_arguments(task, entry, args)      every argument, flags decoded by call
    call_details(task, name, args, result) the guest structures the call read or wrote

Nothing here changes guest or kernel state; a bad pointer shows as its address.
Constants come from the host's ``fcntl``, ``termios`` and ``resource`` modules where
Python has them (never its ``socket``: the kernel has its own network,
:mod:`cofferos.coffers.net`), else from the Linux header named beside them.
"""

from __future__ import annotations

import fcntl
import ipaddress
import resource
import stat
import struct
import termios
from collections.abc import Callable
from typing import TYPE_CHECKING

from cofferos.coffers.net.sockaddr import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    SA_FAMILY,
    SOCKADDR_IN,
    SOCKADDR_IN6,
    SOCKADDR_UN_SIZE,
    SUN_PATH_OFFSET,
)
from cofferos.coffers.syscalls.signal import KSIGACTION
from cofferos.coffers.syscalls.stat import STAT
from cofferos.coffers.syscalls.trace import _flags, format_arg
from cofferos.coffers.syscalls.uaccess import IOVEC, signed
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallEntry
    from cofferos.coffers.task import Task

MAX_SHOWN_BYTES = 32  #: bytes of a read/write buffer a line shows (strace -s 32)
MAX_SHOWN_IOVECS = 4
MAX_ERRNO = 4095

# arch/x86/include/uapi/asm/prctl.h
ARCH_PRCTL_CODES = {0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS",
                    0x1004: "ARCH_GET_GS", 0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID"}
# include/uapi/linux/prctl.h
PRCTL_OPTIONS = {1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE",
                 4: "PR_SET_DUMPABLE", 8: "PR_SET_KEEPCAPS", 15: "PR_SET_NAME",
                 16: "PR_GET_NAME", 21: "PR_GET_SECCOMP", 22: "PR_SET_SECCOMP",
                 23: "PR_CAPBSET_READ", 24: "PR_CAPBSET_DROP", 29: "PR_SET_TIMERSLACK",
                 30: "PR_GET_TIMERSLACK", 35: "PR_SET_MM", 36: "PR_SET_CHILD_SUBREAPER",
                 37: "PR_GET_CHILD_SUBREAPER", 38: "PR_SET_NO_NEW_PRIVS",
                 39: "PR_GET_NO_NEW_PRIVS", 47: "PR_CAP_AMBIENT", 0x53564D41: "PR_SET_VMA"}
FCNTL_NAMES = ("F_DUPFD", "F_GETFD", "F_SETFD", "F_GETFL", "F_SETFL", "F_GETLK", "F_SETLK",
               "F_SETLKW", "F_SETOWN", "F_GETOWN", "F_SETSIG", "F_GETSIG", "F_SETLEASE",
               "F_GETLEASE", "F_NOTIFY", "F_DUPFD_CLOEXEC", "F_SETPIPE_SZ", "F_GETPIPE_SZ",
               "F_ADD_SEALS", "F_GET_SEALS", "F_OFD_GETLK", "F_OFD_SETLK", "F_OFD_SETLKW")
FCNTL_COMMANDS = {getattr(fcntl, n): n for n in FCNTL_NAMES if hasattr(fcntl, n)}
IOCTL_NAMES = ("TCGETS", "TCSETS", "TCSETSW", "TCSETSF", "TIOCGWINSZ", "TIOCSWINSZ",
               "TIOCGPGRP", "TIOCSPGRP", "TIOCSCTTY", "TIOCNOTTY", "FIONREAD", "FIONBIO",
               "FIOCLEX", "FIONCLEX", "FIOASYNC", "TIOCGSID", "TIOCOUTQ")
IOCTL_REQUESTS = {getattr(termios, n): n for n in IOCTL_NAMES if hasattr(termios, n)}
RLIMITS = {getattr(resource, n): n for n in dir(resource) if n.startswith("RLIMIT_")}
RLIMIT = struct.Struct("<QQ")  # struct rlimit64: rlim_cur, rlim_max
RLIM_INFINITY = (1 << 64) - 1
# include/uapi/linux/sched.h; the low byte is the exit signal (CSIGNAL)
CLONE_FLAGS = [(0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"),
               (0x800, "CLONE_SIGHAND"), (0x1000, "CLONE_PIDFD"), (0x2000, "CLONE_PTRACE"),
               (0x4000, "CLONE_VFORK"), (0x8000, "CLONE_PARENT"), (0x10000, "CLONE_THREAD"),
               (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"),
               (0x100000, "CLONE_PARENT_SETTID"), (0x200000, "CLONE_CHILD_CLEARTID"),
               (0x400000, "CLONE_DETACHED"), (0x800000, "CLONE_UNTRACED"),
               (0x1000000, "CLONE_CHILD_SETTID"), (0x2000000, "CLONE_NEWCGROUP"),
               (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"),
               (0x10000000, "CLONE_NEWUSER"), (0x20000000, "CLONE_NEWPID"),
               (0x40000000, "CLONE_NEWNET"), (0x80000000, "CLONE_IO")]
CSIGNAL = 0xFF
# include/uapi/asm-generic/signal-defs.h and arch/x86/include/uapi/asm/signal.h
SA_FLAGS = [(0x1, "SA_NOCLDSTOP"), (0x2, "SA_NOCLDWAIT"), (0x4, "SA_SIGINFO"),
            (0x04000000, "SA_RESTORER"), (0x08000000, "SA_ONSTACK"),
            (0x10000000, "SA_RESTART"), (0x40000000, "SA_NODEFER"),
            (0x80000000, "SA_RESETHAND")]
SIG_HANDLERS = {0: "SIG_DFL", 1: "SIG_IGN"}
FD_FLAGS = [(fcntl.FD_CLOEXEC, "FD_CLOEXEC")]
FILE_TYPES = [(stat.S_IFSOCK, "S_IFSOCK"), (stat.S_IFLNK, "S_IFLNK"), (stat.S_IFREG, "S_IFREG"),
              (stat.S_IFBLK, "S_IFBLK"), (stat.S_IFDIR, "S_IFDIR"), (stat.S_IFCHR, "S_IFCHR"),
              (stat.S_IFIFO, "S_IFIFO")]
PORT = struct.Struct("!H")  # sin_port, in network order


def _read(task: Task, address: int, size: int) -> bytes | None:
    try:
        return task.cpu.read(address, size)
    except (MemoryFault, ValueError, OverflowError):
        return None


def show_bytes(data: bytes, limit: int = MAX_SHOWN_BYTES) -> str:
    """Bytes as strace shows a buffer: a C string literal, cut at ``limit``."""
    text = "".join(_escape(b) for b in data[:limit])
    return f'"{text}"' + ("..." if len(data) > limit else "")


def _escape(byte: int) -> str:
    escapes = {0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
    if byte in escapes:
        return escapes[byte]
    return chr(byte) if 0x20 <= byte < 0x7F else f"\\x{byte:02x}"


# -- arguments decoded by call ----------------------------------------------------------------
def _fcntl_arg(task: Task, args: list[int]) -> list[str]:
    command = signed(args[1], 32)
    shown = [format_arg(task, "fd", args[0]), FCNTL_COMMANDS.get(command, str(command))]
    name = FCNTL_COMMANDS.get(command, "")
    if name == "F_SETFD":
        shown.append(_flags(args[2], FD_FLAGS, "0"))
    elif name == "F_SETFL":
        shown.append(format_arg(task, "oflags", args[2]))
    elif name in ("F_DUPFD", "F_DUPFD_CLOEXEC", "F_SETSIG", "F_SETOWN", "F_SETPIPE_SZ"):
        shown.append(str(signed(args[2], 32)))
    elif name not in ("F_GETFD", "F_GETFL", "F_GETOWN", "F_GETSIG", "F_GETPIPE_SZ"):
        shown.append(hex(args[2]))
    return shown


def _ioctl_arg(task: Task, args: list[int]) -> list[str]:
    request = args[1] & 0xFFFF_FFFF
    return [format_arg(task, "fd", args[0]), IOCTL_REQUESTS.get(request, hex(request)),
            format_arg(task, "ptr", args[2])]


def _clone_flags(value: int) -> str:
    exit_signal = value & CSIGNAL
    names = _flags(value & ~CSIGNAL, CLONE_FLAGS, "")
    sig = format_arg(None, "signal", exit_signal) if exit_signal else ""  # type: ignore[arg-type]
    return "|".join(part for part in (names, sig) if part) or "0"


def _rlimit(task: Task, address: int) -> str:
    if not address:
        return "NULL"
    raw = _read(task, address, RLIMIT.size)
    if raw is None:
        return hex(address)
    cur, high = RLIMIT.unpack(raw)
    return f"{{rlim_cur={_limit(cur)}, rlim_max={_limit(high)}}}"


def _limit(value: int) -> str:
    return "RLIM64_INFINITY" if value == RLIM_INFINITY else str(value)


def _by_call(task: Task, name: str, args: list[int]) -> list[str] | None:
    """The arguments of the calls whose meaning a kind alone cannot give, else None."""
    if name == "fcntl":
        return _fcntl_arg(task, args)
    if name == "ioctl":
        return _ioctl_arg(task, args)
    if name == "arch_prctl":
        code = args[0] & 0xFFFF_FFFF
        return [ARCH_PRCTL_CODES.get(code, hex(code)), hex(args[1])]
    if name == "prctl":
        option = signed(args[0], 32)
        shown = PRCTL_OPTIONS.get(option, str(option))
        if shown == "PR_SET_NAME":
            return [shown, format_arg(task, "str", args[1])]
        return [shown, *(hex(v) for v in args[1:5])]
    if name == "prlimit64":
        which = signed(args[1], 32)
        return [str(signed(args[0], 32)), RLIMITS.get(which, str(which)),
                _rlimit(task, args[2]), format_arg(task, "ptr", args[3])]
    if name == "clone":
        return [_clone_flags(args[0]), *(format_arg(task, "ptr", v) for v in args[1:5])]
    return None


def call_arguments(task: Task, entry: SyscallEntry | None, name: str,
                   args: list[int]) -> list[str]:
    """Every argument of the call as a string: by call where that matters, else by kind."""
    decoded = _by_call(task, name, args)
    if decoded is not None:
        return decoded
    if entry is None:
        return [hex(v) for v in args]
    return [format_arg(task, kind, value) for kind, value in zip(entry.args, args, strict=False)]


# -- structures in guest memory ---------------------------------------------------------------
def _buffer(task: Task, address: int, length: int) -> str | None:
    if length <= 0:
        return None
    raw = _read(task, address, min(length, MAX_SHOWN_BYTES))
    if raw is None:
        return None
    return show_bytes(raw + (b"." if length > MAX_SHOWN_BYTES else b""))


def _iovecs(task: Task, address: int, count: int, total: int | None) -> str | None:
    parts = []
    left = total
    for index in range(min(max(count, 0), MAX_SHOWN_IOVECS)):
        raw = _read(task, address + index * IOVEC.size, IOVEC.size)
        if raw is None:
            return None
        base, length = IOVEC.unpack(raw)
        shown_len = length if left is None else min(length, left)
        if left is not None:
            left -= shown_len
        data = _buffer(task, base, shown_len) or '""'
        parts.append(f"{{iov_base={data}, iov_len={length}}}")
    more = ", ..." if count > MAX_SHOWN_IOVECS else ""
    return "[" + ", ".join(parts) + more + "]"


def _stat(task: Task, address: int) -> str | None:
    raw = _read(task, address, STAT.size)
    if raw is None:
        return None
    fields = STAT.unpack(raw)
    dev, ino, nlink, mode, uid, gid, _pad, _rdev, size = fields[:9]
    kind = next((n for bit, n in FILE_TYPES if stat.S_IFMT(mode) == bit), oct(stat.S_IFMT(mode)))
    return (f"{{st_dev={dev}, st_ino={ino}, st_mode={kind}|0{stat.S_IMODE(mode):o}, "
            f"st_nlink={nlink}, st_uid={uid}, st_gid={gid}, st_size={size}}}")


def sockaddr(task: Task, address: int, length: int) -> str | None:
    """A ``struct sockaddr`` of ``length`` bytes: AF_UNIX's path, AF_INET(6)'s address
    (the layouts of :mod:`cofferos.coffers.net.sockaddr`)."""
    raw = _read(task, address, min(max(length, 0), SOCKADDR_UN_SIZE))
    if not raw or len(raw) < SA_FAMILY.size:
        return None
    (family,) = SA_FAMILY.unpack_from(raw)
    if family == AF_UNIX:
        path = raw[SUN_PATH_OFFSET:]
        if path[:1] != b"\0":  # a path name ends at its NUL; an abstract one is all bytes
            path = path.split(b"\0")[0]
        return f"{{sa_family=AF_UNIX, sun_path={show_bytes(path, SOCKADDR_UN_SIZE)}}}"
    if family == AF_INET and len(raw) >= SOCKADDR_IN.size:
        _, port, ip = SOCKADDR_IN.unpack_from(raw)
        return (f"{{sa_family=AF_INET, sin_port=htons({PORT.unpack(port)[0]}), "
                f"sin_addr={ipaddress.IPv4Address(ip)}}}")
    if family == AF_INET6 and len(raw) >= SOCKADDR_IN6.size:
        _, port, _flow, ip, _scope = SOCKADDR_IN6.unpack_from(raw)
        return (f"{{sa_family=AF_INET6, sin6_port=htons({PORT.unpack(port)[0]}), "
                f"sin6_addr={ipaddress.IPv6Address(ip)}}}")
    return f"{{sa_family={family}}}"


def _sigaction(task: Task, address: int) -> str | None:
    raw = _read(task, address, KSIGACTION.size)
    if raw is None:
        return None
    handler, flags, restorer, mask = KSIGACTION.unpack(raw)
    shown = SIG_HANDLERS.get(handler, hex(handler))
    signals = [format_arg(None, "signal", n + 1)  # type: ignore[arg-type]
               for n in range(64) if mask >> n & 1]
    return (f"{{sa_handler={shown}, sa_mask=[{' '.join(signals)}], "
            f"sa_flags={_flags(flags, SA_FLAGS, '0')}, sa_restorer={hex(restorer)}}}")


def _ok(result: int | None) -> bool:
    return result is not None and not -MAX_ERRNO <= signed(result) < 0


Detail = Callable[["Task", list[int], "int | None"], "list[tuple[str, str | None]]"]


def _details_table() -> dict[str, Detail]:
    def written(t: Task, a: list[int], _r: int | None) -> list[tuple[str, str | None]]:
        return [("data", _buffer(t, a[1], a[2]))]

    def read(t: Task, a: list[int], r: int | None) -> list[tuple[str, str | None]]:
        return [("data", _buffer(t, a[1], signed(r)))] if _ok(r) else []

    def stat_at(index: int) -> Detail:
        return lambda t, a, r: [("stat", _stat(t, a[index]))] if r == 0 else []

    def address(index: int) -> Detail:
        return lambda t, a, r: [("addr", sockaddr(t, a[index], signed(a[index + 1], 32)))]

    return {
        "write": written, "pwrite64": written, "sendto": written,
        "read": read, "pread64": read, "recvfrom": read,
        "writev": lambda t, a, r: [("iov", _iovecs(t, a[1], signed(a[2], 32), None))],
        "readv": lambda t, a, r: ([("iov", _iovecs(t, a[1], signed(a[2], 32), signed(r)))]
                                  if _ok(r) else []),
        "fstat": stat_at(1), "stat": stat_at(1), "lstat": stat_at(1), "newfstatat": stat_at(2),
        "connect": address(1), "bind": address(1),
        "prlimit64": lambda t, a, r: [("old", _rlimit(t, a[3]) if a[3] and r == 0 else None)],
        "rt_sigaction": lambda t, a, r: [("act", _sigaction(t, a[1]) if a[1] else None),
                                         ("oldact", _sigaction(t, a[2])
                                          if a[2] and r == 0 else None)],
    }


DETAILS = _details_table()


def call_details(task: Task, name: str, args: list[int],
                 result: int | None = None) -> list[str]:
    """``field=value`` for each guest structure the call reads (before it runs) or wrote
    (``result`` given: after it); empty for a call with none."""
    decode = DETAILS.get(name)
    if decode is None:
        return []
    return [f"{label}={shown}" for label, shown in decode(task, args, result)
            if shown is not None]


