"""``agent``: a kernel for an AI agent: path, exec and network policy, rates, quotas,
an audit trail, and filesystem checkpoints to roll back to.

Enforced in ``on_entry``, before the kernel sees the call:

- files: an open for writing (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND; and
  ``creat``) of a path outside the ``write`` prefixes, or any other open outside
  the ``read`` prefixes, is EACCES; so are the calls of :data:`NAME_CALLS` that
  change names (unlink, rename, mkdir, ...) outside the ``write`` prefixes.
  Paths are read from guest memory and made canonical through the coffer's
  filesystem: relative paths start at the cwd (or ``dirfd``), symlinked
  directories are resolved, and so is a symlink in the last component of an open.
  A prefix ``/tmp`` covers ``/tmp`` and everything below it.
- ``execve``/``execveat`` of a program not in ``exec`` (empty: any) is EACCES;
  past ``max_execs`` permitted execs, EDQUOT. A program is judged by the name it
  is run by (its directories resolved, a last-component symlink not followed), so
  that busybox applets can be allowed one by one: the listed paths must not be
  writable by the agent.
- ``connect`` to a peer not in ``connect`` is ECONNREFUSED. Peers are
  ``host:port`` from ``struct sockaddr_in`` (``[addr]:port`` for IPv6); ``*``
  matches any host or port. A Unix socket counts as a write of its path; AF_UNSPEC
  (disconnect) is allowed; other families are refused.
- ``rate``: token buckets ``class=n/s`` for the classes exec, write (writes to
  regular files), connect and open; a bucket holds ``n`` tokens and refills at
  ``n`` per second of the coffer's simulated clock. An empty bucket is EAGAIN.
- ``max_bytes_written``: the bytes written to regular files by write, pwrite64,
  writev and pwritev (counted from their results in ``on_exit``); a write that
  would pass the quota is cut short, and once it is reached writes are EDQUOT.

Lists in ``connect`` and ``rate`` are separated by ``,`` or ``;`` (use ``;``
inside a ``NAME:key=value,...`` spec, where ``,`` separates options).

Audit: every permitted exec, write open, name change and connect, and every
denial, is a JSON object (``time_ns``, ``pid``, ``event``, ``syscall``, and
``path``/``peer``, ``errno``) appended to the host file ``audit``, or kept in
:attr:`Agent.audit` when it is empty.

Cost: every call pays :data:`POLICY_CYCLES` (the quota counters and buckets);
a call whose path the agent resolves (opens, execs, name changes) pays
:data:`PATH_CHECK_CYCLES` more, a second walk of the path.

Checkpoints: :meth:`Agent.checkpoint` takes a deep copy of ``coffer.fs`` and
:meth:`Agent.rollback` installs a copy of it again. Rollback restores files,
directories and their metadata, nothing else: processes keep running, and their
open files, cwd and memory still refer to the inodes of the filesystem they had.
Roll back between runs or while no process holds files open.
"""

from __future__ import annotations

import copy
import errno
import ipaddress
import json
import os
import posixpath
import signal
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.lifecycle import CLONE_THREAD
from cofferos.coffers.syscalls.namei import AT_FDCWD, path_start, resolve_path
from cofferos.coffers.syscalls.uaccess import fd_arg
from cofferos.errors import ConfigError
from cofferos.personalities.base import KillTask, Option, Personality, SyscallContext

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Task

AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6 = 0, 1, 2, 10
SOCKADDR_MAX = 128  # sizeof(struct sockaddr_storage)
FAMILY = struct.Struct("<H")
PORT = struct.Struct(">H")  # sin_port / sin6_port, network byte order
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
NS_PER_SECOND = 1_000_000_000
#: The audit's events (``event`` of each entry) as published counters.
AUDIT_COUNTERS = {"deny": "denied", "open_write": "opens_for_writing",
                  "change": "name_changes", "connect": "connects"}
