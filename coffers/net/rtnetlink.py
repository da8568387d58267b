"""NETLINK_ROUTE's kernel side: requests in, answers out (net/core/rtnetlink.c,
net/netlink/af_netlink.c's netlink_rcv_skb, netlink_ack and netlink_dump,
net/ipv4/devinet.c, net/ipv6/addrconf.c, net/ipv4/fib_trie.c).

:func:`rtnetlink_rcv` takes the bytes one sendmsg gave the kernel and returns the
datagrams to queue on the sender, in order. It walks the messages as
netlink_rcv_skb does: a truncated header ends the walk; a message without
NLM_F_REQUEST, or a control message (type below NLMSG_MIN_TYPE), is only acked
(if NLM_F_ACK); the rest go to rtnetlink, whose error or success is acked as
netlink_ack does (NLMSG_ERROR: the error, then the request's header, and its
payload too when the error is not 0; NLM_F_CAPPED when it is left out).

What rtnetlink answers, from the coffer's devices (:mod:`~.netdev`):

* RTM_GETLINK with NLM_F_DUMP: one RTM_NEWLINK per device (any family: only
  PF_UNSPEC has a link dump); without, the device named by ``ifi_index`` or by
  IFLA_IFNAME (ENODEV if none, EINVAL if neither is given);
* RTM_GETADDR with NLM_F_DUMP: the IPv4 addresses (devinet), then the IPv6 ones
  (addrconf), or one family's if the request names AF_INET or AF_INET6;
* RTM_GETROUTE with NLM_F_DUMP, AF_INET: the routes the kernel makes for the
  addresses (main table, then local: local, broadcast), and a default route
  through eth0 on a network. IPv6 route dumps, and route lookups (a GETROUTE
  without NLM_F_DUMP), are EOPNOTSUPP;
* RTM_NEWLINK on an existing device (by ``ifi_index`` or IFLA_IFNAME) with only
  flags to change (``ip link set lo up``): IFF_UP as ``ifi_flags`` and
  ``ifi_change`` combine it with the device's (rtnl_dev_combine_flags), through
  the caller's ``set_flags``;
* RTM_GETNSID, and a dump of it, from the caller's ``query`` (:mod:`~.rtnl_change`);
* any other request: types past RTM_MAX and gets nobody handles are EOPNOTSUPP;
  a change (NEW/DEL/SET) needs CAP_NET_ADMIN in the user namespace owning the
  network namespace (EPERM) and then goes to the caller's ``change``
  (:mod:`~.rtnl_change`: veth pairs, their addresses and routes); without one,
  only the flags above, and the rest EOPNOTSUPP.

A veth end's RTM_NEWLINK carries IFLA_LINK (its peer's index), IFLA_LINKINFO's
IFLA_INFO_KIND and, with its peer in another namespace, IFLA_LINK_NETNSID.

Dumps are packed as netlink_dump packs them: messages into datagrams of at most
NLMSG_GOODSIZE bytes, each flagged NLM_F_MULTI, and NLMSG_DONE in a datagram of
its own after dumpers that return ``skb->len`` (the link, route and all-family
address dumps), or after the last message when it fits and the dumper returns 0
at the end (addrconf's IPv6 address dump), which is what this host's 6.18 kernel
was seen to do (``tests/sockets/netlink.c``).
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable, Iterable

from cofferos.coffers.net.netdev import (
    DEFAULT_TXQLEN,
    ETH0_INDEX,
    IFF_UP,
    IFNAMSIZ,
    RT_SCOPE_HOST,
    RT_SCOPE_LINK,
    IfAddr,
    NetDevice,
)
from cofferos.coffers.net.sockaddr import AF_INET, AF_INET6, AF_UNSPEC

#: What changes a device's flags: (the device, its new flags); :func:`~.netdev.set_up`.
SetFlags = Callable[[NetDevice, int], None]
#: What serves a change (NEW/DEL/SET) request: (its type, nlmsg_flags, its payload);
#: raises :class:`RtnlError` (:mod:`~.rtnl_change`).
Change = Callable[[int, int, bytes], None]
#: What answers a get request rtnetlink does not (RTM_GETNSID): (its type, nlmsg_flags,
#: payload, seq, portid) -> the datagrams, or None for "not mine".
Query = Callable[[int, int, bytes, int, int], "list[bytes] | None"]

# include/uapi/linux/netlink.h
NLMSGHDR = struct.Struct("<IHHII")  #: nlmsg_len, nlmsg_type, nlmsg_flags, nlmsg_seq, nlmsg_pid
NLMSG_ALIGNTO = 4
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_ROOT, NLM_F_MATCH = 0x100, 0x200
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400  #: on a NEW request (the same bits as ROOT, MATCH)
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_CAPPED = 0x100  #: on an NLMSG_ERROR: the request's payload is left out
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NLMSG_MIN_TYPE = 0x10  #: below: control messages, reserved
RTA = struct.Struct("<HH")  #: struct rtattr: rta_len, rta_type
INT = struct.Struct("<i")
U32 = struct.Struct("<I")
# include/uapi/linux/rtnetlink.h
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_MAX = 123  #: ((__RTM_MAX + 3) & ~3) - 1 since RTM_NEWTUNNEL (Linux 5.18)
RTM_KIND_GET = 2  #: type & 3: NEW 0, DEL 1, GET 2, SET 3
RTGENMSG = struct.Struct("<B")  #: struct rtgenmsg: rtgen_family (what every request starts with)
IFINFOMSG = struct.Struct("<BxHiII")  #: family, type, index, flags, change
IFADDRMSG = struct.Struct("<BBBBI")  #: family, prefixlen, flags, scope, index
#: struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
RTMSG = struct.Struct("<BBBBBBBBI")
# include/uapi/linux/if_link.h: link attributes
IFLA_ADDRESS, IFLA_BROADCAST, IFLA_IFNAME, IFLA_MTU = 1, 2, 3, 4
IFLA_STATS, IFLA_TXQLEN, IFLA_OPERSTATE, IFLA_LINKMODE = 7, 13, 16, 17
IFLA_QDISC, IFLA_EXT_MASK = 6, 29
IFLA_LINK, IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_GROUP = 5, 18, 1, 27
INIT_NETDEV_GROUP = 0  #: every device's group (iproute2 prints "group default")
IFLA_NET_NS_PID, IFLA_NET_NS_FD, IFLA_LINK_NETNSID = 19, 28, 37
NLA_TYPE_MASK = 0x3FFF  #: an attribute's type without NLA_F_NESTED, NLA_F_NET_BYTEORDER
#: What an RTM_NEWLINK that only changes flags may carry besides them.
SETLINK_ATTRS = frozenset({IFLA_IFNAME, IFLA_EXT_MASK})
RTNL_LINK_STATS_WORDS = 24  #: struct rtnl_link_stats: 24 __u32 counters (all 0 here)
# include/uapi/linux/if_addr.h: address attributes and flags
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_BROADCAST = 1, 2, 3, 4
IFA_CACHEINFO, IFA_FLAGS = 6, 8
IFA_F_PERMANENT = 0x80
IFA_CACHEINFO_S = struct.Struct("<IIII")  #: ifa_prefered, ifa_valid, cstamp, tstamp
INFINITY_LIFE_TIME = 0xFFFFFFFF
# include/uapi/linux/rtnetlink.h: routes
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 7, 15
RT_TABLE_MAIN, RT_TABLE_LOCAL = 254, 255
RTPROT_KERNEL = 2
RTPROT_BOOT = 3  #: what ``ip route add default dev eth0`` would have given
IPV4_BITS = 32
RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST = 1, 2, 3
NLMSG_GOODSIZE = 4096 - 320
"""SKB_WITH_OVERHEAD(PAGE_SIZE): a dump datagram's room (4 KiB less skb_shared_info)."""

