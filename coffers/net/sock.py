"""What every socket has: Linux's ``struct socket`` and the common half of ``struct sock``.

A :class:`Socket` is an open file description (``socket:[INO]``), so the
descriptor table, dup, fork, close, fstat, fcntl and poll treat it like any
other file: :meth:`poll_mask` says what it is ready for, :meth:`wait_queues`
which queue is woken when that may have changed (one per socket, Linux's
``sk_wq``), and :meth:`release` runs at the last close. read and write are
recv and send with no flags.

Subclasses carry the two ways data moves: :class:`~.stream.StreamSocket`
(SOCK_STREAM and SOCK_SEQPACKET: connections) and :class:`~.dgram.DgramSocket`
(SOCK_DGRAM: messages with addresses). How names are bound and found is the
socket's domain, :class:`~.unix.UnixDomain` or :class:`~.inet.InetDomain`, held
by the coffer's :class:`~.namespace.NetNamespace`.

Socket options live in :attr:`Socket.options`, keyed by (level, name); the ones
that change behaviour (SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY) are
read from there.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING, NamedTuple

from cofferos.coffers.files import POLLIN, POLLOUT, BrokenPipe, OpenFile
from cofferos.coffers.fs import FsError, StatResult
from cofferos.coffers.net.scm import Scm, discard
from cofferos.coffers.net.sockaddr import AF_UNIX, SockName
from cofferos.coffers.wait import Block, WaitQueue

if TYPE_CHECKING:
    from cofferos.coffers.net.ipcmsg import IpHeader
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.task import Task

# include/uapi/asm-generic/poll.h
POLLERR, POLLHUP, POLLRDHUP = 0x8, 0x10, 0x2000
# include/linux/socket.h: send and receive flags
MSG_OOB, MSG_PEEK, MSG_TRUNC = 0x1, 0x2, 0x20
MSG_DONTWAIT, MSG_EOR, MSG_WAITALL, MSG_NOSIGNAL = 0x40, 0x80, 0x100, 0x4000
MSG_CMSG_CLOEXEC = 0x40000000
# include/net/sock.h: sk_shutdown bits; shutdown(2)'s "how" (SHUT_RD, SHUT_WR, SHUT_RDWR)
RCV_SHUTDOWN, SEND_SHUTDOWN = 1, 2
SHUTDOWN_MASK = RCV_SHUTDOWN | SEND_SHUTDOWN
SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2
SOCKET_MODE = stat.S_IFSOCK | 0o777  #: sockfs inodes: srwxrwxrwx
SOCKET_BLKSIZE = 4096
SOCKFS_DEV = 8  #: sockfs is an anonymous mount; st_dev 0:8 is what Linux shows

# Option defaults (net.core.rmem_default / wmem_default; net.ipv4.tcp_rmem / tcp_wmem).
CORE_BUFFER_DEFAULT = 212992
TCP_RCVBUF_DEFAULT = 131072
TCP_SNDBUF_DEFAULT = 16384
SOCK_MIN_BUFFER = 4608  #: SOCK_MIN_RCVBUF-ish floor for SO_RCVBUF/SO_SNDBUF
BUFFER_MAX = 212992  #: net.core.rmem_max / wmem_max: what an unprivileged set may ask

# Socket types (include/linux/net.h) and option names (include/uapi/asm-generic/socket.h,
# linux/in.h, linux/tcp.h, linux/in6.h), as x86-64 Linux numbers them. This package
# never uses Python's socket module: nothing in a coffer may touch a host socket.
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET = 1, 2, 3, 5
SOL_SOCKET = 1
SO_REUSEADDR, SO_TYPE, SO_ERROR, SO_BROADCAST = 2, 3, 4, 6
SO_SNDBUF, SO_RCVBUF, SO_KEEPALIVE, SO_LINGER = 7, 8, 9, 13
SO_REUSEPORT, SO_ACCEPTCONN, SO_PROTOCOL, SO_DOMAIN = 15, 30, 38, 39
SO_RCVTIMEO, SO_SNDTIMEO, SO_PASSCRED, SO_PEERCRED = 20, 21, 16, 17
IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6 = 6, 17, 41
TCP_NODELAY = 1
IPV6_V6ONLY = 26
#: Options whose value the kernel reports as 0 or 1, whatever non-zero was set.
BOOLEAN_OPTIONS = frozenset({(SOL_SOCKET, SO_REUSEADDR), (SOL_SOCKET, SO_REUSEPORT),
                             (SOL_SOCKET, SO_KEEPALIVE), (SOL_SOCKET, SO_BROADCAST),
                             (SOL_SOCKET, SO_PASSCRED), (IPPROTO_TCP, TCP_NODELAY),
                             (IPPROTO_IPV6, IPV6_V6ONLY)})


class Received(NamedTuple):
    """What one receive got: the bytes, msg_flags, the sender's name, and the
    length the call returns when it is not ``len(data)`` (MSG_TRUNC)."""

    data: bytes
    flags: int = 0
    sender: SockName | None = None
    length: int | None = None
    #: What came with it: AF_UNIX credentials and files, or a UDP datagram's header fields.
    scm: Scm | IpHeader | None = None

    @property
    def result(self) -> int:
        return len(self.data) if self.length is None else self.length


def would_block(nonblocking: bool, queues: tuple[WaitQueue, ...]) -> Block:
    """EAGAIN for a non-blocking call, else the Block that puts the caller to sleep."""
    if nonblocking:
        raise FsError(errno.EAGAIN)
    return Block(queues)


def broken_pipe(flags: int) -> FsError:
    """EPIPE, with SIGPIPE for the sender unless it said MSG_NOSIGNAL."""
    return FsError(errno.EPIPE) if flags & MSG_NOSIGNAL else BrokenPipe()


class Socket(OpenFile):
    """A socket of any domain and type; see the module docstring."""

    seekable = False
    connection_oriented = False  #: reached through listen/accept rather than by address
    local: SockName | None
    #: AF_UNIX (sk_peer_cred): the peer's (pid, euid, egid) for SO_PEERCRED; None: no peer.
    peer_cred: tuple[int, int, int] | None = None
    #: AF_UNIX listeners: the credentials at listen(), which connecting clients learn.
    own_cred: tuple[int, int, int] | None = None

    def __init__(self, ns: NetNamespace, family: int, sock_type: int, protocol: int,
                 nonblocking: bool = False) -> None:
        self.ino = ns.alloc_ino()
        super().__init__(os.O_RDWR | (os.O_NONBLOCK if nonblocking else 0),
                         f"socket:[{self.ino}]")
        self.ns = ns
        self.family = family
        self.type = sock_type
        self.protocol = protocol
        self.domain = ns.domain(family)
        self.wq = WaitQueue()
        self.local = None  #: the bound name (None: not bound)
        self.error = 0  #: sk_err: reported once by the next call or by SO_ERROR
        self.shutdown = 0  #: RCV_SHUTDOWN | SEND_SHUTDOWN
        self.released = False
        self.options: dict[tuple[int, int], int] = self.default_options()
        self.struct_options: dict[int, bytes] = {}  #: SO_LINGER, SO_RCVTIMEO ...: raw

    # -- options -----------------------------------------------------------------------
    def default_options(self) -> dict[tuple[int, int], int]:
        unix = self.family == AF_UNIX
        return {(SOL_SOCKET, SO_RCVBUF): CORE_BUFFER_DEFAULT if unix else TCP_RCVBUF_DEFAULT,
                (SOL_SOCKET, SO_SNDBUF): CORE_BUFFER_DEFAULT if unix else TCP_SNDBUF_DEFAULT}

    def option(self, level: int, name: int) -> int:
        return self.options.get((level, name), 0)

    def set_option(self, level: int, name: int, value: int) -> None:
        if (level, name) in BOOLEAN_OPTIONS:
            value = int(value != 0)
        elif (level, name) in ((SOL_SOCKET, SO_RCVBUF), (SOL_SOCKET, SO_SNDBUF)):
            value = max(min(value, BUFFER_MAX) * 2, SOCK_MIN_BUFFER)  # Linux doubles it
        self.options[(level, name)] = value

    def get_option(self, level: int, name: int) -> int:
        """The value getsockopt reports; the generic SOL_SOCKET answers are here."""
        if level == SOL_SOCKET:
            if name == SO_TYPE:
                return self.type
            if name == SO_DOMAIN:
                return self.family
            if name == SO_PROTOCOL:
                return self.protocol
            if name == SO_ERROR:
                error, self.error = self.error, 0
                return error
            if name == SO_ACCEPTCONN:
                return int(self.listening)
        return self.option(level, name)

    @property
    def listening(self) -> bool:
        return False

    def take_error(self) -> int:
        """sock_error: the pending error, cleared (0 if none)."""
        error, self.error = self.error, 0
        return error

    def nonblocking(self, flags: int = 0) -> bool:
        return bool(self.flags & os.O_NONBLOCK or flags & MSG_DONTWAIT)

    def changed(self) -> None:
        """Readiness may have changed: wake whoever sleeps on this socket."""
        self.wq.wake_all()

    # -- the protocol operations (struct proto_ops) -------------------------------------
    def bind(self, task: Task, name: SockName) -> None:
        self.domain.bind(task, self, name)  # type: ignore[arg-type]

    def connect(self, task: Task, name: SockName | None) -> None:
        raise FsError(errno.EOPNOTSUPP)

    def listen(self, backlog: int) -> None:
        raise FsError(errno.EOPNOTSUPP)

    def accept(self, nonblocking: bool) -> Socket:
        raise FsError(errno.EOPNOTSUPP)

    def send(self, task: Task | None, data: bytes, flags: int, name: SockName | None) -> int:
        """Send ``data`` (to ``name``, resolved from ``task``'s cwd, if given)."""
        raise NotImplementedError

    def send_copy_limit(self, length: int) -> int:
        """How many of ``length`` bytes a send must copy from the guest to decide its
        result: no more than the socket could take now (plus one, so that an oversized
        message still meets its EMSGSIZE check), never the whole buffer when the
        guest offers gigabytes. Linux likewise copies only what fits in the send buffer."""
        return length

    def recv(self, size: int, flags: int) -> Received:
        """One receive of at most ``size`` bytes."""
        raise NotImplementedError

    def shut(self, how: int) -> None:
        raise NotImplementedError

    def sock_name(self) -> SockName:
        return self.local if self.local is not None else self.domain.unbound_name(self)

    def peer_name(self) -> SockName:
        raise FsError(errno.ENOTCONN)

    def unhash(self) -> None:
        """Give up the bound name (at release)."""
        if self.local is not None:
            self.domain.unbind(self)

    # -- the open file -------------------------------------------------------------
    def read(self, size: int) -> bytes:
        got = self.recv(size, 0)
        discard(got.scm)  # no control buffer: files that came with it are closed
        return got.data

    def write(self, data: bytes) -> int:
        return self.send(None, data, 0, None)

    def release(self) -> None:
        self.released = True
        self.unhash()
        self.changed()

    def poll_mask(self) -> int:
        return POLLIN | POLLOUT

    def wait_queues(self) -> tuple[WaitQueue, ...]:
        return (self.wq,)

    def stat(self) -> StatResult:
        return StatResult(st_dev=SOCKFS_DEV, st_ino=self.ino, st_mode=SOCKET_MODE, st_nlink=1,
                          st_uid=0, st_gid=0, st_rdev=0, st_size=0,
                          st_blksize=SOCKET_BLKSIZE, st_blocks=0, st_atime_ns=0,
                          st_mtime_ns=0, st_ctime_ns=0)