RATE_CLASSES = ("exec", "write", "connect", "open")
#: Opens: name -> (dirfd argument or None, path argument, flags argument or None).
OPEN_CALLS = {"open": (None, 0, 1), "openat": (0, 1, 2), "creat": (None, 0, None)}
EXEC_CALLS = {"execve": (None, 0), "execveat": (0, 1)}
#: Calls that change names: name -> ((dirfd argument or None, path argument), ...).
NAME_CALLS: dict[str, tuple[tuple[int | None, int], ...]] = {
    "unlink": ((None, 0),), "unlinkat": ((0, 1),), "rmdir": ((None, 0),),
    "mkdir": ((None, 0),), "mkdirat": ((0, 1),), "mknod": ((None, 0),),
    "mknodat": ((0, 1),), "truncate": ((None, 0),), "symlink": ((None, 1),),
    "symlinkat": ((1, 2),), "link": ((None, 1),), "linkat": ((2, 3),),
    "rename": ((None, 0), (None, 1)), "renameat": ((0, 1), (2, 3)),
    "renameat2": ((0, 1), (2, 3)), "chmod": ((None, 0),), "fchmodat": ((0, 1),),
    "chown": ((None, 0),), "lchown": ((None, 0),), "fchownat": ((0, 1),),
    "utimensat": ((0, 1),), "setxattr": ((None, 0),), "removexattr": ((None, 0),),
}
POLICY_CYCLES = 60  #: E: a few counters and a clock read, as one seccomp filter's fixed cost
PATH_CHECK_CYCLES = 1_500  #: E: a second path walk, as stat's (sim/costmodel.py)
WRITE_CALLS = frozenset({"write", "pwrite64", "writev", "pwritev", "pwritev2"})
PROCESS_CALLS = ("fork", "vfork", "clone")  #: the calls max_processes counts
#: The calls on_entry looks at whatever the quotas (hooks_for).
ENTRY_CALLS = frozenset({*OPEN_CALLS, *EXEC_CALLS, *NAME_CALLS, "connect", *WRITE_CALLS})


def _split(value: str, separators: str) -> list[str]:
    for separator in separators[1:]:
        value = value.replace(separator, separators[0])
    return [item.strip() for item in value.split(separators[0]) if item.strip()]


