"""The interface ioctls every socket takes (net/core/dev_ioctl.c, sock_ioctl's SIOCGIFCONF).

glibc's ``if_nametoindex`` and ``if_indextoname`` open any socket (AF_UNIX first,
``__opensock``) and ask for SIOCGIFINDEX or SIOCGIFNAME; older programs list
interfaces with SIOCGIFCONF; busybox's ``ip link`` asks for SIOCGIFTXQLEN. These
read the socket's network namespace's devices (:mod:`cofferos.coffers.net.netdev`)
through a ``struct ifreq``: the name in its first 16 bytes, the answer in the union
after it. ENODEV names no device.
SIOCSIFFLAGS brings a device up or down (``ip link set lo up``, busybox's way:
:func:`~cofferos.coffers.net.netdev.set_up`, EPERM without CAP_NET_ADMIN in the
user namespace owning the socket's network namespace). SIOCSIFADDR on an AF_INET
socket gives a veth end (:mod:`cofferos.coffers.net.veth`) its IPv4 address, or
replaces the one it has, on the address's classful prefix (devinet_ioctl's
inet_abc_len: 192.168.x.y is a /24) with its broadcast; EPERM without
CAP_NET_ADMIN, EINVAL for another family or a multicast address, EOPNOTSUPP on lo
and eth0, whose addresses are fixed. The other SIOCSIF* requests (a netmask, a
name, the MTU) are not here: they stay ENOTTY with every other request no driver
takes.
"""

from __future__ import annotations

import errno
import ipaddress
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_NET_ADMIN
from cofferos.coffers.fs import FsError
from cofferos.coffers.net.netdev import (
    DEFAULT_TXQLEN,
    IFNAMSIZ,
    RT_SCOPE_UNIVERSE,
    IfAddr,
    NetDevice,
    dev_get_by_index,
    dev_get_by_name,
    net_devices,
    set_up,
)
from cofferos.coffers.net.sockaddr import AF_INET, InetName
from cofferos.coffers.net.veth import add_address
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.net.sock import Socket
    from cofferos.coffers.task import Task

# include/uapi/linux/sockios.h
SIOCGIFNAME, SIOCGIFCONF, SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8910, 0x8912, 0x8913, 0x8914
SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFTXQLEN = 0x8921, 0x8927, 0x8933, 0x8942
SIOCSIFADDR = 0x8916
SOCKIOS = frozenset({SIOCGIFNAME, SIOCGIFCONF, SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFMTU,
                     SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFTXQLEN, SIOCSIFADDR})
#: inet_abc_len: the prefix of a class A, B and C address (the first bits 0, 10, 110).
CLASSFUL_PREFIXES = ((0x80, 0x00, 8), (0xC0, 0x80, 16), (0xE0, 0xC0, 24))
BROADCAST_PREFIX_LIMIT = 31  #: no broadcast on a /31 or /32
IFREQ_SIZE = 40  #: sizeof(struct ifreq): the name and a 24-byte union
IFR_UNION = IFNAMSIZ  #: offsetof(struct ifreq, ifr_ifru)
IFCONF = struct.Struct("<i4xQ")  #: struct ifconf: ifc_len, ifc_buf
INT = struct.Struct("<i")
SHORT = struct.Struct("<h")
SHORT_MASK, SHORT_SIGN = 0xFFFF, 0x8000
SOCKADDR_SIZE = 16  #: sizeof(struct sockaddr)
SA_FAMILY = struct.Struct("<H")
SIN_ADDR, IPV4_SIZE = 4, 4  #: struct sockaddr_in: sin_addr's offset and size


def _device(sock: Socket, ifr: bytes, by_index: bool) -> NetDevice:
    ns = sock.ns
    if by_index:
        dev = dev_get_by_index(ns, INT.unpack_from(ifr, IFR_UNION)[0])
    else:
        dev = dev_get_by_name(ns, ifr[:IFNAMSIZ - 1].split(b"\0", 1)[0])
    if dev is None:
        raise FsError(errno.ENODEV)
    return dev


