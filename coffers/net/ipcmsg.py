"""Ancillary data of internet datagrams: the TTL and TOS of IPv4 and the hop limit and
traffic class of IPv6 (net/ipv4/ip_sockglue.c's ip_cmsg_send and ip_cmsg_recv,
net/ipv6/datagram.c's ip6_datagram_send_ctl and ip6_datagram_recv_ctl; RFC 3542).

A datagram carries the header fields a receiver may ask for (:class:`IpHeader`):
its TTL or hop limit and its TOS or traffic class, from the sender's per-message
items (IP_TTL, IP_TOS; IPV6_HOPLIMIT, IPV6_TCLASS, each EINVAL out of range or
of the wrong size) or else its socket options (IP_TTL, IP_TOS;
IPV6_UNICAST_HOPS, IPV6_TCLASS). An IPV6_HOPLIMIT item of -1 means the default;
an IPV6_TCLASS item of -1 goes out as 255 (udpv6_sendmsg keeps the item's -1
over the socket's value and the header takes its low byte). The virtual network
has no routers, so what arrives is what was sent, as on Linux's loopback (a hop
limit or TTL of -1 or unset is the default, 64). A receiver that set IP_RECVTTL / IP_RECVTOS or
IPV6_RECVHOPLIMIT / IPV6_RECVTCLASS gets them as control items, in Linux's
order. Other items of the IP levels that Linux knows (PKTINFO, routing and
option headers, DONTFRAG ...) are accepted and change nothing; unknown ones are
EINVAL. Items of other levels are skipped, SOL_SOCKET ones are checked by
:func:`cofferos.coffers.net.scm.parse_control`.
"""

from __future__ import annotations

import errno
import struct
from typing import NamedTuple

from cofferos.coffers.fs import FsError
from cofferos.coffers.net.scm import ControlWriter, each_cmsg

IPPROTO_IP, IPPROTO_IPV6 = 0, 41
IP_TOS, IP_TTL, IP_RETOPTS, IP_PKTINFO, IP_RECVTTL, IP_RECVTOS = 1, 2, 7, 8, 12, 13
IPV6_UNICAST_HOPS, IPV6_PKTINFO, IPV6_HOPLIMIT, IPV6_TCLASS = 16, 50, 52, 67
IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS = 51, 66
#: The IPv6 items ip6_datagram_send_ctl takes besides the two it acts on: IPV6_2292PKTINFO,
#: FLOWINFO, 2292HOPOPTS, 2292DSTOPTS, 2292RTHDR, PKTINFO, HOPOPTS, RTHDRDSTOPTS,
#: RTHDR, DSTOPTS, DONTFRAG.
IPV6_OTHER_ITEMS = frozenset({2, 11, 3, 4, 5, 50, 54, 55, 57, 59, 62})
IPV4_OTHER_ITEMS = frozenset({IP_RETOPTS, IP_PKTINFO})
DEFAULT_TTL = 64  #: net.ipv4.ip_default_ttl and the IPv6 route's hop limit
USE_DEFAULT = -1  #: an IPV6_HOPLIMIT item or IPV6_UNICAST_HOPS of -1: the default hop limit
INT = struct.Struct("<i")
BYTE = struct.Struct("<B")


class IpHeader(NamedTuple):
    """The fields of a datagram's header that receivers may ask for."""

    ttl: int  #: IPv4 TTL or IPv6 hop limit
    tos: int  #: IPv4 TOS or IPv6 traffic class


def _int_item(payload: bytes, low: int, high: int) -> int:
    if len(payload) != INT.size:
        raise FsError(errno.EINVAL, "the item is not an int")
    (value,) = INT.unpack(payload)
    if not low <= value <= high:
        raise FsError(errno.EINVAL, "value out of range")
    return value


def header_for(options: dict[tuple[int, int], int], ipv6: bool, control: bytes) -> IpHeader:
    """The header fields of one datagram sent with ``control`` by a socket with
    ``options`` (EINVAL for a bad item of the socket's IP level)."""
    if ipv6:
        hops = options.get((IPPROTO_IPV6, IPV6_UNICAST_HOPS), USE_DEFAULT)
        tos = options.get((IPPROTO_IPV6, IPV6_TCLASS), 0)
    else:
        hops = options.get((IPPROTO_IP, IP_TTL), DEFAULT_TTL)
        tos = options.get((IPPROTO_IP, IP_TOS), 0)
    for level, kind, payload in each_cmsg(control):
        if ipv6 and level == IPPROTO_IPV6:
            if kind == IPV6_HOPLIMIT:
                value = _int_item(payload, USE_DEFAULT, 0xFF)
                hops = hops if value == USE_DEFAULT else value
            elif kind == IPV6_TCLASS:  # -1 is kept and sent as 0xff, as Linux 6 does
                tos = _int_item(payload, USE_DEFAULT, 0xFF) & 0xFF
            elif kind not in IPV6_OTHER_ITEMS:
                raise FsError(errno.EINVAL, f"IPv6 cmsg type {kind}")
        elif not ipv6 and level == IPPROTO_IP:
            if kind == IP_TTL:
                hops = _int_item(payload, 1, 0xFF)
            elif kind == IP_TOS:  # an int, or one byte (ip_cmsg_send)
                tos = BYTE.unpack(payload)[0] if len(payload) == 1 else _int_item(payload, 0, 0xFF)
            elif kind not in IPV4_OTHER_ITEMS:
                raise FsError(errno.EINVAL, f"IP cmsg type {kind}")
    return IpHeader(DEFAULT_TTL if hops == USE_DEFAULT else hops, tos)


def recv_control(options: dict[tuple[int, int], int], ipv6: bool, header: IpHeader,
                 room: int) -> tuple[bytes, int]:
    """The items a receiver asked for, in ``room`` bytes, and MSG_CTRUNC if cut."""
    out = ControlWriter(room)
    if ipv6:
        if options.get((IPPROTO_IPV6, IPV6_RECVHOPLIMIT)):
            out.put(IPPROTO_IPV6, IPV6_HOPLIMIT, INT.pack(header.ttl))
        if options.get((IPPROTO_IPV6, IPV6_RECVTCLASS)):
            out.put(IPPROTO_IPV6, IPV6_TCLASS, INT.pack(header.tos))
    else:
        if options.get((IPPROTO_IP, IP_RECVTTL)):
            out.put(IPPROTO_IP, IP_TTL, INT.pack(header.ttl))
        if options.get((IPPROTO_IP, IP_RECVTOS)):
            out.put(IPPROTO_IP, IP_TOS, BYTE.pack(header.tos))
    return out.result()