def _under(path: str, prefixes: list[str]) -> bool:
    return any(prefix == "/" or path == prefix or path.startswith(prefix + "/")
               for prefix in prefixes)


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``rate`` held; refilled on simulated time."""

    rate: float
    tokens: float
    last_ns: int = 0

    def take(self, now_ns: int) -> bool:
        elapsed = max(0, now_ns - self.last_ns)
        self.tokens = min(self.rate, self.tokens + elapsed * self.rate / NS_PER_SECOND)
        self.last_ns = now_ns
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _buckets(spec: str) -> dict[str, TokenBucket]:
    buckets = {}
    for item in _split(spec, ",;"):
        name, _, raw = item.partition("=")
        count, slash, unit = raw.partition("/")
        if name not in RATE_CLASSES or slash != "/" or unit != "s":
            raise ConfigError(f"agent: rate expects class=n/s with class in "
                              f"{', '.join(RATE_CLASSES)}, got {item!r}")
        try:
            rate = float(count)
        except ValueError:
            raise ConfigError(f"agent: rate {item!r}: {count!r} is not a number") from None
        buckets[name] = TokenBucket(rate, rate)
    return buckets


class Agent(Personality):
    name = "agent"
    description = "AI-agent sandbox: path/exec/connect policy, rates, quotas, audit, rollback"
    static_cost = True  # cost reads only the call's name
    options = {
        "read": Option(str, "/", "colon-separated path prefixes that may be read"),
        "write": Option(str, "/tmp", "colon-separated path prefixes that may be written"),
        "exec": Option(str, "", "colon-separated programs that may be executed (empty: any)"),
        "connect": Option(str, "", "host:port peers that may be connected to (empty: none)"),
        "rate": Option(str, "", "token buckets class=n/s; classes exec, write, connect, open"),
        "max_execs": Option(int, 0, "permitted execs in all (0: unlimited)"),
        "max_bytes_written": Option(int, 0, "bytes written to files in all (0: unlimited)"),
        "max_cycles": Option(int, 0, "cycles (user + kernel) per process, then SIGXCPU (0: none)"),
        "max_memory": Option(int, 0, "bytes of address space for the coffer (0: unlimited)"),
        "max_processes": Option(int, 0, "processes alive at once, fork beyond: EAGAIN (0: none)"),
        "audit": Option(str, "", "host file for JSON lines of the audit (empty: in memory)"),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.read_prefixes = [posixpath.normpath(p) for p in _split(self.config["read"], ":")]
        self.write_prefixes = [posixpath.normpath(p) for p in _split(self.config["write"], ":")]
        self.programs = {posixpath.normpath(p) for p in _split(self.config["exec"], ":")}
        self.peers = [peer.rpartition(":")[::2] for peer in _split(self.config["connect"], ",;")]
        self.buckets = _buckets(str(self.config["rate"]))
        self.audit: list[dict[str, Any]] = []
        self.execs = 0
        self.bytes_written = 0
        self.events: dict[str, int] = {}  #: audit events recorded, by kind (deny, exec ...)

    def counters(self) -> dict[str, int | float]:
        """Execs and bytes written against the quotas, and the audit's events by kind
        (:data:`AUDIT_COUNTERS`; ``denied`` counts every denial: path, exec, connect,
        quota or rate)."""
        return {"execs": self.execs, "bytes_written": self.bytes_written,
                **{name: self.events.get(event, 0) for event, name in AUDIT_COUNTERS.items()}}

    # -- policy slots (the same rules, for the kernel to ask) ---------------------------

    def may_open(self, task: Task, path: str, write: bool) -> bool:
        full = self._canonical(task, AT_FDCWD, path, True) or path
        return _under(full, self.write_prefixes if write else self.read_prefixes)

    def may_exec(self, task: Task, path: str) -> bool:
        full = self._canonical(task, AT_FDCWD, path, False) or path
        return not self.programs or full in self.programs

    def may_connect(self, task: Task, address: str, port: int) -> bool:
        return any(host in ("*", address, f"[{address}]") and want in ("*", str(port))
                   for host, want in self.peers)

    # -- hooks ------------------------------------------------------------------------

    def memory_limit(self) -> int | None:
        return int(self.config["max_memory"]) or None

    def _quota(self, ctx: SyscallContext) -> int | None:
        """The cycle and process quotas, checked on every call."""
        task = ctx.task
        if self.config["max_cycles"] and (task.process.user_cycles + task.kernel_cycles
                                          >= self.config["max_cycles"]):
            self._record(ctx, "deny", quota="cycles")
            raise KillTask(signal.SIGXCPU, "agent: cycle quota exhausted")
        if self.config["max_processes"] and ctx.name in PROCESS_CALLS and not (
                ctx.name == "clone" and ctx.args[0] & CLONE_THREAD):
            alive = sum(1 for p in task.coffer.processes.values() if not p.zombie)
            if alive >= self.config["max_processes"]:
                return self._deny(ctx, errno.EAGAIN, quota="processes")
        return None

    def hooks_for(self, name: str, nr: int) -> list[str]:
        """cost on every call; on_entry on every call under a cycle quota, else on the
        calls it checks; on_exit on the writes it counts."""
        hooks = ["cost"]
        if (self.config["max_cycles"] or name in ENTRY_CALLS
                or (self.config["max_processes"] and name in PROCESS_CALLS)):
            hooks.append("on_entry")
        if name in WRITE_CALLS:
            hooks.append("on_exit")
        return hooks

    def cost(self, ctx: SyscallContext, cycles: int) -> int:
        name = ctx.name
        checks_path = name in OPEN_CALLS or name in EXEC_CALLS or name in NAME_CALLS
        return cycles + POLICY_CYCLES + (PATH_CHECK_CYCLES if checks_path else 0)

    def on_entry(self, ctx: SyscallContext) -> int | None:
        quota = self._quota(ctx)
        if quota is not None:
            return quota
        name, args = ctx.name, ctx.args
        if name in OPEN_CALLS:
            dirfd, path_arg, flags_arg = OPEN_CALLS[name]
            flags = args[flags_arg] if flags_arg is not None else os.O_CREAT | os.O_WRONLY
            write = bool(flags & WRITE_FLAGS)
            path = self._path(ctx, dirfd, path_arg, follow=not flags & os.O_NOFOLLOW)
            if path is None:
                return None
            if not self.may_open(ctx.task, path, write):
                return self._deny(ctx, errno.EACCES, path=path)
            if not self._take(ctx, "open"):
                return -errno.EAGAIN
            if write:
                self._record(ctx, "open_write", path=path)
        elif name in EXEC_CALLS:
            path = self._path(ctx, *EXEC_CALLS[name], follow=False)
            if path is None:
                return None
            if not self.may_exec(ctx.task, path):
                return self._deny(ctx, errno.EACCES, path=path)
            limit = int(self.config["max_execs"])
            if limit and self.execs >= limit:
                return self._deny(ctx, errno.EDQUOT, path=path)
            if not self._take(ctx, "exec"):
                return -errno.EAGAIN
            self.execs += 1
            self._record(ctx, "exec", path=path)
        elif name in NAME_CALLS:
            for dirfd, path_arg in NAME_CALLS[name]:
                path = self._path(ctx, dirfd, path_arg, follow=False)
                if path is not None and not self.may_open(ctx.task, path, True):
                    return self._deny(ctx, errno.EACCES, path=path)
            self._record(ctx, "change", path=self._path(ctx, *NAME_CALLS[name][-1],
                                                         follow=False))
        elif name == "connect":
            return self._connect(ctx)
        elif name in WRITE_CALLS and self._regular(ctx.task, args[0]):
            return self._write(ctx)
        return None

    def on_exit(self, ctx: SyscallContext, result: int) -> int:
        if ctx.name in WRITE_CALLS and result > 0 and self._regular(ctx.task, ctx.args[0]):
            self.bytes_written += result
        return result

    def _write(self, ctx: SyscallContext) -> int | None:
        limit = int(self.config["max_bytes_written"])
        if limit and self.bytes_written >= limit:
            return self._deny(ctx, errno.EDQUOT)
        if not self._take(ctx, "write"):
            return -errno.EAGAIN
        if limit and ctx.name in ("write", "pwrite64"):
            ctx.args[2] = min(ctx.args[2], limit - self.bytes_written)
        return None

    def _connect(self, ctx: SyscallContext) -> int | None:
        task, (_fd, address, length) = ctx.task, ctx.args[:3]
        try:
            raw = ctx.read(address, min(length, SOCKADDR_MAX))
        except FsError:
            return None  # the kernel answers EFAULT
        if len(raw) < FAMILY.size:
            return None  # EINVAL from the kernel
        family = FAMILY.unpack_from(raw)[0]
        if family == AF_UNSPEC:
            return None
        if family == AF_UNIX:
            path = raw[FAMILY.size:].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if path and not self.may_open(task, self._canonical(task, AT_FDCWD, path, True)
                                          or path, True):
                return self._deny(ctx, errno.ECONNREFUSED, peer=f"unix:{path}")
            return None
        if family == AF_INET and len(raw) >= 8:
            host = str(ipaddress.IPv4Address(raw[4:8]))
        elif family == AF_INET6 and len(raw) >= 24:
            host = str(ipaddress.IPv6Address(raw[8:24]))
        else:
            return self._deny(ctx, errno.ECONNREFUSED, peer=f"family {family}")
        port = PORT.unpack_from(raw, 2)[0]
        peer = f"[{host}]:{port}" if family == AF_INET6 else f"{host}:{port}"
        if not self.may_connect(task, host, port):
            return self._deny(ctx, errno.ECONNREFUSED, peer=peer)
        if not self._take(ctx, "connect"):
            return -errno.EAGAIN
        self._record(ctx, "connect", peer=peer)
        return None

    # -- helpers ----------------------------------------------------------------------

    def _take(self, ctx: SyscallContext, kind: str) -> bool:
        bucket = self.buckets.get(kind)
        if bucket is None or bucket.take(ctx.task.coffer.monotonic_ns()):
            return True
        self._record(ctx, "deny", errno="EAGAIN", rate=kind)
        return False

    def _deny(self, ctx: SyscallContext, err: int, **what: Any) -> int:
        self._record(ctx, "deny", errno=errno.errorcode[err], **what)
        return -err

    def _record(self, ctx: SyscallContext, event: str, **what: Any) -> None:
        entry = {"time_ns": ctx.task.coffer.monotonic_ns(), "pid": ctx.task.tgid,
                 "event": event, "syscall": ctx.name, **what}
        self.events[event] = self.events.get(event, 0) + 1
        if self.config["audit"]:
            with open(self.config["audit"], "a") as log:
                log.write(json.dumps(entry) + "\n")
        else:
            self.audit.append(entry)

    def _path(self, ctx: SyscallContext, dirfd_arg: int | None, path_arg: int,
              follow: bool) -> str | None:
        """The canonical path of a path argument; None if the kernel will fail it anyway."""
        try:
            path = ctx.read_string(ctx.args[path_arg])
        except FsError:
            return None  # EFAULT / ENAMETOOLONG from the kernel
        dirfd = fd_arg(ctx.args[dirfd_arg]) if dirfd_arg is not None else AT_FDCWD
        return self._canonical(ctx.task, dirfd, path, follow) if path else None

    @staticmethod
    def _canonical(task: Task, dirfd: int, path: str, follow: bool) -> str | None:
        """The path as the kernel resolves it (``ctx.resolve_path``); None for a bad
        dirfd or an empty path (the kernel fails the call); for a path the lookup
        cannot walk (a missing directory: the call fails), the text, normalised."""
        try:
            start = path_start(task, dirfd, path)
        except FsError:
            return None
        try:
            return resolve_path(task, dirfd, path, follow)
        except FsError:  # a missing directory: the call fails; judge the text
            base = "/" if path.startswith("/") else _path_of(task.coffer.fs, start)
            return posixpath.normpath(posixpath.join(base, path))

    @staticmethod
    def _regular(task: Task, fd: int) -> bool:
        try:
            inode = task.files.get(fd_arg(fd)).inode
        except FsError:
            return False
        return inode is not None and inode.is_reg()

    # -- checkpoints ------------------------------------------------------------------

    def checkpoint(self, coffer: Coffer) -> FileSystem:
        """A snapshot of the coffer's files (the token for :meth:`rollback`)."""
        return _copy_fs(coffer, coffer.fs)

    def rollback(self, coffer: Coffer, token: FileSystem) -> None:
        """Restore the files of a checkpoint (not processes; see the module docstring).
        The token stays valid: it can be rolled back to again."""
        coffer.fs = _copy_fs(coffer, token)


def _path_of(fs: FileSystem, directory: Inode) -> str:
    try:
        return fs.path_of(directory)
    except FsError:
        return "/"


def _copy_fs(coffer: Coffer, fs: FileSystem) -> FileSystem:
    """A deep copy of a filesystem that shares the coffer (its clock, its /proc
    callables) instead of copying it."""
    return copy.deepcopy(fs, memo={id(coffer): coffer})
