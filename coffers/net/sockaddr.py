"""Socket addresses as the guest passes them: ``struct sockaddr_in``, ``_in6``, ``_un`` ...

The system call layer copies a ``struct sockaddr`` in from the guest
(move_addr_to_kernel) and hands the raw bytes to :func:`parse_sockaddr`, which
checks them as the family's bind and connect do in Linux and returns the
simulator's form of the address:

* :class:`UnixName` for AF_UNIX: a path name (``sun_path`` up to its NUL), an
  abstract name (a leading NUL, its length given by ``addrlen``) or unnamed;
* :class:`InetName` for AF_INET and AF_INET6: an :mod:`ipaddress` address and a
  port. IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``) are kept as IPv4, so
  that one comparison serves both families;
* :class:`NetlinkName` for AF_NETLINK: a port id and a multicast group mask;
* :class:`VsockName` for AF_VSOCK: a context id and a port.

:func:`pack_sockaddr` is the other way, for getsockname, getpeername, accept
and recvfrom: the bytes of the address in the layout of the socket's family.
"""

from __future__ import annotations

import errno
import ipaddress
import struct
from dataclasses import dataclass

from cofferos.coffers.fs import FsError

# Address families (include/linux/socket.h).
AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_VSOCK = 0, 1, 2, 10, 16, 40

SA_FAMILY = struct.Struct("<H")  #: sa_family_t, the first field of every sockaddr
#: struct sockaddr_in: sin_family, sin_port (network order), sin_addr, sin_zero[8].
SOCKADDR_IN = struct.Struct("<H2s4s8x")
#: struct sockaddr_in6: sin6_family, sin6_port, sin6_flowinfo, sin6_addr, sin6_scope_id.
SOCKADDR_IN6 = struct.Struct("<H2s4s16sI")
SIN6_LEN_RFC2133 = 24  #: the shortest sockaddr_in6 Linux accepts (no scope id)
UNIX_PATH_MAX = 108  #: sizeof(sun_path)
SUN_PATH_OFFSET = SA_FAMILY.size  #: offsetof(struct sockaddr_un, sun_path)
SOCKADDR_UN_SIZE = SUN_PATH_OFFSET + UNIX_PATH_MAX
SOCKADDR_STORAGE_SIZE = 128  #: _K_SS_MAXSIZE: the longest address a call may pass
PORT_BYTES = 2

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
INADDR_ANY = ipaddress.IPv4Address(0)
IN6ADDR_ANY = ipaddress.IPv6Address(0)


@dataclass(frozen=True)
class UnixName:
    """An AF_UNIX name: ``path`` (bytes, no NUL), or ``abstract`` (starting with NUL)."""

    raw: bytes = b""

    @property
    def unnamed(self) -> bool:
        return not self.raw

    @property
    def abstract(self) -> bool:
        return self.raw[:1] == b"\0"

    def pack(self) -> bytes:
        """``struct sockaddr_un`` cut at the address length Linux reports (unix_mkname)."""
        if self.unnamed:
            return SA_FAMILY.pack(AF_UNIX)
        tail = self.raw if self.abstract else self.raw + b"\0"
        return SA_FAMILY.pack(AF_UNIX) + tail


@dataclass(frozen=True)
class InetName:
    """An internet endpoint: address and port (IPv4-mapped addresses held as IPv4)."""

    address: IPAddress
    port: int

    @property
    def wildcard(self) -> bool:
        return self.address.is_unspecified

    def overlaps(self, other: InetName) -> bool:
        """Both could receive the same packet: one is a wildcard, or they are equal."""
        return self.wildcard or other.wildcard or self.address == other.address

    def pack(self, family: int) -> bytes:
        """The address in ``family``'s layout; IPv4 in an AF_INET6 socket is v4-mapped."""
        port = self.port.to_bytes(PORT_BYTES, "big")
        if family == AF_INET:
            assert isinstance(self.address, ipaddress.IPv4Address)
            return SOCKADDR_IN.pack(AF_INET, port, self.address.packed)
        address = self.address
        if isinstance(address, ipaddress.IPv4Address):
            address = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
        return SOCKADDR_IN6.pack(AF_INET6, port, bytes(4), address.packed, 0)


#: struct sockaddr_nl: nl_family, nl_pad, nl_pid, nl_groups.
SOCKADDR_NL = struct.Struct("<HHII")
KERNEL_PORTID = 0  #: the kernel's netlink port id
U32_MASK = 0xFFFFFFFF


@dataclass(frozen=True)
class NetlinkName:
    """A netlink address: a port id (0: the kernel) and a multicast group mask."""

    portid: int = KERNEL_PORTID
    groups: int = 0

    def pack(self, family: int = AF_NETLINK) -> bytes:
        return SOCKADDR_NL.pack(AF_NETLINK, 0, self.portid & U32_MASK, self.groups)


#: struct sockaddr_vm: svm_family, svm_reserved1, svm_port, svm_cid, svm_flags, svm_zero[3].
SOCKADDR_VM = struct.Struct("<HHIIB3s")
VMADDR_CID_ANY = VMADDR_PORT_ANY = 0xFFFFFFFF  #: -1U: any CID, any port
VMADDR_FLAG_TO_HOST = 0x1  #: the only svm_flags bit


