"""Virtual Ethernet pairs between network namespaces (drivers/net/veth.c, and the
parts of net/core/dev.c, net/ipv4/devinet.c and fib_frontend.c they lean on).

A container runtime connects a network namespace it made to its parent with a veth
pair: two devices, one in each namespace, where what one sends the other receives.
A :class:`Link` is one end; :mod:`~.netdev` shows it beside lo and eth0, rtnetlink
makes, moves and deletes them (:mod:`~.rtnl_change`), and :mod:`~.inet` routes
through them. What Linux does and the model keeps:

* the peer is registered first (in its namespace, which may be another: the
  VETH_INFO_PEER's IFLA_NET_NS_PID or IFLA_NET_NS_FD), then the device; an end
  without a name is ``veth%d``, the first number free in its namespace (so
  ``veth0`` for a peer busybox 1.35 forgets to name, whose device then clashes:
  EEXIST, as natively);
* interface indexes are per namespace (a request may ask for one, given if it is
  free) and otherwise handed out cyclically from the last one given
  (``dev_index_reserve``'s ``xa_alloc_cyclic``): a deleted index is not reused at
  once; an end moved to another namespace keeps its index if it is free there
  (``dev_change_net_namespace``);
* deleting either end deletes both, and so does the end of its namespace (when
  the last process in it exits, unless a socket or an nsfs file open elsewhere
  still holds it: then the ends stay until the coffer ends); moving an end closes
  it and drops its addresses and the routes through it;
* an end has carrier (IFF_RUNNING, IFF_LOWER_UP, operstate UP) only while both
  ends are up; up with its peer down it is LOWERLAYERDOWN;
* IPv4 addresses (``struct in_ifaddr``): one address once per device (EEXIST),
  bindable as soon as it is added; its prefix and broadcast routes exist while the
  device is up; deleting one not there is EADDRNOTAVAIL;
* the main table's other routes (RTM_NEWROUTE: a default route through a gateway
  on a connected subnet, or any prefix on a device), gone with their device.

The MAC address of an end is locally administered and counted per coffer, where
Linux draws it at random (``eth_hw_addr_random``): the same run shows the same
addresses. An end gets no IPv6 link-local address (Linux gives it one when it
comes up): the model's devices carry IPv4 only, as eth0 does.
"""

from __future__ import annotations

import errno
import ipaddress
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.net.netdev import (
    ETH_ALEN,
    IFNAMSIZ,
    IfAddr,
    StaticRoute,
    net_devices,
    peernet2id,
)

if TYPE_CHECKING:
    from cofferos.coffers.net.namespace import NetNamespace

VETH_NAME_PATTERN = "veth%d"  #: veth_newlink's name for an end the request does not name
FIRST_DYNAMIC_INDEX = 2  #: a new namespace's lo is 1 (LOOPBACK_IFINDEX)
MAX_IFINDEX = (1 << 31) - 1  #: xa_limit_31b
VETH_MAC_PREFIX = b"\x02\xc0"  #: locally administered (bit 1 of the first octet)
MAC_COUNTER_BYTES = ETH_ALEN - len(VETH_MAC_PREFIX)


class Link:
    """One end of a veth pair; see the module docstring."""

    def __init__(self, ns: NetNamespace, index: int, name: str, hwaddr: bytes) -> None:
        self.ns = ns
        self.index = index
        self.name = name
        self.hwaddr = hwaddr
        self.up = False
        self.was_up = False  #: its qdisc is "noqueue" once it went up ("noop" before)
        self.addrs: list[IfAddr] = []
        self.peer: Link | None = None

    @property
    def carrier(self) -> bool:
        """veth_open's netif_carrier_on: both ends up."""
        return self.up and self.peer is not None and self.peer.up

    def set_up(self, up: bool) -> None:
        """dev_open / dev_close; going down loses the routes through it
        (fib_sync_down_dev). :func:`~.netdev.set_up` checks CAP_NET_ADMIN first."""
        self.up = up
        if up:
            self.was_up = True
        else:
            self.ns.routes = [route for route in self.ns.routes if route.oif != self.index]

    def ipv4(self) -> list[IfAddr]:
        return [addr for addr in self.addrs if isinstance(addr.address, ipaddress.IPv4Address)]


# -- names and numbers -----------------------------------------------------------------
def names_in(ns: NetNamespace) -> set[str]:
    return {dev.name for dev in net_devices(ns)}


def choose_name(ns: NetNamespace, name: str | None) -> str:
    """The end's name: the one asked for (EINVAL if too long or empty), else the first
    free ``veth%d`` (dev_alloc_name)."""
    if name is None:
        taken = names_in(ns)
        number = 0
        while VETH_NAME_PATTERN % number in taken:
            number += 1
        return VETH_NAME_PATTERN % number
    if not name or len(name.encode()) >= IFNAMSIZ or "/" in name or name in (".", ".."):
        raise FsError(errno.EINVAL, f"interface name {name!r}")
    return name


def used_indexes(ns: NetNamespace) -> set[int]:
    return {dev.index for dev in net_devices(ns)}


def reserve_index(ns: NetNamespace, wanted: int = 0) -> int:
    """dev_index_reserve: ``wanted`` if it is free, else the next free index from the
    namespace's cyclic hint, which then moves past it."""
    used = used_indexes(ns)
    if wanted and wanted not in used:
        return wanted
    index = ns.next_ifindex
    while index in used:
        index = index + 1 if index < MAX_IFINDEX else FIRST_DYNAMIC_INDEX
    ns.next_ifindex = index + 1
    return index


