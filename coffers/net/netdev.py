"""A coffer's network devices: the interfaces its network namespace shows (net/core/dev.c).

Linux gives every network namespace a loopback device, ``lo`` (index 1); a
container runtime brings it up and adds the container's end of a virtual
Ethernet pair. A coffer shows the same:

* ``lo``: up, 127.0.0.1/8 and ::1/128, MTU 65536, as a fresh namespace shows
  it after ``ip link set lo up``; in a network namespace a process made
  (CLONE_NEWNET, :mod:`~.namespace`) it starts down, without addresses and without
  a route (connect and sendto ENETUNREACH), until brought up;
* ``eth0`` (index 2), only when the coffer is attached to a
  :class:`~cofferos.coffers.network.VirtualNetwork`: the coffer's own IPv4
  address (``CofferConfig.address``) on a /24, with a locally administered MAC
  address made from it, and a default route through it (every address the
  coffer does not own goes to the network; :mod:`~.inet`). The network carries
  IPv4 only, so eth0 has no IPv6 address (Linux would give it a link-local one);
* the veth ends in the namespace (:mod:`~.veth`), after them in index order: made,
  moved and deleted by rtnetlink (:mod:`~.rtnl_change`), with the addresses and
  routes given to them.

lo and eth0 are fixed facts of the model: only whether they are up may change
(IFF_UP, by SIOCSIFFLAGS or RTM_NEWLINK, with CAP_NET_ADMIN in the user namespace
owning the network namespace: :func:`set_up`, which takes a veth end up and down
too); a device that is down shows no addresses and routes nothing. rtnetlink
(:mod:`~.rtnetlink`) describes them; the interface ioctls (SIOCGIFINDEX ...) are
:mod:`cofferos.coffers.syscalls.sockios`.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_NET_ADMIN
from cofferos.coffers.fs import FsError
from cofferos.coffers.net.sockaddr import AF_INET, AF_INET6, IPAddress
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.net.veth import Link
    from cofferos.coffers.task import Credentials

# include/uapi/linux/if_arp.h: device types (ifi_type)
ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772
# include/uapi/linux/if.h: device flags (net_device_flags), as dev_get_flags reports them
IFF_UP, IFF_BROADCAST, IFF_LOOPBACK = 0x1, 0x2, 0x8
IFF_RUNNING, IFF_MULTICAST, IFF_LOWER_UP = 0x40, 0x1000, 0x10000
# RFC 2863 operational states (IFLA_OPERSTATE): lo has no carrier to report, eth0 is up
IF_OPER_UNKNOWN, IF_OPER_DOWN, IF_OPER_LOWERLAYERDOWN, IF_OPER_UP = 0, 2, 7, 6
# include/uapi/linux/rtnetlink.h: address scopes
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST = 0, 253, 254
LOOPBACK_MTU = 65536  #: drivers/net/loopback.c: (64 * 1024)
ETH_DATA_LEN = 1500  #: Ethernet's MTU
DEFAULT_TXQLEN = 1000  #: DEFAULT_TX_QUEUE_LEN
ETH_ALEN = 6  #: a MAC address's length
IFNAMSIZ = 16  #: an interface name, with its NUL
LOOPBACK_INDEX, ETH0_INDEX = 1, 2
NETWORK_PREFIXLEN = 24
"""The prefix eth0's address is shown on. The virtual network has no subnets (any
address reaches it); a /24 is what a container runtime's bridge network gives."""
LOCALLY_ADMINISTERED = b"\x02\x00"  #: the first octets of eth0's MAC (IEEE 802 "local" bit)
ETH_BROADCAST = b"\xff" * ETH_ALEN


@dataclass(frozen=True)
class IfAddr:
    """One address on a device (``struct in_ifaddr`` / ``inet6_ifaddr``)."""

    address: IPAddress
    prefixlen: int
    scope: int
    #: Does it carry IFA_BROADCAST? SIOCSIFADDR computes one; an RTM_NEWADDR without
    #: the attribute (``ip addr add A/24`` without ``brd +``) has none.
    has_broadcast: bool = True

    @property
    def family(self) -> int:
        return AF_INET if isinstance(self.address, ipaddress.IPv4Address) else AF_INET6

    @property
    def broadcast(self) -> ipaddress.IPv4Address | None:
        """The directed broadcast of an IPv4 address on a broadcast-capable prefix."""
        if self.family != AF_INET or self.prefixlen >= 31 or self.scope == RT_SCOPE_HOST \
                or not self.has_broadcast:
            return None
        network = ipaddress.ip_network(f"{self.address}/{self.prefixlen}", strict=False)
        return network.broadcast_address  # type: ignore[return-value]


@dataclass(frozen=True)
class StaticRoute:
    """A route RTM_NEWROUTE added to the main table through a device (``struct
    fib_alias``'s facts; :mod:`~.veth`)."""

    network: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address | None
    oif: int
    protocol: int
    scope: int


