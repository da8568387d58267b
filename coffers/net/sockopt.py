"""setsockopt and getsockopt (net/core/sock.c, tcp.c, ipv6_sockglue.c): which options exist.

Every option known here is accepted and stored in the socket's
:attr:`~.sock.Socket.options`; the ones that change behaviour are read from
there by the code they affect (buffer sizes, address reuse, IPV6_V6ONLY).
Integer options need at least an int (EINVAL); SO_LINGER is a ``struct
linger`` and SO_RCVTIMEO/SO_SNDTIMEO a ``struct timeval`` (stored, not
enforced). SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR, SO_ACCEPTCONN and
SO_PEERCRED (a ``struct ucred``) can only be read. An option of another level
on an AF_UNIX socket is EOPNOTSUPP, anything unknown ENOPROTOOPT, as in Linux.
Netlink sockets take SOL_NETLINK's flags, vsock sockets the AF_VSOCK level's
buffer sizes (:mod:`~.vsock`).
"""

from __future__ import annotations

import errno
import struct

from cofferos.coffers.fs import FsError
from cofferos.coffers.net.ipcmsg import (
    IP_RECVTOS,
    IP_RECVTTL,
    IP_TOS,
    IP_TTL,
    IPPROTO_IP,
    IPV6_RECVHOPLIMIT,
    IPV6_RECVTCLASS,
    IPV6_TCLASS,
    IPV6_UNICAST_HOPS,
)
from cofferos.coffers.net.scm import UCRED, peer_creds, ucred_seen_by
from cofferos.coffers.net.sock import (
    IPPROTO_IPV6,
    IPPROTO_TCP,
    IPV6_V6ONLY,
    SO_ACCEPTCONN,
    SO_BROADCAST,
    SO_DOMAIN,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_PASSCRED,
    SO_PEERCRED,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVTIMEO,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDTIMEO,
    SO_TYPE,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_NODELAY,
    Socket,
)
from cofferos.coffers.net.sockaddr import AF_INET6, AF_NETLINK, AF_UNIX, AF_VSOCK
from cofferos.coffers.net.vsock import VsockSocket

INT = struct.Struct("<i")
LINGER = struct.Struct("<ii")  #: struct linger: l_onoff, l_linger
TIMEVAL = struct.Struct("<qq")  #: struct __kernel_old_timeval: tv_sec, tv_usec
SO_OOBINLINE, SO_PRIORITY, SO_RCVLOWAT, SO_SNDLOWAT = 10, 12, 18, 19
TCP_MAXSEG, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT = 2, 4, 5, 6
IPDEFTTL = 64

#: Integer options each level knows, with the value of a new socket when not 0.
SOCKET_INTS = {SO_REUSEADDR: 0, SO_REUSEPORT: 0, SO_KEEPALIVE: 0, SO_BROADCAST: 0,
               SO_PASSCRED: 0, SO_RCVBUF: 0, SO_SNDBUF: 0, SO_OOBINLINE: 0, SO_PRIORITY: 0,
               SO_RCVLOWAT: 1, SO_SNDLOWAT: 1}
READ_ONLY = frozenset({SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR, SO_ACCEPTCONN, SO_PEERCRED})
TCP_INTS = {TCP_NODELAY: 0, TCP_MAXSEG: 536, TCP_KEEPIDLE: 7200, TCP_KEEPINTVL: 75,
            TCP_KEEPCNT: 9}
IP_INTS = {IP_TOS: 0, IP_TTL: IPDEFTTL, IP_RECVTTL: 0, IP_RECVTOS: 0}
IPV6_INTS = {IPV6_V6ONLY: 0, IPV6_UNICAST_HOPS: IPDEFTTL, IPV6_RECVHOPLIMIT: 0,
             IPV6_RECVTCLASS: 0, IPV6_TCLASS: 0}