Message = bytes


def nlmsg_align(length: int) -> int:
    return (length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1)


def nlmsg(msg_type: int, flags: int, seq: int, portid: int, payload: bytes) -> Message:
    """A whole message, padded to NLMSG_ALIGNTO (nlmsg_put)."""
    length = NLMSGHDR.size + len(payload)
    return NLMSGHDR.pack(length, msg_type, flags, seq, portid) + payload.ljust(
        nlmsg_align(length) - NLMSGHDR.size, b"\0")


def rta(attr_type: int, payload: bytes) -> bytes:
    """One attribute, padded (nla_put)."""
    length = RTA.size + len(payload)
    return (RTA.pack(length, attr_type) + payload).ljust(nlmsg_align(length), b"\0")


# -- what the kernel says about its devices ---------------------------------------------
def link_payload(dev: NetDevice) -> bytes:
    """rtnl_fill_ifinfo, with the attributes the model keeps, in Linux's order."""
    return (IFINFOMSG.pack(AF_UNSPEC, dev.type, dev.index, dev.flags, 0)
            + rta(IFLA_IFNAME, dev.name.encode() + b"\0")
            + rta(IFLA_TXQLEN, U32.pack(DEFAULT_TXQLEN))
            + rta(IFLA_OPERSTATE, bytes([dev.operstate]))
            + rta(IFLA_LINKMODE, b"\0")
            + rta(IFLA_MTU, U32.pack(dev.mtu))
            + rta(IFLA_GROUP, U32.pack(INIT_NETDEV_GROUP))
            + (rta(IFLA_LINK, INT.pack(dev.iflink)) if dev.iflink else b"")
            + rta(IFLA_QDISC, dev.qdisc.encode() + b"\0")
            + rta(IFLA_ADDRESS, dev.hwaddr)
            + rta(IFLA_BROADCAST, dev.hwbroadcast)
            + rta(IFLA_STATS, bytes(4 * RTNL_LINK_STATS_WORDS))
            + (rta(IFLA_LINKINFO, rta(IFLA_INFO_KIND, dev.kind.encode() + b"\0"))
               if dev.kind else b"")
            + (b"" if dev.link_netnsid is None
               else rta(IFLA_LINK_NETNSID, INT.pack(dev.link_netnsid))))


