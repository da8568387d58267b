"""Making sockets: socket(2) and socketpair(2)'s kernel half (net/socket.c, __sock_create).

:func:`sock_create` checks the family, type and protocol as Linux does and
makes the socket object of the right kind; :func:`socketpair` makes two
AF_UNIX sockets already connected to each other (unnamed, so their names read
back as the family alone).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.net.dgram import DgramSocket
from cofferos.coffers.net.netlink import NETLINK_ROUTE, NETLINK_TYPES, NetlinkSocket
from cofferos.coffers.net.sock import (
    IPPROTO_TCP,
    IPPROTO_UDP,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_SEQPACKET,
    SOCK_STREAM,
    Socket,
)
from cofferos.coffers.net.sockaddr import (
    AF_INET,
    AF_INET6,
    AF_NETLINK,
    AF_UNIX,
    AF_VSOCK,
    UnixName,
)
from cofferos.coffers.net.stream import StreamSocket
from cofferos.coffers.net.vsock import vsock_create

if TYPE_CHECKING:
    from cofferos.coffers.net.namespace import NetNamespace

PF_UNIX = AF_UNIX  #: the only protocol number AF_UNIX takes besides 0
#: Types per family, and the protocol 0 stands for.
INET_PROTOCOLS = {SOCK_STREAM: IPPROTO_TCP, SOCK_DGRAM: IPPROTO_UDP}
IPPROTO_UDPLITE = 136
"""include/uapi/linux/in.h. UDP-Lite (RFC 3828) is UDP whose checksum may cover
part of a datagram; on a network that loses and corrupts nothing it behaves as
UDP, in its own port space (sockets are found by protocol and port)."""
#: Protocols a type takes besides its default (net/ipv4/udplite.c's inetsw entry).
INET_OTHER_PROTOCOLS = {SOCK_DGRAM: frozenset({IPPROTO_UDPLITE})}
UNIX_TYPES = frozenset({SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET})


def sock_create(ns: NetNamespace, family: int, sock_type: int, protocol: int,
                nonblocking: bool = False) -> Socket:
    """A new socket; EAFNOSUPPORT, ESOCKTNOSUPPORT or EPROTONOSUPPORT as Linux says."""
    if family == AF_UNIX:
        if protocol not in (0, PF_UNIX):
            raise FsError(errno.EPROTONOSUPPORT)
        if sock_type not in UNIX_TYPES:
            raise FsError(errno.ESOCKTNOSUPPORT)
        protocol = 0
    elif family in (AF_INET, AF_INET6):
        default = INET_PROTOCOLS.get(sock_type)
        if default is None:
            # SOCK_RAW and the rest: a coffer has no raw access to any network.
            raise FsError(errno.EPROTONOSUPPORT if sock_type == SOCK_RAW
                          else errno.ESOCKTNOSUPPORT)
        if protocol in INET_OTHER_PROTOCOLS.get(sock_type, ()):
            return DgramSocket(ns, family, sock_type, protocol, nonblocking)
        if protocol not in (0, default):
            raise FsError(errno.EPROTONOSUPPORT)
        protocol = default
    elif family == AF_NETLINK:
        if sock_type not in NETLINK_TYPES:
            raise FsError(errno.ESOCKTNOSUPPORT)
        if protocol != NETLINK_ROUTE:
            raise FsError(errno.EPROTONOSUPPORT, f"netlink protocol {protocol}")
        return NetlinkSocket(ns, family, sock_type, protocol, nonblocking)
    elif family == AF_VSOCK:
        return vsock_create(ns, sock_type, protocol, nonblocking)
    else:
        raise FsError(errno.EAFNOSUPPORT, f"address family {family}")
    kind = DgramSocket if sock_type == SOCK_DGRAM else StreamSocket
    return kind(ns, family, sock_type, protocol, nonblocking)


def socketpair(ns: NetNamespace, family: int, sock_type: int, protocol: int,
               nonblocking: bool = False) -> tuple[Socket, Socket]:
    """Two connected AF_UNIX sockets (EOPNOTSUPP for the internet families)."""
    first = sock_create(ns, family, sock_type, protocol, nonblocking)
    if family != AF_UNIX:
        raise FsError(errno.EOPNOTSUPP, "socketpair is AF_UNIX only")
    second = sock_create(ns, family, sock_type, protocol, nonblocking)
    unnamed = UnixName()
    if isinstance(first, StreamSocket) and isinstance(second, StreamSocket):
        for end, other in ((first, second), (second, first)):
            end.peer, end.connected, end.peer_address = other, True, unnamed
    elif isinstance(first, DgramSocket) and isinstance(second, DgramSocket):
        for dend, dother in ((first, second), (second, first)):
            dend.peer_sock, dend.peer_address = dother, unnamed
    return first, second
