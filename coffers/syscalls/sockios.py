"""The interface ioctls every socket takes (net/core/dev_ioctl.c, sock_ioctl's SIOCGIFCONF).

glibc's ``if_nametoindex`` and ``if_indextoname`` open any socket (AF_UNIX first,
``__opensock``) and ask for SIOCGIFINDEX or SIOCGIFNAME; older programs list
interfaces with SIOCGIFCONF; busybox's ``ip link`` asks for SIOCGIFTXQLEN. These
read the socket's network namespace's devices (:mod:`cofferos.coffers.net.netdev`)
through a ``struct ifreq``: the name in its first 16 bytes, the answer in the union
after it. ENODEV names no device.
SIOCSIFFLAGS brings a device up or down (``ip link set lo up``, busybox's way:
:func:`~cofferos.coffers.net.netdev.set_up`, EPERM without CAP_NET_ADMIN in the
user namespace owning the socket's network namespace). The IPv4 address requests
(SIOCGIFADDR, SIOCSIFADDR, SIOCGIFNETMASK, SIOCSIFNETMASK, SIOCGIFBRDADDR) are
:mod:`~.devinet_ioctl`'s. The other SIOCSIF* requests (a broadcast, a name, the
MTU) are not here: they stay ENOTTY with every other request no driver takes.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_NET_ADMIN
from cofferos.coffers.fs import FsError
from cofferos.coffers.net.netdev import (
    DEFAULT_TXQLEN,
    IFNAMSIZ,
    NetDevice,
    dev_get_by_index,
    dev_get_by_name,
    net_devices,
    set_up,
)
from cofferos.coffers.net.sockaddr import AF_INET, InetName
from cofferos.coffers.syscalls.devinet_ioctl import DEVINET_IOCTLS, devinet_ioctl
from cofferos.coffers.syscalls.uaccess import copy_from_user, copy_to_user
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.net.sock import Socket
    from cofferos.coffers.task import Task

# include/uapi/linux/sockios.h
SIOCGIFNAME, SIOCGIFCONF, SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8910, 0x8912, 0x8913, 0x8914
SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFTXQLEN = 0x8921, 0x8927, 0x8933, 0x8942
SOCKIOS = frozenset({SIOCGIFNAME, SIOCGIFCONF, SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFMTU,
                     SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFTXQLEN}) | DEVINET_IOCTLS
IFREQ_SIZE = 40  #: sizeof(struct ifreq): the name and a 24-byte union
IFR_UNION = IFNAMSIZ  #: offsetof(struct ifreq, ifr_ifru)
IFCONF = struct.Struct("<i4xQ")  #: struct ifconf: ifc_len, ifc_buf
INT = struct.Struct("<i")
SHORT = struct.Struct("<h")
SHORT_MASK, SHORT_SIGN = 0xFFFF, 0x8000
SOCKADDR_SIZE = 16  #: sizeof(struct sockaddr)
SA_FAMILY = struct.Struct("<H")


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


def sock_ioctl(task: Task, sock: Socket, request: int, arg: int) -> int:
    """One of :data:`SOCKIOS` on ``sock``."""
    if request == SIOCGIFCONF:
        return _ifconf(task, sock, arg)
    ifr = copy_from_user(task, arg, IFREQ_SIZE)
    if request in DEVINET_IOCTLS:
        name = ifr[:IFNAMSIZ - 1].split(b"\0", 1)[0]
        return devinet_ioctl(task, sock, request, ifr, arg, dev_get_by_name(sock.ns, name),
                             IFR_UNION)
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