# include/uapi/linux/netlink.h: SOL_NETLINK's options (stored; none changes anything:
# the coffer multicasts nothing, and acks carry no extended attributes)
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP, NETLINK_DROP_MEMBERSHIP, NETLINK_PKTINFO = 1, 2, 3
NETLINK_BROADCAST_ERROR, NETLINK_NO_ENOBUFS, NETLINK_LISTEN_ALL_NSID = 4, 5, 8
NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK = 10, 11, 12
NETLINK_INTS = {name: 0 for name in (
    NETLINK_ADD_MEMBERSHIP, NETLINK_DROP_MEMBERSHIP, NETLINK_PKTINFO, NETLINK_BROADCAST_ERROR,
    NETLINK_NO_ENOBUFS, NETLINK_LISTEN_ALL_NSID, NETLINK_CAP_ACK, NETLINK_EXT_ACK,
    NETLINK_GET_STRICT_CHK)}
STRUCT_OPTIONS = {SO_LINGER: LINGER, SO_RCVTIMEO: TIMEVAL, SO_SNDTIMEO: TIMEVAL}


def _level_ints(sock: Socket, level: int) -> dict[int, int]:
    """The integer options of ``level`` this socket has (EOPNOTSUPP/ENOPROTOOPT if none)."""
    if level == SOL_SOCKET:
        return SOCKET_INTS
    if sock.family == AF_UNIX:
        raise FsError(errno.EOPNOTSUPP, f"level {level} on an AF_UNIX socket")
    if sock.family == AF_NETLINK:
        if level == SOL_NETLINK:
            return NETLINK_INTS
        raise FsError(errno.ENOPROTOOPT, f"level {level} on a netlink socket")
    if sock.family == AF_VSOCK:
        raise FsError(errno.ENOPROTOOPT, f"level {level} on a vsock socket")
    if level == IPPROTO_TCP and sock.type == SOCK_STREAM:
        return TCP_INTS
    if level == IPPROTO_IP:
        return IP_INTS
    if level == IPPROTO_IPV6 and sock.family == AF_INET6:
        return IPV6_INTS
    raise FsError(errno.ENOPROTOOPT, f"level {level}")


def set_sockopt(sock: Socket, level: int, name: int, value: bytes) -> None:
    if isinstance(sock, VsockSocket) and level == AF_VSOCK:
        sock.set_vsock_option(name, value)
        return
    if level == SOL_SOCKET and name in STRUCT_OPTIONS:
        layout = STRUCT_OPTIONS[name]
        if len(value) < layout.size:
            raise FsError(errno.EINVAL, "option too short")
        sock.struct_options[name] = value[:layout.size]
        return
    if level == SOL_SOCKET and name in READ_ONLY:
        raise FsError(errno.ENOPROTOOPT, "read-only option")
    known = _level_ints(sock, level)
    if name not in known:
        raise FsError(errno.ENOPROTOOPT, f"option {name}")
    if len(value) < INT.size:
        raise FsError(errno.EINVAL, "option shorter than an int")
    if (level, name) == (IPPROTO_IPV6, IPV6_V6ONLY) and sock.local is not None:
        raise FsError(errno.EINVAL, "IPV6_V6ONLY after bind")
    sock.set_option(level, name, INT.unpack_from(value)[0])


def get_sockopt(sock: Socket, level: int, name: int) -> bytes:
    if isinstance(sock, VsockSocket) and level == AF_VSOCK:
        return sock.get_vsock_option(name)
    if level == SOL_SOCKET and name in STRUCT_OPTIONS:
        layout = STRUCT_OPTIONS[name]
        return sock.struct_options.get(name, bytes(layout.size))
    if level == SOL_SOCKET and name == SO_PEERCRED:
        creds = sock.peer_cred or peer_creds(None)
        return UCRED.pack(*ucred_seen_by(sock.ns.coffer.current, creds))
    if level == SOL_SOCKET and name in READ_ONLY:
        return INT.pack(sock.get_option(level, name))
    known = _level_ints(sock, level)
    if name not in known:
        raise FsError(errno.ENOPROTOOPT, f"option {name}")
    if (level, name) in sock.options:
        return INT.pack(sock.get_option(level, name))
    return INT.pack(known[name])
