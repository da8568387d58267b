"""AF_INET and AF_INET6 names (net/ipv4/inet_connection_sock.c, udp.c): ports and routes.

Each network namespace has its own port tables, one per socket type (TCP, UDP), so
that two coffers, or two namespaces of one coffer, may both listen on
127.0.0.1:7000, and a connection never crosses from one namespace to another
(ECONNREFUSED where the listener is in another, unless a veth pair connects them).
A socket may bind to a wildcard (0.0.0.0, or :: which also takes IPv4 unless
IPV6_V6ONLY), to the loopback network (127.0.0.0/8, ::1), to the coffer's own
address or to an address of a veth end in the namespace (:mod:`~.veth`);
anything else is EADDRNOTAVAIL. Two bindings of one port conflict when their
addresses overlap (EADDRINUSE) unless both set SO_REUSEPORT, or both set
SO_REUSEADDR and the first is not listening. Port 0 takes an ephemeral port, counted per coffer
from 32768 (net.ipv4.ip_local_port_range). A port below 1024
(net.ipv4.ip_unprivileged_port_start) needs CAP_NET_BIND_SERVICE in the user
namespace owning the network namespace (EACCES: a user namespace's root may not
bind it in the coffer's first network namespace, as in rootless containers, but may
in one it made).

Routing, for connect and sendto: a loopback address, an address of the namespace's
own or a wildcard (taken as loopback) stays inside the namespace; an IPv4 address
on a connected subnet of a veth end that is up, or reached by a route added
through one (the longest prefix wins), goes to the namespace of the end's peer,
where the sockets bound to it take it if the address is one of that namespace's
(it forwards nothing further); otherwise the host is unreachable (EHOSTUNREACH
for connect at once, where Linux answers after its ARP tries or an ICMP error; a
datagram is dropped). Any other address
goes to the coffer's :class:`~cofferos.coffers.network.VirtualNetwork`, where a
listening socket or bound UDP socket of another coffer is registered at its
coffer's address (ENETUNREACH with no network, EHOSTUNREACH for an address no
coffer has). IPv6 stays on loopback: the network carries IPv4 only. While lo is
down (a new namespace's, :mod:`~.netdev`), loopback destinations are ENETUNREACH
and ::1 cannot be bound (EADDRNOTAVAIL).
"""

from __future__ import annotations

import errno
import ipaddress
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_NET_BIND_SERVICE
from cofferos.coffers.fs import FsError
from cofferos.coffers.net.sock import (
    IPPROTO_IPV6,
    IPV6_V6ONLY,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SOL_SOCKET,
)
from cofferos.coffers.net.sockaddr import (
    AF_INET,
    IN6ADDR_ANY,
    INADDR_ANY,
    InetName,
    IPAddress,
)
from cofferos.coffers.net.veth import local_addresses
from cofferos.coffers.net.veth import lookup as veth_lookup
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.net.netdev import IfAddr
    from cofferos.coffers.net.sock import Socket
    from cofferos.coffers.net.veth import Link
    from cofferos.coffers.network import VirtualNetwork
    from cofferos.coffers.task import Task

EPHEMERAL_FIRST, EPHEMERAL_LAST = 32768, 60999  #: net.ipv4.ip_local_port_range
UNPRIVILEGED_PORT_START = 1024  #: net.ipv4.ip_unprivileged_port_start (PROT_SOCK)
LOOPBACK4 = ipaddress.IPv4Address("127.0.0.1")
LOOPBACK6 = ipaddress.IPv6Address("::1")


def covers(sock: Socket, name: InetName, address: IPAddress) -> bool:
    """Would ``sock``, bound to ``name``, receive what is sent to ``address``?"""
    if name.address == address:
        return True
    if not name.wildcard:
        return False
    if isinstance(name.address, ipaddress.IPv4Address):
        return isinstance(address, ipaddress.IPv4Address)
    return isinstance(address, ipaddress.IPv6Address) or \
        not sock.option(IPPROTO_IPV6, IPV6_V6ONLY)


class Route:
    """Where a destination is: this coffer (``network`` None) or across the network;
    in this namespace or, over a veth pair, in ``ns``, where nobody may have the
    address (``unreachable``: what an ICMP host unreachable or a failed ARP tells)."""

    def __init__(self, source: IPAddress, network: VirtualNetwork | None,
                 ns: NetNamespace | None = None, unreachable: bool = False) -> None:
        self.source = source  #: the local address a connection from here uses
        self.network = network
        self.ns = ns  #: the namespace the destination is in (None: this one)
        self.unreachable = unreachable


