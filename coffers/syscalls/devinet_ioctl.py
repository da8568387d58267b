"""The IPv4 address ioctls of an AF_INET socket (net/ipv4/devinet.c's devinet_ioctl):
what ``ifconfig`` reads and sets.

The request names a device by its ``struct ifreq``'s name and carries a ``struct
sockaddr_in`` in its union (:mod:`~.sockios` has the layout). A device's address is
its first IPv4 one (Linux finds it by its label, the device's name; the model keeps
no ``eth0:1`` aliases):

* SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR: the address, its netmask, its
  broadcast (0.0.0.0 without one); EADDRNOTAVAIL for a device without an address;
* SIOCSIFADDR gives a veth end (:mod:`cofferos.coffers.net.veth`) an address, or
  replaces the one it has, on the address's classful prefix (inet_abc_len:
  192.168.x.y is a /24, 10.x.y.z a /8; EINVAL for a multicast or class E one)
  with the prefix's broadcast;
* SIOCSIFNETMASK changes that address's prefix (EINVAL for a mask that is not a
  run of ones, EADDRNOTAVAIL without an address), and its broadcast with it if it
  was the prefix's own.

The changes need CAP_NET_ADMIN in the user namespace owning the socket's network
namespace (EPERM) and an AF_INET address (EINVAL), both checked before the device
is looked up (ENODEV). lo's and eth0's addresses are fixed facts of the model:
setting them is EOPNOTSUPP. A socket of another family gets ENOTTY, as Linux's
dev_ioctl answers it.
"""

from __future__ import annotations

import errno
import ipaddress
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_NET_ADMIN
from cofferos.coffers.fs import FsError
from cofferos.coffers.net.netdev import RT_SCOPE_UNIVERSE, IfAddr, NetDevice
from cofferos.coffers.net.sockaddr import AF_INET, InetName
from cofferos.coffers.net.veth import Link, add_address
from cofferos.coffers.syscalls.uaccess import copy_to_user
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.net.sock import Socket
    from cofferos.coffers.task import Task

# include/uapi/linux/sockios.h
SIOCGIFADDR, SIOCSIFADDR = 0x8915, 0x8916
SIOCGIFBRDADDR, SIOCGIFNETMASK, SIOCSIFNETMASK = 0x8919, 0x891B, 0x891C
DEVINET_IOCTLS = frozenset({SIOCGIFADDR, SIOCSIFADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK,
                            SIOCSIFNETMASK})
SETTERS = frozenset({SIOCSIFADDR, SIOCSIFNETMASK})
#: inet_abc_len: the prefix of a class A, B and C address (the first bits 0, 10, 110).
CLASSFUL_PREFIXES = ((0x80, 0x00, 8), (0xC0, 0x80, 16), (0xE0, 0xC0, 24))
BROADCAST_PREFIX_LIMIT = 31  #: no broadcast on a /31 or /32
SOCKADDR_IN_SIZE = 16
SIN_ADDR, SIN_ADDR_END = 4, 8  #: struct sockaddr_in's sin_addr
IPV4_BITS = 32
ZERO = ipaddress.IPv4Address(0)


def _classful(address: ipaddress.IPv4Address) -> int:
    first = address.packed[0]
    for mask, value, bits in CLASSFUL_PREFIXES:
        if first & mask == value:
            return bits
    raise FsError(errno.EINVAL, f"{address} has no classful prefix")


def _mask_len(mask: ipaddress.IPv4Address) -> int:
    """inet_mask_len, after bad_mask: EINVAL unless the mask is ones then zeros."""
    value = int(mask)
    inverted = ~value & ((1 << IPV4_BITS) - 1)
    if inverted & (inverted + 1):
        raise FsError(errno.EINVAL, f"bad netmask {mask}")
    return IPV4_BITS - inverted.bit_length()


def _sockaddr(address: ipaddress.IPv4Address) -> bytes:
    return InetName(address, 0).pack(AF_INET).ljust(SOCKADDR_IN_SIZE, b"\0")


def _set(link: Link, request: int, address: ipaddress.IPv4Address) -> None:
    old = next(iter(link.ipv4()), None)
    if request == SIOCSIFADDR:
        prefixlen = _classful(address)
        if old is not None:
            link.addrs.remove(old)
        add_address(link, IfAddr(address, prefixlen, RT_SCOPE_UNIVERSE,
                                 has_broadcast=prefixlen < BROADCAST_PREFIX_LIMIT))
        return
    if old is None:
        raise FsError(errno.EADDRNOTAVAIL, link.name)
    prefixlen = _mask_len(address)
    new = IfAddr(old.address, prefixlen, old.scope,
                 has_broadcast=old.has_broadcast and prefixlen < BROADCAST_PREFIX_LIMIT)
    link.addrs[link.addrs.index(old)] = new


def devinet_ioctl(task: Task, sock: Socket, request: int, ifr: bytes, arg: int,
                  device: NetDevice | None, union: int) -> int:
    """One of :data:`DEVINET_IOCTLS`; ``device`` is the one the request names (None:
    ENODEV, after the checks that come first)."""
    if sock.family != AF_INET:
        raise FsError(errno.ENOTTY, "an IPv4 address ioctl on a socket of another family")
    if request in SETTERS:
        if not ns_capable(task.creds, sock.ns.user_ns, CAP_NET_ADMIN):
            raise FsError(errno.EPERM, "needs CAP_NET_ADMIN")
        if int.from_bytes(ifr[union:union + 2], "little") != AF_INET:
            raise FsError(errno.EINVAL, "not an AF_INET address")
    if device is None:
        raise FsError(errno.ENODEV)
    if request in SETTERS:
        link = sock.ns.links.get(device.index)
        if link is None:
            raise FsError(errno.EOPNOTSUPP, f"{device.name}'s addresses are fixed")
        _set(link, request, ipaddress.IPv4Address(ifr[union + SIN_ADDR:union + SIN_ADDR_END]))
        return 0
    addr = next((a for a in device.addrs if a.family == AF_INET), None)
    if addr is None:
        raise FsError(errno.EADDRNOTAVAIL, device.name)
    assert isinstance(addr.address, ipaddress.IPv4Address)
    if request == SIOCGIFADDR:
        answer = addr.address
    elif request == SIOCGIFNETMASK:
        answer = ipaddress.IPv4Network(f"0.0.0.0/{addr.prefixlen}").netmask
    else:
        answer = addr.broadcast or ZERO  # type: ignore[assignment]
    copy_to_user(task, arg + union, _sockaddr(answer))
    return 0
