"""A coffer's network namespace: every name a socket of that coffer can bind or find.

Linux keeps sockets' names in per-network-namespace tables; a coffer has one
namespace of its own, a :class:`NetNamespace`, built with the coffer:

* :attr:`NetNamespace.unix` - AF_UNIX names (:class:`~.unix.UnixDomain`): path
  names bound in the coffer's own filesystem and the abstract namespace;
* :attr:`NetNamespace.inet` - AF_INET and AF_INET6 ports for TCP and UDP
  (:class:`~.inet.InetDomain`), the loopback interface and the coffer's own
  address, and the coffer's attachment to a
  :class:`~cofferos.coffers.network.VirtualNetwork` (None: loopback only);
* :attr:`NetNamespace.netlink` - AF_NETLINK port ids (:class:`~.netlink.NetlinkDomain`);
* :attr:`NetNamespace.vsock` - AF_VSOCK ports (:class:`~.vsock.VsockDomain`).
  The devices the namespace shows follow from the attachment (:mod:`~.netdev`).

Nothing here is shared with another coffer: two coffers meet only through the
VirtualNetwork, which knows the endpoints registered with it and nothing else.
"""

from __future__ import annotations

import errno
import ipaddress
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.net.inet import InetDomain
from cofferos.coffers.net.netlink import NetlinkDomain
from cofferos.coffers.net.sockaddr import AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, AF_VSOCK
from cofferos.coffers.net.unix import UnixDomain
from cofferos.coffers.net.vsock import VsockDomain

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.network import VirtualNetwork

#: Sockets' inode numbers start here, so that they do not look like the filesystem's.
FIRST_SOCKET_INO = 100_000


class NetNamespace:
    """The sockets' names of one coffer; see the module docstring."""

    def __init__(self, coffer: Coffer, address: str,
                 network: VirtualNetwork | None = None) -> None:
        self.coffer = coffer
        self.address = ipaddress.IPv4Address(address)
        self.network = network
        self.unix = UnixDomain(self)
        self.inet = InetDomain(self)
        self.netlink = NetlinkDomain(self)
        self.vsock = VsockDomain(self)
        self._next_ino = FIRST_SOCKET_INO
        if network is not None:
            network.attach(self.address, coffer.config.name)

    def alloc_ino(self) -> int:
        self._next_ino += 1
        return self._next_ino

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