def addr_payload(dev: NetDevice, addr: IfAddr) -> bytes:
    """inet_fill_ifaddr (IPv4) or inet6_fill_ifaddr (IPv6)."""
    head = IFADDRMSG.pack(addr.family, addr.prefixlen, IFA_F_PERMANENT, addr.scope, dev.index)
    cache = rta(IFA_CACHEINFO, IFA_CACHEINFO_S.pack(INFINITY_LIFE_TIME, INFINITY_LIFE_TIME, 0, 0))
    flags = rta(IFA_FLAGS, U32.pack(IFA_F_PERMANENT))
    packed = addr.address.packed
    if addr.family == AF_INET6:
        return head + rta(IFA_ADDRESS, packed) + cache + flags
    body = rta(IFA_ADDRESS, packed) + rta(IFA_LOCAL, packed)
    if addr.broadcast is not None:
        body += rta(IFA_BROADCAST, addr.broadcast.packed)
    return head + body + rta(IFA_LABEL, dev.name.encode() + b"\0") + flags + cache


def ipv4_routes(devices: Iterable[NetDevice]) -> list[bytes]:
    """fib_dump_info for the routes fib_add_ifaddr makes for each IPv4 address (its
    prefix: RTN_LOCAL on lo, RTN_UNICAST in the main table elsewhere; the address
    itself; the prefix's broadcast below /31), eth0's default route and the routes
    added through a device, in the trie's order: the main table, then the local one,
    each by destination."""
    routes: list[tuple[int, int, int, int, int, int, IfAddr | None, NetDevice]] = []
    gateways: dict[tuple[int, int], bytes] = {}
    for dev in devices:
        for addr in dev.addrs:
            if addr.family != AF_INET:
                continue
            host_bits = (1 << (32 - addr.prefixlen)) - 1
            prefix = int(addr.address) & ~host_bits
            if dev.loopback:
                routes.append((RT_TABLE_LOCAL, prefix, addr.prefixlen, RTN_LOCAL,
                               RT_SCOPE_HOST, RTPROT_KERNEL, addr, dev))
            else:
                routes.append((RT_TABLE_MAIN, prefix, addr.prefixlen, RTN_UNICAST,
                               RT_SCOPE_LINK, RTPROT_KERNEL, addr, dev))
            routes.append((RT_TABLE_LOCAL, int(addr.address), IPV4_BITS, RTN_LOCAL,
                           RT_SCOPE_HOST, RTPROT_KERNEL, addr, dev))
            if addr.prefixlen < IPV4_BITS - 1:
                routes.append((RT_TABLE_LOCAL, prefix | host_bits, IPV4_BITS, RTN_BROADCAST,
                               RT_SCOPE_LINK, RTPROT_KERNEL, addr, dev))
        if dev.index == ETH0_INDEX and not dev.kind:
            routes.append((RT_TABLE_MAIN, 0, 0, RTN_UNICAST, RT_SCOPE_LINK, RTPROT_BOOT,
                           None, dev))
        for static in dev.routes:
            dst = int(static.network.network_address)
            routes.append((RT_TABLE_MAIN, dst, static.network.prefixlen, RTN_UNICAST,
                           static.scope, static.protocol, None, dev))
            if static.gateway is not None:
                gateways[dst, static.network.prefixlen] = static.gateway.packed
    routes.sort(key=lambda route: (route[0], route[1], route[2]))
    out = []
    for table, dst, dst_len, kind, scope, protocol, addr, dev in routes:
        body = RTMSG.pack(AF_INET, dst_len, 0, 0, table, protocol, scope, kind, 0)
        body += rta(RTA_TABLE, U32.pack(table))
        if dst_len:
            body += rta(RTA_DST, dst.to_bytes(IPV4_BITS // 8, "big"))
        if addr is not None:
            body += rta(RTA_PREFSRC, addr.address.packed)
        gateway = gateways.get((dst, dst_len)) if addr is None else None
        if gateway is not None:
            body += rta(RTA_GATEWAY, gateway)
        out.append(body + rta(RTA_OIF, INT.pack(dev.index)))
    return out


# -- requests ----------------------------------------------------------------------------
class RtnlError(Exception):
    """rtnetlink's answer to one request: a negative errno for its NLMSG_ERROR."""

    def __init__(self, error: int) -> None:
        super().__init__(error)
        self.error = error


def _attrs(payload: bytes, offset: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    while offset + RTA.size <= len(payload):
        length, attr_type = RTA.unpack_from(payload, offset)
        if length < RTA.size or offset + length > len(payload):
            break
        found.setdefault(attr_type & NLA_TYPE_MASK, payload[offset + RTA.size: offset + length])
        offset += nlmsg_align(length)
    return found


def _getlink(devices: tuple[NetDevice, ...], payload: bytes) -> NetDevice:
    """rtnl_getlink: the device named by index, else by IFLA_IFNAME."""
    if len(payload) < IFINFOMSG.size:
        raise RtnlError(-errno.EINVAL)
    index = IFINFOMSG.unpack_from(payload)[2]
    if index > 0:
        found = [dev for dev in devices if dev.index == index]
    else:
        name = _attrs(payload, IFINFOMSG.size).get(IFLA_IFNAME)
        if name is None:
            raise RtnlError(-errno.EINVAL)
        wanted = name.split(b"\0", 1)[0][:IFNAMSIZ - 1]
        found = [dev for dev in devices if dev.name.encode() == wanted]
    if not found:
        raise RtnlError(-errno.ENODEV)
    return found[0]


def _setlink(devices: tuple[NetDevice, ...], payload: bytes, set_flags: SetFlags,
             allowed: frozenset[int] = SETLINK_ATTRS) -> None:
    """rtnl_newlink on an existing device, do_setlink's flags only."""
    dev = _getlink(devices, payload)
    if set(_attrs(payload, IFINFOMSG.size)) - allowed:
        raise RtnlError(-errno.EOPNOTSUPP)
    _, _, _, new, change = IFINFOMSG.unpack(payload[:IFINFOMSG.size])
    if new or change:
        if change:
            new = new & change | dev.flags & ~change
        set_flags(dev, new)


def _dump(devices: tuple[NetDevice, ...], msg_type: int,
          family: int) -> tuple[int, list[bytes], bool]:
    """(answer type, payloads, DONE in a datagram of its own) of one dump."""
    if msg_type == RTM_GETLINK:
        return RTM_NEWLINK, [link_payload(dev) for dev in devices], True
    if msg_type == RTM_GETADDR:
        families = (family,) if family in (AF_INET, AF_INET6) else (AF_INET, AF_INET6)
        payloads = [addr_payload(dev, addr) for wanted in families for dev in devices
                    for addr in dev.addrs if addr.family == wanted]
        return RTM_NEWADDR, payloads, families != (AF_INET6,)
    if msg_type == RTM_GETROUTE and family in (AF_INET, AF_UNSPEC):
        return RTM_NEWROUTE, ipv4_routes([dev for dev in devices if dev.flags & IFF_UP]), True
    raise RtnlError(-errno.EOPNOTSUPP)


def _pack_dump(answer: int, payloads: list[bytes], done_alone: bool, seq: int,
               portid: int) -> list[bytes]:
    datagrams: list[bytes] = []
    current = b""
    for payload in payloads:
        message = nlmsg(answer, NLM_F_MULTI, seq, portid, payload)
        if current and len(current) + len(message) > NLMSG_GOODSIZE:
            datagrams.append(current)
            current = b""
        current += message
    done = nlmsg(NLMSG_DONE, NLM_F_MULTI, seq, portid, INT.pack(0))
    if current and (done_alone or len(current) + len(done) > NLMSG_GOODSIZE):
        datagrams.append(current)
        current = b""
    return [*datagrams, current + done]


def _ack(header: tuple[int, int, int, int, int], request: bytes, error: int,
         portid: int) -> bytes:
    """netlink_ack: the error and the request's header; its payload too on an error."""
    length, msg_type, flags, seq, _ = header
    echoed = request[:length] if error else request[:NLMSGHDR.size]
    return nlmsg(NLMSG_ERROR, 0 if error else NLM_F_CAPPED, seq, portid,
                 INT.pack(error) + echoed)


def rtnetlink_rcv(data: bytes, portid: int, devices: tuple[NetDevice, ...],
                  net_admin: bool, set_flags: SetFlags | None = None,
                  change: Change | None = None, query: Query | None = None) -> list[bytes]:
    """Every datagram the kernel sends back to ``portid`` for ``data``; see the module."""
    out: list[bytes] = []
    offset = 0
    while len(data) - offset >= NLMSGHDR.size:
        header = NLMSGHDR.unpack_from(data, offset)
        length, msg_type, flags, seq, _ = header
        if length < NLMSGHDR.size or length > len(data) - offset:
            break
        request = data[offset:offset + length]
        error = 0
        if flags & NLM_F_REQUEST and msg_type >= NLMSG_MIN_TYPE:
            try:
                out.extend(_rtnetlink_rcv_msg(request, devices, net_admin, seq, portid,
                                              set_flags, change, query))
                error = 0
            except RtnlError as failure:
                error = failure.error
        if flags & NLM_F_ACK or error:
            out.append(_ack(header, request, error, portid))
        offset += min(nlmsg_align(length), len(data) - offset)
    return out


def _rtnetlink_rcv_msg(request: bytes, devices: tuple[NetDevice, ...], net_admin: bool,
                       seq: int, portid: int, set_flags: SetFlags | None,
                       change: Change | None, query: Query | None = None) -> list[bytes]:
    _, msg_type, flags, _, _ = NLMSGHDR.unpack_from(request)
    if msg_type > RTM_MAX:
        raise RtnlError(-errno.EOPNOTSUPP)
    payload = request[NLMSGHDR.size:]
    if (msg_type - RTM_NEWLINK) & 3 != RTM_KIND_GET:
        if not net_admin:
            raise RtnlError(-errno.EPERM)
        if change is not None:
            change(msg_type, flags, payload)
            return []
        if msg_type == RTM_NEWLINK and set_flags is not None:
            _setlink(devices, payload, set_flags)
            return []
        raise RtnlError(-errno.EOPNOTSUPP)
    answered = None if query is None else query(msg_type, flags, payload, seq, portid)
    if answered is not None:
        return answered
    family = RTGENMSG.unpack_from(payload)[0] if payload else AF_UNSPEC
    if flags & NLM_F_DUMP:
        answer, payloads, done_alone = _dump(devices, msg_type, family)
        return _pack_dump(answer, payloads, done_alone, seq, portid)
    if msg_type == RTM_GETLINK:
        return [nlmsg(RTM_NEWLINK, 0, seq, portid, link_payload(_getlink(devices, payload)))]
    raise RtnlError(-errno.EOPNOTSUPP)
