"""A network namespace: every name a socket in it can bind or find (net/core/net_namespace.c).

Linux keeps sockets' names in per-network-namespace tables; a coffer has one
namespace of its own, a :class:`NetNamespace`, built with the coffer, and a process
inside may make more (``unshare(CLONE_NEWNET)``, ``clone(CLONE_NEWNET)``:
:func:`new_net_ns`). A socket keeps the namespace it was made in (``sk->sk_net``).

* :attr:`NetNamespace.unix` - AF_UNIX names (:class:`~.unix.UnixDomain`): path
  names bound in the coffer's own filesystem and the abstract namespace;
* :attr:`NetNamespace.inet` - AF_INET and AF_INET6 ports for TCP and UDP
  (:class:`~.inet.InetDomain`), the loopback interface and the coffer's own
  address, and the coffer's attachment to a
  :class:`~cofferos.coffers.network.VirtualNetwork` (None: loopback only);
* :attr:`NetNamespace.netlink` - AF_NETLINK port ids (:class:`~.netlink.NetlinkDomain`);
* :attr:`NetNamespace.vsock` - AF_VSOCK ports (:class:`~.vsock.VsockDomain`).
  The devices the namespace shows follow from the attachment (:mod:`~.netdev`),
  and from the veth ends in it (:attr:`NetNamespace.links`, :mod:`~.veth`).

A namespace a process made has its own ports, abstract AF_UNIX names, netlink
port ids and devices: ``lo``, down until brought up (:mod:`~.netdev`), no
address of its own and no network, until a veth pair connects it to another
namespace (:mod:`~.veth`). What it shares with the coffer's first one is
what Linux keeps outside network namespaces: AF_UNIX sockets bound to a path
(files, found through the filesystem whatever the namespace), the sockets in
flight for the AF_UNIX garbage collector, AF_VSOCK ports (vsock is not
namespaced) and the socket inode numbers. It belongs to the user namespace of its
creator: CAP_NET_ADMIN and CAP_NET_BIND_SERVICE count there.

Nothing here is shared with another coffer: two coffers meet only through the
VirtualNetwork, which knows the endpoints registered with it and nothing else.
"""

from __future__ import annotations

import errno
import ipaddress
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.net.inet import InetDomain
from cofferos.coffers.net.netdev import ETH0_INDEX, LOOPBACK_INDEX
from cofferos.coffers.net.netlink import NetlinkDomain
from cofferos.coffers.net.sockaddr import AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, AF_VSOCK
from cofferos.coffers.net.unix import UnixDomain
from cofferos.coffers.net.vsock import VsockDomain

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.net.veth import Link, StaticRoute
    from cofferos.coffers.network import VirtualNetwork
    from cofferos.coffers.userns import UserNamespace

#: Sockets' inode numbers start here, so that they do not look like the filesystem's.
FIRST_SOCKET_INO = 100_000


class NetNamespace:
    """The sockets' names of one network namespace; see the module docstring.
    ``first``: the coffer's first namespace, for one a process made (None: this is
    it); ``user_ns``: the owning user namespace (None: the coffer's initial one)."""

    def __init__(self, coffer: Coffer, address: str | None,
                 network: VirtualNetwork | None = None, *, first: NetNamespace | None = None,
                 user_ns: UserNamespace | None = None) -> None:
        self.coffer = coffer
        self.first = self if first is None else first
        self.user_ns = user_ns
        self.address = None if address is None else ipaddress.IPv4Address(address)
        self.network = network
        #: The devices that are up (netdev.set_up); the first namespace's are from the start.
        self.up = {LOOPBACK_INDEX, ETH0_INDEX} if first is None else set()
        self.was_up = False  #: lo was up once: it keeps 127.0.0.1 when down
        #: Its veth ends by index, the routes added through them, the next index to
        #: hand out, and the ids it knows other namespaces by (:mod:`~.veth`).
        self.links: dict[int, Link] = {}
        self.routes: list[StaticRoute] = []
        self.next_ifindex = (ETH0_INDEX if network is not None else LOOPBACK_INDEX) + 1
        self.nsids: dict[NetNamespace, int] = {}
        self.veth_macs = 0  #: (the first namespace's) veth MAC addresses given so far
        self.unix = UnixDomain(self, None if first is None else first.unix)
        self.inet = InetDomain(self)
        self.netlink = NetlinkDomain(self)
        self.vsock = VsockDomain(self) if first is None else first.vsock
        self._next_ino = FIRST_SOCKET_INO
        if network is not None:
            assert self.address is not None
            network.attach(self.address, coffer.config.name)

    def alloc_ino(self) -> int:
        """A socket's inode number, unique in the coffer (sock_alloc's get_next_ino)."""
        first = self.first
        first._next_ino += 1
        return first._next_ino

    def lo_up(self) -> bool:
        """Is the loopback device up (does 127.0.0.0/8 and ::1 route)?"""
        return LOOPBACK_INDEX in self.up

    def domain(self, family: int) -> UnixDomain | InetDomain | NetlinkDomain | VsockDomain:
        if family == AF_UNIX:
            return self.unix
        if family == AF_NETLINK:
            return self.netlink
        if family == AF_VSOCK:
            return self.vsock
        if family in (AF_INET, AF_INET6):
            return self.inet
        raise FsError(errno.EAFNOSUPPORT, f"address family {family}")


def new_net_ns(coffer: Coffer, user_ns: UserNamespace | None) -> NetNamespace:
    """copy_net_ns: a new, empty network namespace owned by ``user_ns``."""
    return NetNamespace(coffer, None, first=coffer.net, user_ns=user_ns)