def _answer(dev: NetDevice, request: int) -> bytes:
    """The union's bytes for a get request about ``dev``."""
    if request == SIOCGIFINDEX:
        return INT.pack(dev.index)
    if request == SIOCGIFFLAGS:
        # ifr_flags is a short: (short) dev_get_flags(dev) drops IFF_LOWER_UP and above
        low = dev.flags & SHORT_MASK
        return SHORT.pack(low - (SHORT_MASK + 1) if low & SHORT_SIGN else low)
    if request == SIOCGIFMTU:
        return INT.pack(dev.mtu)
    if request == SIOCGIFTXQLEN:
        return INT.pack(DEFAULT_TXQLEN)
    return SA_FAMILY.pack(dev.type) + dev.hwaddr  # SIOCGIFHWADDR


def _ifconf(task: Task, sock: Socket, arg: int) -> int:
    """dev_ifconf with inet_gifconf: one ifreq per IPv4 address, as far as room goes."""
    room, buf = IFCONF.unpack(copy_from_user(task, arg, IFCONF.size))
    entries = [dev.name.encode().ljust(IFNAMSIZ, b"\0")
               + InetName(addr.address, 0).pack(AF_INET).ljust(IFREQ_SIZE - IFNAMSIZ, b"\0")
               for dev in net_devices(sock.ns) for addr in dev.addrs if addr.family == AF_INET]
    if buf:
        entries = entries[:max(room, 0) // IFREQ_SIZE]
        if entries:
            copy_to_user(task, buf, b"".join(entries))
    copy_to_user(task, arg, INT.pack(IFREQ_SIZE * len(entries)))
    return 0


def _set_address(task: Task, sock: Socket, ifr: bytes) -> int:
    """devinet_ioctl's SIOCSIFADDR; see the module docstring."""
    if sock.family != AF_INET:
        raise FsError(errno.ENOTTY, "SIOCSIFADDR on a socket of another family")
    if not ns_capable(task.creds, sock.ns.user_ns, CAP_NET_ADMIN):
        raise FsError(errno.EPERM, "SIOCSIFADDR needs CAP_NET_ADMIN")
    if SA_FAMILY.unpack_from(ifr, IFR_UNION)[0] != AF_INET:
        raise FsError(errno.EINVAL, "not an AF_INET address")
    packed = ifr[IFR_UNION + SIN_ADDR:IFR_UNION + SIN_ADDR + IPV4_SIZE]
    first = packed[0]
    prefixlen = next((bits for mask, value, bits in CLASSFUL_PREFIXES
                      if first & mask == value), None)
    if prefixlen is None:
        raise FsError(errno.EINVAL, "no classful prefix")
    dev = _device(sock, ifr, by_index=False)
    link = sock.ns.links.get(dev.index)
    if link is None:
        raise FsError(errno.EOPNOTSUPP, f"{dev.name}'s addresses are fixed")
    old = link.ipv4()
    if old:
        link.addrs.remove(old[0])
    add_address(link, IfAddr(ipaddress.IPv4Address(packed), prefixlen, RT_SCOPE_UNIVERSE,
                             has_broadcast=prefixlen < BROADCAST_PREFIX_LIMIT))
    return 0


def sock_ioctl(task: Task, sock: Socket, request: int, arg: int) -> int:
    """One of :data:`SOCKIOS` on ``sock``."""
    if request == SIOCGIFCONF:
        return _ifconf(task, sock, arg)
    ifr = copy_from_user(task, arg, IFREQ_SIZE)
    if request == SIOCSIFADDR:
        return _set_address(task, sock, ifr)
    if request == SIOCGIFNAME:
        dev = _device(sock, ifr, by_index=True)
        copy_to_user(task, arg, dev.name.encode().ljust(IFNAMSIZ, b"\0"))
        return 0
    if request == SIOCSIFFLAGS and not ns_capable(task.creds, sock.ns.user_ns, CAP_NET_ADMIN):
        raise FsError(errno.EPERM, "SIOCSIFFLAGS needs CAP_NET_ADMIN")  # before the lookup
    dev = _device(sock, ifr, by_index=False)
    if request == SIOCSIFFLAGS:
        set_up(sock.ns, task.creds, dev, SHORT.unpack_from(ifr, IFR_UNION)[0])
        return 0
    copy_to_user(task, arg + IFR_UNION, _answer(dev, request))
    return 0