class InetDomain:
    """One coffer's TCP and UDP ports; see the module docstring."""

    def __init__(self, ns: NetNamespace) -> None:
        self.ns = ns
        self.bound: dict[tuple[int, int], list[Socket]] = {}  #: (type, port) -> sockets
        self._next_port = EPHEMERAL_FIRST

    # -- binding -------------------------------------------------------------------
    def is_local(self, address: IPAddress) -> bool:
        """May a socket bind to ``address``? ::1 only while lo is up (it is lo's
        address); 127.0.0.0/8 always (this host's kernel binds it with lo down)."""
        if isinstance(address, ipaddress.IPv6Address) and address.is_loopback:
            return self.ns.lo_up()
        return address.is_loopback or address == self.ns.address or \
            address in local_addresses(self.ns)

    def bind(self, task: Task | None, sock: Socket, name: InetName) -> None:
        if sock.local is not None:
            raise FsError(errno.EINVAL, "already bound")
        if not (name.wildcard or self.is_local(name.address)):
            raise FsError(errno.EADDRNOTAVAIL, str(name.address))
        if task is not None and 0 < name.port < UNPRIVILEGED_PORT_START and \
                not ns_capable(task.creds, self.ns.user_ns, CAP_NET_BIND_SERVICE):
            # in the user namespace owning the network namespace (inet_bind)
            raise FsError(errno.EACCES, f"port {name.port} needs CAP_NET_BIND_SERVICE")
        port = name.port or self._ephemeral(sock, name)
        name = InetName(name.address, port)
        for other in self.bound.get((sock.protocol, port), []):
            assert isinstance(other.local, InetName)
            if self._conflict(sock, name, other, other.local):
                raise FsError(errno.EADDRINUSE, f"port {port}")
        self.bound.setdefault((sock.protocol, port), []).append(sock)
        sock.local = name
        if not sock.connection_oriented:  # TCP publishes at listen
            self.publish(sock)

    @staticmethod
    def _conflict(sock: Socket, name: InetName, other: Socket, other_name: InetName) -> bool:
        if not (covers(sock, name, other_name.address) or covers(other, other_name, name.address)):
            return False
        if sock.option(SOL_SOCKET, SO_REUSEPORT) and other.option(SOL_SOCKET, SO_REUSEPORT):
            return False
        reuse = sock.option(SOL_SOCKET, SO_REUSEADDR) and other.option(SOL_SOCKET, SO_REUSEADDR)
        return not (reuse and not other.listening)

    def _ephemeral(self, sock: Socket, name: InetName) -> int:
        span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1
        for _ in range(span):
            port = self._next_port
            self._next_port = EPHEMERAL_FIRST + (port + 1 - EPHEMERAL_FIRST) % span
            if not self.bound.get((sock.protocol, port)):
                return port
        raise FsError(errno.EADDRNOTAVAIL, "no ephemeral port left")

    def autobind(self, sock: Socket) -> None:
        """Give an unbound socket an ephemeral port on the wildcard address."""
        if sock.local is None:
            wildcard = INADDR_ANY if sock.family == AF_INET else IN6ADDR_ANY
            self.bind(None, sock, InetName(wildcard, 0))

    def publish(self, sock: Socket) -> None:
        """Register a listening (TCP) or bound (UDP) socket with the network, if it
        takes what is sent to the coffer's address."""
        network, name = self.ns.network, sock.local
        assert isinstance(name, InetName)
        if network is not None and covers(sock, name, self.ns.address):
            network.register(sock.protocol, self.ns.address, name.port, sock)

    def unbind(self, sock: Socket) -> None:
        name = sock.local
        assert isinstance(name, InetName)
        sockets = self.bound.get((sock.protocol, name.port), [])
        if sock in sockets:
            sockets.remove(sock)
        if not sockets:
            self.bound.pop((sock.protocol, name.port), None)
        if self.ns.network is not None:
            self.ns.network.unregister(sock.protocol, self.ns.address, name.port, sock)

    def unbound_name(self, sock: Socket) -> InetName:
        return InetName(INADDR_ANY if sock.family == AF_INET else IN6ADDR_ANY, 0)

    # -- finding -------------------------------------------------------------------
    def route(self, sock: Socket, name: InetName) -> tuple[InetName, Route]:
        """The destination as it will be reached (a wildcard means loopback) and the route."""
        address = name.address
        if name.wildcard:
            address = LOOPBACK4 if isinstance(address, ipaddress.IPv4Address) else LOOPBACK6
        destination = InetName(address, name.port)
        if address.is_loopback and not self.ns.lo_up():
            raise FsError(errno.ENETUNREACH, "lo is down")
        if address.is_loopback:
            source: IPAddress = LOOPBACK4 if isinstance(address, ipaddress.IPv4Address) \
                else LOOPBACK6
            return destination, Route(source, None)
        if address == self.ns.address or address in local_addresses(self.ns):
            return destination, Route(address, None)
        hop = veth_lookup(self.ns, address) if isinstance(address, ipaddress.IPv4Address) \
            else None
        if hop is not None:
            return destination, self._over(hop[0], hop[1], address)
        own, network = self.ns.address, self.ns.network
        if own is None or network is None or not isinstance(address, ipaddress.IPv4Address):
            raise FsError(errno.ENETUNREACH, str(address))
        return destination, Route(own, network)

    def _over(self, link: Link, addr: IfAddr | None, address: IPAddress) -> Route:
        """The route out of a veth end: to its peer's namespace, which takes what is
        sent to an address of its own (it forwards nothing: net.ipv4.ip_forward 0)."""
        source = addr.address if addr is not None else \
            next(iter(sorted(local_addresses(self.ns), key=str)), INADDR_ANY)
        peer = link.peer
        if peer is None or not link.carrier:
            return Route(source, None, self.ns, unreachable=True)
        there = peer.ns
        taken = address == there.address or address in local_addresses(there)
        return Route(source, None, there, unreachable=not taken)

    def find(self, sock: Socket, name: InetName, *,
             listening: bool) -> tuple[Socket | None, InetName, Route]:
        """The socket that takes what ``sock`` sends to ``name`` (None: nobody), the
        destination as reached, and the route there."""
        destination, route = self.route(sock, name)
        if route.network is not None:
            assert isinstance(destination.address, ipaddress.IPv4Address)
            found = route.network.lookup(sock.protocol, destination.address, destination.port)
            return found, destination, route
        if route.unreachable:
            return None, destination, route
        domain = self if route.ns is None else route.ns.inet
        best: Socket | None = None
        for other in domain.bound.get((sock.protocol, destination.port), []):
            other_name = other.local
            assert isinstance(other_name, InetName)
            if listening and not other.listening:
                continue
            if covers(other, other_name, destination.address):
                if other_name.address == destination.address:
                    return other, destination, route  # an exact binding wins
                best = best or other
        return best, destination, route
