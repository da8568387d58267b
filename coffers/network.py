"""A virtual network between coffers: one switch, no host sockets, ever.

Coffers built with the same :class:`VirtualNetwork` can reach each other's
IPv4 addresses; a coffer built without one has only its loopback (and its own
address, which routes to itself). The network is the only object two coffers
share, and it holds none of their kernel state beyond the endpoints they
register with it:

* :meth:`VirtualNetwork.attach` - a coffer joins with its address (from
  ``CofferConfig.address``); two coffers cannot share one;
* :meth:`VirtualNetwork.register` / :meth:`unregister` - a listening TCP socket,
  or a bound UDP socket, reachable at (protocol, address, port);
* :meth:`VirtualNetwork.lookup` - what connect and sendto find there:
  EHOSTUNREACH if no coffer has the address, None if nothing listens;
* :meth:`VirtualNetwork.carry` - called for every message that crosses the
  network (a stream send or a datagram), for accounting and timing.

**Latency hook.** ``VirtualNetwork(latency=f)`` calls ``f(source, destination,
nbytes)`` for every message carried and returns its delay in nanoseconds
(default: always 0). Both drivers deliver every message at once and only
accumulate the delays in :attr:`NetworkStats.delay_ns`: neither the functional
driver (:mod:`cofferos.coffers.functional_machine`) nor the timing machine delays delivery
by them yet; a wire's latency is not part of the model.

Once a connection is set up the two socket objects, one in each coffer, pass
byte buffers to each other directly; waking a reader in the other coffer goes
through that coffer's own scheduler (``WaitQueue.wake`` calls ``task.coffer.wake``).
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.net.sockaddr import InetName

if TYPE_CHECKING:
    from cofferos.coffers.net.sock import Socket

LatencyModel = Callable[[InetName, InetName, int], int]


def no_latency(source: InetName, destination: InetName, nbytes: int) -> int:
    """The default latency model: every message arrives at once."""
    return 0


@dataclass
class NetworkStats:
    """What crossed the network: messages, payload bytes, and their summed delay."""

    messages: int = 0
    bytes: int = 0
    delay_ns: int = 0


class VirtualNetwork:
    """A switch between coffers; see the module docstring."""

    def __init__(self, latency: LatencyModel = no_latency) -> None:
        self.latency = latency
        self.hosts: dict[ipaddress.IPv4Address, str] = {}  #: address -> coffer name
        self.endpoints: dict[tuple[int, ipaddress.IPv4Address, int], list[Socket]] = {}
        self.stats = NetworkStats()

    def attach(self, address: ipaddress.IPv4Address, name: str) -> None:
        """A coffer joins the network at ``address`` (ValueError if it is taken)."""
        if address in self.hosts:
            raise ValueError(f"{address} is already {self.hosts[address]}'s address")
        if address.is_loopback or address.is_unspecified:
            raise ValueError(f"{address} cannot be a coffer's network address")
        self.hosts[address] = name

    def register(self, protocol: int, address: ipaddress.IPv4Address, port: int,
                 sock: Socket) -> None:
        self.endpoints.setdefault((protocol, address, port), []).append(sock)

    def unregister(self, protocol: int, address: ipaddress.IPv4Address, port: int,
                   sock: Socket) -> None:
        key = (protocol, address, port)
        sockets = self.endpoints.get(key, [])
        if sock in sockets:
            sockets.remove(sock)
        if not sockets:
            self.endpoints.pop(key, None)

    def lookup(self, protocol: int, address: ipaddress.IPv4Address, port: int) -> Socket | None:
        """The socket registered at the endpoint; EHOSTUNREACH if no coffer has ``address``."""
        if address not in self.hosts:
            raise FsError(errno.EHOSTUNREACH, str(address))
        sockets = self.endpoints.get((protocol, address, port))
        return sockets[0] if sockets else None

    def carry(self, source: InetName, destination: InetName, nbytes: int) -> int:
        """Account one message crossing the network; its delay in nanoseconds."""
        delay = self.latency(source, destination, nbytes)
        self.stats.messages += 1
        self.stats.bytes += nbytes
        self.stats.delay_ns += delay
        return delay