@dataclass(frozen=True)
class NetDevice:
    """One interface (``struct net_device``) as rtnetlink and the ioctls show it."""

    index: int
    name: str
    type: int
    flags: int
    mtu: int
    operstate: int
    hwaddr: bytes
    hwbroadcast: bytes
    addrs: tuple[IfAddr, ...]
    #: The queueing discipline's name (IFLA_QDISC): "noop" until a device first goes
    #: up, then "noqueue" for lo and a container's virtual Ethernet device.
    qdisc: str = "noqueue"
    #: IFLA_LINK: the index of the device it stands on (a veth end's peer), 0: none.
    iflink: int = 0
    #: IFLA_LINKINFO's IFLA_INFO_KIND ("veth"), "" for a device without rtnl_link_ops.
    kind: str = ""
    #: IFLA_LINK_NETNSID: the id of the namespace ``iflink`` is in, if not this one.
    link_netnsid: int | None = None
    #: The routes added through it (RTM_NEWROUTE), beside those its addresses make.
    routes: tuple[StaticRoute, ...] = ()

    @property
    def loopback(self) -> bool:
        return bool(self.flags & IFF_LOOPBACK)


LOOPBACK = NetDevice(
    LOOPBACK_INDEX, "lo", ARPHRD_LOOPBACK, IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP,
    LOOPBACK_MTU, IF_OPER_UNKNOWN, bytes(ETH_ALEN), bytes(ETH_ALEN),
    (IfAddr(ipaddress.IPv4Address("127.0.0.1"), 8, RT_SCOPE_HOST),
     IfAddr(ipaddress.IPv6Address("::1"), 128, RT_SCOPE_HOST)))
#: lo as a new network namespace has it (loopback_net_init): down, no addresses (the
#: loopback addresses come with NETDEV_UP), its operational state down.
LOOPBACK_DOWN = dataclasses.replace(LOOPBACK, flags=IFF_LOOPBACK, operstate=IF_OPER_DOWN,
                                    addrs=(), qdisc="noop")
#: lo brought down again: it keeps 127.0.0.1 (IPv4 addresses stay on a device that
#: goes down) and loses ::1 (addrconf_ifdown).
LOOPBACK_DOWN_AGAIN = dataclasses.replace(LOOPBACK_DOWN, addrs=LOOPBACK.addrs[:1],
                                          qdisc=LOOPBACK.qdisc)


def net_devices(ns: NetNamespace) -> tuple[NetDevice, ...]:
    """The namespace's interfaces in index order: lo, and eth0 on a network."""
    lo = LOOPBACK if LOOPBACK_INDEX in ns.up else \
        LOOPBACK_DOWN_AGAIN if ns.was_up else LOOPBACK_DOWN
    devices = [lo]
    if ns.network is not None:
        assert ns.address is not None
        devices.append(NetDevice(
            ETH0_INDEX, "eth0", ARPHRD_ETHER,
            IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST | IFF_LOWER_UP,
            ETH_DATA_LEN, IF_OPER_UP, LOCALLY_ADMINISTERED + ns.address.packed,
            ETH_BROADCAST, (IfAddr(ns.address, NETWORK_PREFIXLEN, RT_SCOPE_UNIVERSE),)))
    devices.extend(_veth_device(ns, ns.links[index]) for index in sorted(ns.links))
    return tuple(devices)


def peernet2id(ns: NetNamespace, other: NetNamespace) -> int:
    """peernet2id_alloc: the id ``ns`` knows ``other`` by (IFLA_LINK_NETNSID), given
    on first need from 0."""
    if other not in ns.nsids:
        ns.nsids[other] = len(ns.nsids)
    return ns.nsids[other]


def _veth_device(ns: NetNamespace, link: Link) -> NetDevice:
    """A veth end as dev_get_flags and rtnl_fill_ifinfo show it (:mod:`~.veth`)."""
    flags = IFF_BROADCAST | IFF_MULTICAST | (IFF_UP if link.up else 0)
    operstate = IF_OPER_DOWN
    if link.carrier:
        flags |= IFF_RUNNING | IFF_LOWER_UP
        operstate = IF_OPER_UP
    elif link.up:
        operstate = IF_OPER_LOWERLAYERDOWN
    peer = link.peer
    netnsid = None
    if peer is not None and peer.ns is not ns:
        netnsid = peernet2id(ns, peer.ns)
    return NetDevice(link.index, link.name, ARPHRD_ETHER, flags, ETH_DATA_LEN, operstate,
                     link.hwaddr, ETH_BROADCAST, tuple(link.addrs),
                     "noqueue" if link.was_up else "noop",
                     iflink=0 if peer is None else peer.index, kind="veth",
                     link_netnsid=netnsid,
                     routes=tuple(route for route in ns.routes if route.oif == link.index))


def dev_get_by_index(ns: NetNamespace, index: int) -> NetDevice | None:
    return next((dev for dev in net_devices(ns) if dev.index == index), None)


def dev_get_by_name(ns: NetNamespace, name: bytes) -> NetDevice | None:
    return next((dev for dev in net_devices(ns) if dev.name.encode() == name), None)


def set_up(ns: NetNamespace, creds: Credentials, dev: NetDevice, flags: int) -> None:
    """dev_change_flags for IFF_UP: CAP_NET_ADMIN in the user namespace owning ``ns``
    (EPERM), then the device goes up or down; the other flags are not kept. eth0
    stays up: the virtual network has no link to lose."""
    if not ns_capable(creds, ns.user_ns, CAP_NET_ADMIN):
        raise FsError(errno.EPERM, "CAP_NET_ADMIN")
    link = ns.links.get(dev.index)
    if link is not None:
        link.set_up(bool(flags & IFF_UP))
    elif flags & IFF_UP:
        ns.up.add(dev.index)
    elif dev.index == LOOPBACK_INDEX and dev.index in ns.up:
        ns.up.discard(dev.index)
        ns.was_up = True
