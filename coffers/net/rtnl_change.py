"""rtnetlink's changes: links, addresses and routes made, moved and deleted
(net/core/rtnetlink.c's rtnl_newlink, rtnl_dellink and do_setlink, drivers/net/veth.c,
net/ipv4/devinet.c's inet_rtm_newaddr and inet_rtm_deladdr, fib_frontend.c's
inet_rtm_newroute and inet_rtm_delroute).

:func:`serve` takes one change request (after :mod:`~.rtnetlink` has checked
CAP_NET_ADMIN in the user namespace owning the caller's network namespace) and
applies it to the namespace's veth ends (:mod:`~.veth`), or raises the
:class:`~.rtnetlink.RtnlError` its NLMSG_ERROR carries:

* RTM_NEWLINK of kind ``veth`` (IFLA_LINKINFO's IFLA_INFO_KIND) makes a pair, the
  peer from IFLA_INFO_DATA's VETH_INFO_PEER (its own ``ifinfomsg``, IFLA_IFNAME and
  IFLA_NET_NS_PID or IFLA_NET_NS_FD); EEXIST for a name taken (the device's, at
  once with NLM_F_EXCL; the peer's when it registers), each end at the
  ``ifi_index`` its ``ifinfomsg`` asks for if that is free; another kind
  is EOPNOTSUPP (no driver), no kind EINVAL; without NLM_F_CREATE, ENODEV;
* RTM_NEWLINK or RTM_SETLINK on an existing device: IFLA_NET_NS_PID or
  IFLA_NET_NS_FD moves a veth end to that namespace (lo and eth0 may not move:
  EINVAL), IFLA_IFNAME with ``ifi_index`` renames it (EEXIST for a name
  taken; lo and eth0 EOPNOTSUPP), then IFF_UP as
  :func:`~.rtnetlink._setlink` combines it;
* RTM_DELLINK deletes a veth end and its peer (lo and eth0: EOPNOTSUPP);
* RTM_NEWADDR and RTM_DELADDR, AF_INET, on a veth end (IFA_LOCAL, else IFA_ADDRESS;
  IFA_BROADCAST kept as given); on lo or eth0, or another family, EOPNOTSUPP;
* RTM_NEWROUTE and RTM_DELROUTE, AF_INET, main table, unicast: a prefix (RTA_DST,
  0.0.0.0/0 without) through a gateway on a connected subnet (RTA_GATEWAY;
  ENETUNREACH if none) or a veth end (RTA_OIF; ENETDOWN while it is down); ESRCH
  deleting a route there is not; other tables and types EOPNOTSUPP.

A namespace named by IFLA_NET_NS_PID is the network namespace of that process in
the caller's PID namespace (ESRCH), by IFLA_NET_NS_FD the one an open
``/proc/PID/ns/net`` is (EINVAL for another file, EBADF for no file), and the
caller needs CAP_NET_ADMIN in the user namespace owning it too (EPERM).
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from cofferos.coffers.capability import CAP_NET_ADMIN
from cofferos.coffers.fs import FsError
from cofferos.coffers.net import veth
from cofferos.coffers.net.netdev import (
    RT_SCOPE_UNIVERSE,
    IfAddr,
    NetDevice,
    StaticRoute,
    dev_get_by_index,
    net_devices,
)
from cofferos.coffers.net.rtnetlink import (
    IFA_ADDRESS,
    IFA_BROADCAST,
    IFA_LOCAL,
    IFADDRMSG,
    IFINFOMSG,
    IFLA_EXT_MASK,
    IFLA_IFNAME,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    IFLA_NET_NS_FD,
    IFLA_NET_NS_PID,
    INT,
    IPV4_BITS,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_EXCL,
    RT_TABLE_MAIN,
    RTA_DST,
    RTA_GATEWAY,
    RTA_OIF,
    RTA_TABLE,
    RTGENMSG,
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_DELROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTM_SETLINK,
    RTMSG,
    RTN_UNICAST,
    U32,
    RtnlError,
    SetFlags,
    _attrs,
    _getlink,
    _pack_dump,
    _setlink,
    nlmsg,
    nlmsg_align,
    rta,
)
from cofferos.coffers.net.sockaddr import AF_INET, AF_UNSPEC
from cofferos.coffers.pid_ns import find_vpid
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.task import Credentials, Task

IFLA_INFO_DATA = 2  #: include/uapi/linux/if_link.h
# include/uapi/linux/rtnetlink.h and net_namespace.h: namespace ids
RTM_NEWNSID, RTM_GETNSID = 88, 90
NETNSA_NSID, NETNSA_PID, NETNSA_FD = 1, 2, 3
NETNSA_NSID_NOT_ASSIGNED = -1
NETNS_NAMES = {NETNSA_PID: IFLA_NET_NS_PID, NETNSA_FD: IFLA_NET_NS_FD}
VETH_INFO_PEER = 1  #: include/uapi/linux/veth.h
RT_TABLE_UNSPEC = 0
#: What an RTM_NEWLINK on an existing device may carry besides its flags here.
SETLINK_ATTRS = frozenset({IFLA_IFNAME, IFLA_EXT_MASK, IFLA_NET_NS_PID, IFLA_NET_NS_FD})
#: A namespace named by a request: (IFLA_NET_NS_PID or IFLA_NET_NS_FD, its value).
ResolveNet = Callable[[int, int], "NetNamespace"]

NEW_IFLA_NETNS = (IFLA_NET_NS_PID, IFLA_NET_NS_FD)


def net_resolver(task: Task) -> ResolveNet:
    """get_net_ns_by_pid and get_net_ns_by_fd, as ``task`` names them."""
    def resolve(attr: int, value: int) -> NetNamespace:
        if attr == IFLA_NET_NS_PID:
            pid = find_vpid(task, value)
            target = None if pid is None else task.coffer.tasks.get(pid)
            if target is None:
                raise FsError(errno.ESRCH, f"pid {value}")
            return target.process.net_ns or target.coffer.net
        from cofferos.coffers.nsfs import NsInode  # nsfs sits on the syscalls: no cycle

        inode = getattr(task.files.get(value), "inode", None)
        if not isinstance(inode, NsInode) or inode.kind.name != "net":
            raise FsError(errno.EINVAL, "not a network namespace file")
        return cast("NetNamespace", inode.ns)  # nsfs's net kind: net_ns_of
    return resolve


def _name(attrs: dict[int, bytes]) -> str | None:
    raw = attrs.get(IFLA_IFNAME)
    return None if raw is None else raw.split(b"\0", 1)[0].decode(errors="replace")


class Changer:
    """The change requests of one sender in one namespace; see the module docstring."""

    def __init__(self, ns: NetNamespace, creds: Credentials, resolve: ResolveNet,
                 set_flags: SetFlags) -> None:
        self.ns, self.creds, self.resolve, self.set_flags = ns, creds, resolve, set_flags

    def __call__(self, msg_type: int, flags: int, payload: bytes) -> None:
        try:
            if msg_type in (RTM_NEWLINK, RTM_SETLINK):
                self.newlink(msg_type, flags, payload)
            elif msg_type == RTM_DELLINK:
                veth.delete(self._link_of(_getlink(net_devices(self.ns), payload),
                                          errno.EOPNOTSUPP))
            elif msg_type in (RTM_NEWADDR, RTM_DELADDR):
                self.address(msg_type, payload)
            elif msg_type in (RTM_NEWROUTE, RTM_DELROUTE):
                self.route(msg_type, payload)
            else:
                raise RtnlError(-errno.EOPNOTSUPP)
        except FsError as failure:
            raise RtnlError(-failure.errno) from None

    # -- namespace ids -------------------------------------------------------------
    def query(self, msg_type: int, flags: int, payload: bytes, seq: int,
              portid: int) -> list[bytes] | None:
        """rtnl_net_getid and rtnl_net_dumpid: the id this namespace knows another
        by (NETNSA_NSID_NOT_ASSIGNED if none), named by NETNSA_PID, NETNSA_FD or
        NETNSA_NSID (ENOENT for no such id; EINVAL for none of them)."""
        if msg_type != RTM_GETNSID:
            return None
        head = RTGENMSG.pack(AF_UNSPEC).ljust(nlmsg_align(RTGENMSG.size), b"\0")
        if flags & NLM_F_DUMP:
            payloads = [head + rta(NETNSA_NSID, INT.pack(nsid))
                        for nsid in sorted(self.ns.nsids.values())]
            return _pack_dump(RTM_NEWNSID, payloads, True, seq, portid)
        attrs = _attrs(payload, nlmsg_align(RTGENMSG.size))
        try:
            other = self._named_ns(attrs)
        except FsError as failure:
            raise RtnlError(-failure.errno) from None
        nsid = self.ns.nsids.get(other, NETNSA_NSID_NOT_ASSIGNED)
        return [nlmsg(RTM_NEWNSID, 0, seq, portid, head + rta(NETNSA_NSID, INT.pack(nsid)))]

    def _named_ns(self, attrs: dict[int, bytes]) -> NetNamespace:
        for attr, ifla in NETNS_NAMES.items():
            if attr in attrs and len(attrs[attr]) >= INT.size:
                return self.resolve(ifla, INT.unpack_from(attrs[attr])[0])
        if NETNSA_NSID in attrs and len(attrs[NETNSA_NSID]) >= INT.size:
            wanted = INT.unpack_from(attrs[NETNSA_NSID])[0]
            found = [other for other, nsid in self.ns.nsids.items() if nsid == wanted]
            if found:
                return found[0]
            raise FsError(errno.ENOENT, f"nsid {wanted}")
        raise FsError(errno.EINVAL, "no namespace named")

    # -- links ---------------------------------------------------------------------
    def _link_of(self, dev: NetDevice, refusal: int) -> veth.Link:
        link = self.ns.links.get(dev.index)
        if link is None:
            raise FsError(refusal, dev.name)
        return link

    def _net(self, attrs: dict[int, bytes], default: NetNamespace) -> NetNamespace:
        """rtnl_link_get_net_capable: the namespace a request names, if any."""
        for attr in NEW_IFLA_NETNS:
            if attr in attrs and len(attrs[attr]) >= INT.size:
                ns = self.resolve(attr, INT.unpack_from(attrs[attr])[0])
                if not ns_capable(self.creds, ns.user_ns, CAP_NET_ADMIN):
                    raise FsError(errno.EPERM, "CAP_NET_ADMIN there")
                return ns
        return default

    def newlink(self, msg_type: int, flags: int, payload: bytes) -> None:
        if len(payload) < IFINFOMSG.size:
            raise FsError(errno.EINVAL)
        index = IFINFOMSG.unpack_from(payload)[2]
        attrs = _attrs(payload, IFINFOMSG.size)
        devices = net_devices(self.ns)
        name = _name(attrs)
        dev = dev_get_by_index(self.ns, index) if index > 0 else \
            next((d for d in devices if d.name == name), None) if name else None
        if dev is not None:
            if msg_type == RTM_NEWLINK and flags & NLM_F_EXCL:
                raise FsError(errno.EEXIST, dev.name)
            self.setlink(dev, attrs, payload)
        elif msg_type == RTM_SETLINK or not flags & NLM_F_CREATE:
            raise FsError(errno.ENODEV)
        else:
            self.create(name, attrs, index)

    def setlink(self, dev: NetDevice, attrs: dict[int, bytes], payload: bytes) -> None:
        """do_setlink: the namespace, the name (by index), then the flags."""
        target = self._net(attrs, self.ns)
        index = IFINFOMSG.unpack_from(payload)[2]
        name = _name(attrs) if index > 0 else None
        if target is not self.ns:
            link = self._link_of(dev, errno.EINVAL)  # NETIF_F_NETNS_LOCAL (lo)
            veth.move(link, target, name)
            return
        if name is not None and name != dev.name:
            veth.rename(self._link_of(dev, errno.EOPNOTSUPP), name)
        _setlink(net_devices(self.ns), payload, self.set_flags, SETLINK_ATTRS)

    def create(self, name: str | None, attrs: dict[int, bytes], index: int) -> None:
        info = _attrs(attrs.get(IFLA_LINKINFO, b""), 0)
        kind = info.get(IFLA_INFO_KIND)
        if kind is None:
            raise FsError(errno.EINVAL, "no IFLA_INFO_KIND")
        if kind.split(b"\0", 1)[0] != b"veth":
            raise FsError(errno.EOPNOTSUPP, "no such driver")
        peer = _attrs(info.get(IFLA_INFO_DATA, b""), 0).get(VETH_INFO_PEER)
        peer_attrs, peer_index = {}, 0
        if peer is not None and len(peer) >= IFINFOMSG.size:
            peer_attrs, peer_index = _attrs(peer, IFINFOMSG.size), IFINFOMSG.unpack_from(peer)[2]
        target = self._net(attrs, self.ns)
        peer_ns = self._net(peer_attrs, self.ns)
        veth.create_pair(target, name, peer_ns, _name(peer_attrs), max(index, 0),
                         max(peer_index, 0))

    # -- addresses -----------------------------------------------------------------
    def address(self, msg_type: int, payload: bytes) -> None:
        if len(payload) < IFADDRMSG.size:
            raise FsError(errno.EINVAL)
        family, prefixlen, _, scope, index = IFADDRMSG.unpack_from(payload)
        attrs = _attrs(payload, IFADDRMSG.size)
        if family != AF_INET:
            raise FsError(errno.EOPNOTSUPP, "IPv4 addresses only")
        raw = attrs.get(IFA_LOCAL, attrs.get(IFA_ADDRESS))
        if prefixlen > IPV4_BITS or (msg_type == RTM_NEWADDR and raw is None):
            raise FsError(errno.EINVAL)
        dev = dev_get_by_index(self.ns, index)
        if dev is None:
            raise FsError(errno.ENODEV)
        link = self._link_of(dev, errno.EOPNOTSUPP)
        if raw is None or len(raw) != IPV4_BITS // 8:
            raise FsError(errno.EINVAL)
        address = ipaddress.IPv4Address(raw)
        if msg_type == RTM_DELADDR:
            veth.delete_address(link, address, prefixlen if IFA_ADDRESS in attrs else None)
            return
        veth.add_address(link, IfAddr(address, prefixlen, scope,
                                      has_broadcast=IFA_BROADCAST in attrs))

    # -- routes --------------------------------------------------------------------
    def route(self, msg_type: int, payload: bytes) -> None:
        if len(payload) < RTMSG.size:
            raise FsError(errno.EINVAL)
        family, dst_len, _, _, table, protocol, scope, kind, _ = RTMSG.unpack_from(payload)
        attrs = _attrs(payload, RTMSG.size)
        if RTA_TABLE in attrs:
            table = U32.unpack_from(attrs[RTA_TABLE])[0]
        if family != AF_INET or table not in (RT_TABLE_MAIN, RT_TABLE_UNSPEC) or \
                (msg_type == RTM_NEWROUTE and kind != RTN_UNICAST):
            raise FsError(errno.EOPNOTSUPP, "main-table IPv4 unicast routes only")
        if dst_len > IPV4_BITS:
            raise FsError(errno.EINVAL)
        dst = ipaddress.IPv4Address(attrs.get(RTA_DST, bytes(IPV4_BITS // 8))[:IPV4_BITS // 8])
        try:
            network = ipaddress.IPv4Network(f"{dst}/{dst_len}")
        except ValueError:
            raise FsError(errno.EINVAL, "host bits set") from None
        if msg_type == RTM_DELROUTE:
            veth.delete_route(self.ns, network)
            return
        oif = INT.unpack_from(attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0
        gateway = ipaddress.IPv4Address(attrs[RTA_GATEWAY][:IPV4_BITS // 8]) \
            if RTA_GATEWAY in attrs else None
        if gateway is not None:
            via = [link for net, link, _ in veth.connected(self.ns)
                   if gateway in net and oif in (0, link.index)]
            if not via:
                raise FsError(errno.ENETUNREACH, f"no connected subnet has {gateway}")
            oif, scope = via[0].index, RT_SCOPE_UNIVERSE
        dev = dev_get_by_index(self.ns, oif) if oif else None
        if dev is None:
            raise FsError(errno.ENODEV, "no device for the route")
        link = self._link_of(dev, errno.EOPNOTSUPP)
        if not link.up:
            raise FsError(errno.ENETDOWN, link.name)
        veth.add_route(self.ns, StaticRoute(network, gateway, oif, protocol, scope))