@dataclass(frozen=True)
class VsockName:
    """A vsock address: a context id (CID) and a port."""

    cid: int
    port: int

    def pack(self, family: int = AF_VSOCK) -> bytes:
        return SOCKADDR_VM.pack(AF_VSOCK, 0, self.port, self.cid, 0, bytes(3))


SockName = UnixName | InetName | NetlinkName | VsockName


def _normalise(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_unix(raw: bytes, *, binding: bool = False) -> UnixName:
    """sun_path as unix_validate_addr and unix_mkname_bsd read it; bind with the
    family alone (an address length of 2) asks for an autobound name."""
    if binding and len(raw) == SUN_PATH_OFFSET and SA_FAMILY.unpack(raw)[0] == AF_UNIX:
        return UnixName()
    if len(raw) <= SUN_PATH_OFFSET or len(raw) > SOCKADDR_UN_SIZE:
        raise FsError(errno.EINVAL, "sockaddr_un length")
    (family,) = SA_FAMILY.unpack_from(raw)
    if family != AF_UNIX:
        raise FsError(errno.EINVAL, "sockaddr_un family")
    path = raw[SUN_PATH_OFFSET:]
    if path[:1] == b"\0":
        return UnixName(path)
    return UnixName(path.split(b"\0", 1)[0])


def parse_inet(raw: bytes, family: int, *, connecting: bool = False) -> InetName:
    """sockaddr_in or sockaddr_in6 for a socket of ``family`` (inet_bind, inet6_bind)."""
    if family == AF_INET:
        if len(raw) < SOCKADDR_IN.size:
            raise FsError(errno.EINVAL, "sockaddr_in length")
        given, port, addr = SOCKADDR_IN.unpack_from(raw)
        # bind takes AF_UNSPEC with INADDR_ANY as AF_INET, for old programs (inet_bind).
        unspec_any = given == AF_UNSPEC and addr == bytes(4) and not connecting
        if given != AF_INET and not unspec_any:
            raise FsError(errno.EAFNOSUPPORT, "sockaddr_in family")
        return InetName(ipaddress.IPv4Address(addr), int.from_bytes(port, "big"))
    if len(raw) < SIN6_LEN_RFC2133:
        raise FsError(errno.EINVAL, "sockaddr_in6 length")
    raw = raw.ljust(SOCKADDR_IN6.size, b"\0")
    given, port, _flow, addr, _scope = SOCKADDR_IN6.unpack_from(raw)
    if given != AF_INET6:
        raise FsError(errno.EAFNOSUPPORT, "sockaddr_in6 family")
    return InetName(_normalise(ipaddress.IPv6Address(addr)), int.from_bytes(port, "big"))


def parse_netlink(raw: bytes) -> NetlinkName:
    """netlink_bind, netlink_connect and netlink_sendmsg's checks: a whole
    sockaddr_nl of AF_NETLINK (EINVAL otherwise)."""
    if len(raw) < SOCKADDR_NL.size:
        raise FsError(errno.EINVAL, "sockaddr_nl length")
    family, _, portid, groups = SOCKADDR_NL.unpack_from(raw)
    if family != AF_NETLINK:
        raise FsError(errno.EINVAL, "sockaddr_nl family")
    return NetlinkName(portid, groups)


def parse_vsock(raw: bytes) -> VsockName:
    """vsock_addr_cast and vsock_addr_validate, whose every error bind and connect
    give as EINVAL: too short, another family, unknown flags, non-zero padding."""
    if len(raw) < SOCKADDR_VM.size:
        raise FsError(errno.EINVAL, "sockaddr_vm length")
    family, _, port, cid, flags, zero = SOCKADDR_VM.unpack_from(raw)
    if family != AF_VSOCK:
        raise FsError(errno.EINVAL, "sockaddr_vm family")
    if flags & ~VMADDR_FLAG_TO_HOST or zero != bytes(3):
        raise FsError(errno.EINVAL, "sockaddr_vm flags")
    return VsockName(cid, port)


def parse_sockaddr(raw: bytes, family: int, *, binding: bool = False) -> SockName | None:
    """The name in ``raw`` for a socket of ``family``; None for AF_UNSPEC on connect
    (dissolve a datagram association)."""
    if not binding and len(raw) >= SA_FAMILY.size and SA_FAMILY.unpack_from(raw)[0] == AF_UNSPEC:
        return None
    if family == AF_UNIX:
        return parse_unix(raw, binding=binding)
    if family == AF_NETLINK:
        return parse_netlink(raw)
    if family == AF_VSOCK:
        return parse_vsock(raw)
    return parse_inet(raw, family, connecting=not binding)


def pack_sockaddr(name: SockName | None, family: int) -> bytes:
    """The bytes getsockname, accept or recvfrom give back (empty: no address)."""
    if name is None:
        return b""
    return name.pack(family) if isinstance(name, InetName) else name.pack()


def check_addrlen(addrlen: int) -> None:
    """move_addr_to_kernel: a length past sockaddr_storage (or negative) is EINVAL."""
    if addrlen < 0 or addrlen > SOCKADDR_STORAGE_SIZE:
        raise FsError(errno.EINVAL, "address length")