def new_mac(ns: NetNamespace) -> bytes:
    first = ns.first
    first.veth_macs += 1
    return VETH_MAC_PREFIX + first.veth_macs.to_bytes(MAC_COUNTER_BYTES, "big")


# -- pairs ------------------------------------------------------------------------------
def _register(ns: NetNamespace, name: str, index: int = 0) -> Link:
    """register_netdevice: EEXIST for a name taken; the index asked for if it is
    free, else the next one (this host's 6.18 gives a peer asking for a taken index
    another; a device asking for one is found there first: EEXIST)."""
    if name in names_in(ns):
        raise FsError(errno.EEXIST, name)
    link = Link(ns, reserve_index(ns, index), name, new_mac(ns))
    ns.links[link.index] = link
    return link


def create_pair(ns: NetNamespace, name: str | None, peer_ns: NetNamespace,
                peer_name: str | None, index: int = 0, peer_index: int = 0) -> Link:
    """veth_newlink: the peer, then the device (each at the index its request asks
    for, if any); a failure undoes the peer."""
    peer = _register(peer_ns, choose_name(peer_ns, peer_name), peer_index)
    try:
        dev = _register(ns, choose_name(ns, name), index)
    except FsError:
        del peer_ns.links[peer.index]
        raise
    dev.peer, peer.peer = peer, dev
    _announce(dev)
    return dev


def _announce(link: Link) -> None:
    """rtmsg_ifinfo's fill of each end (rtnl_fill_link_netnsid) gives each namespace
    an id for the other's at once, as ``ip netns list`` then shows."""
    peer = link.peer
    if peer is not None and peer.ns is not link.ns:
        peernet2id(peer.ns, link.ns)
        peernet2id(link.ns, peer.ns)


def _unregister(link: Link) -> None:
    ns = link.ns
    ns.links.pop(link.index, None)
    ns.routes = [route for route in ns.routes if route.oif != link.index]


def delete(link: Link) -> None:
    """veth_dellink: this end and its peer go."""
    _unregister(link)
    if link.peer is not None:
        _unregister(link.peer)
        link.peer.peer = None
    link.peer = None


def cleanup_net(ns: NetNamespace) -> None:
    """default_device_exit_batch: a namespace nobody holds any more takes its ends,
    and their peers, with it."""
    for link in list(ns.links.values()):
        delete(link)


def rename(link: Link, name: str) -> None:
    """dev_change_name: EEXIST for a name the namespace has (up or down: this host's
    6.18 renames a running device)."""
    name = choose_name(link.ns, name)
    if name in names_in(link.ns):
        raise FsError(errno.EEXIST, name)
    link.name = name


def move(link: Link, target: NetNamespace, name: str | None = None) -> None:
    """dev_change_net_namespace: closed, its addresses and routes dropped, registered
    in ``target`` under its index if that is free there (EEXIST for a name taken)."""
    new_name = link.name if name is None else choose_name(target, name)
    if target is link.ns:
        return
    if new_name in names_in(target):
        raise FsError(errno.EEXIST, new_name)
    link.set_up(False)
    _unregister(link)
    link.addrs.clear()
    link.index = reserve_index(target, link.index)
    link.ns, link.name = target, new_name
    target.links[link.index] = link
    _announce(link)


# -- addresses and routes -------------------------------------------------------------
def add_address(link: Link, addr: IfAddr) -> None:
    if any(mine.address == addr.address for mine in link.addrs):
        raise FsError(errno.EEXIST, str(addr.address))
    link.addrs.append(addr)


def delete_address(link: Link, address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                   prefixlen: int | None) -> None:
    for mine in link.addrs:
        if mine.address == address and prefixlen in (None, mine.prefixlen):
            link.addrs.remove(mine)
            return
    raise FsError(errno.EADDRNOTAVAIL, str(address))


def connected(ns: NetNamespace) -> list[tuple[ipaddress.IPv4Network, Link, IfAddr]]:
    """The prefix routes the kernel keeps for the addresses of the ends that are up."""
    found = []
    for link in ns.links.values():
        if link.up:
            for addr in link.ipv4():
                network = ipaddress.ip_network(f"{addr.address}/{addr.prefixlen}", strict=False)
                found.append((network, link, addr))
    return found  # type: ignore[return-value]


def local_addresses(ns: NetNamespace) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return {addr.address for link in ns.links.values() for addr in link.addrs}


def add_route(ns: NetNamespace, route: StaticRoute) -> None:
    taken = [network for network, _, _ in connected(ns)] + [r.network for r in ns.routes]
    if route.network in taken:
        raise FsError(errno.EEXIST, str(route.network))
    ns.routes.append(route)


def delete_route(ns: NetNamespace, network: ipaddress.IPv4Network) -> None:
    for route in ns.routes:
        if route.network == network:
            ns.routes.remove(route)
            return
    raise FsError(errno.ESRCH, str(network))


def lookup(ns: NetNamespace,
           address: ipaddress.IPv4Address) -> tuple[Link, IfAddr | None] | None:
    """fib_lookup in the main table, over the ends: the longest prefix among the
    connected subnets and the added routes; the end it leaves by and the source
    address there (None: no route)."""
    best: tuple[int, Link, IfAddr | None] | None = None
    for network, link, addr in connected(ns):
        if address in network and (best is None or network.prefixlen > best[0]):
            best = (network.prefixlen, link, addr)
    for route in ns.routes:
        link = ns.links.get(route.oif)
        if link is None or not link.up or address not in route.network:
            continue
        if best is None or route.network.prefixlen > best[0]:
            best = (route.network.prefixlen, link, next(iter(link.ipv4()), None))
    return None if best is None else (best[1], best[2])
