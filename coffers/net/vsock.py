"""AF_VSOCK (net/vmw_vsock/af_vsock.c) as on a Linux host with no virtual machine running.

A coffer is a container, not a virtual machine: there is no hypervisor to talk
to. It shows what a Linux host with the vsock core and its host-side transport
(vhost-vsock) shows while no guest runs:

* ``/dev/vsock`` answers IOCTL_VM_SOCKETS_GET_LOCAL_CID with VMADDR_CID_HOST (2),
  the CID of a host (vsock_dev_do_ioctl: the host-to-guest transport's CID);
* ``socket(AF_VSOCK, SOCK_STREAM or SOCK_SEQPACKET, 0)`` makes a socket that can
  bind (to VMADDR_CID_ANY or the CID 2, any port from 1024 up; below is
  CAP_NET_BIND_SERVICE's; VMADDR_PORT_ANY picks one), listen and accept, which
  waits for ever: no guest will connect. connect is ENODEV (no guest has the
  CID, and no loopback transport is loaded), send and recv ENOTCONN.
  SOCK_DGRAM is ENODEV (no datagram transport: only VMCI has one), other types
  ESOCKTNOSUPPORT, any protocol but 0 EPROTONOSUPPORT;
* the AF_VSOCK level's options: SO_VM_SOCKETS_BUFFER_SIZE, _MIN_SIZE and
  _MAX_SIZE (64-bit; the size kept between the two bounds, as
  vsock_update_buffer_size does) and the connect timeouts.

``tests/sockets/vsock.c`` prints the same in a coffer as natively on this
machine, a guest (CID 3), printing the CID only as "a real one".

CPython's BasicVSOCKTest passes on that, as on this machine's host, and
ThreadedVSOCKSocketStreamTest skips itself ("only on a virtual guest"), where on
this machine (a guest, CID 3) it waits for ever for a connection nothing makes.
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_NET_BIND_SERVICE
from cofferos.coffers.files import OpenFile
from cofferos.coffers.fs import FsError, Inode, StatResult
from cofferos.coffers.fs.defaults import MISC_MAJOR, VSOCK_MINOR
from cofferos.coffers.fs.permission import capable
from cofferos.coffers.net.sock import (
    SOCK_DGRAM,
    SOCK_SEQPACKET,
    SOCK_STREAM,
    Received,
    Socket,
    would_block,
)
from cofferos.coffers.net.sockaddr import AF_VSOCK, VMADDR_CID_ANY, VMADDR_PORT_ANY, VsockName

if TYPE_CHECKING:
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.net.sockaddr import SockName
    from cofferos.coffers.task import Task

VSOCK_TYPES = frozenset({SOCK_STREAM, SOCK_SEQPACKET})
VMADDR_CID_HOST = 2  #: include/uapi/linux/vm_sockets.h: the host's CID
LAST_RESERVED_PORT = 1023  #: ports up to here need CAP_NET_BIND_SERVICE
# include/uapi/linux/vm_sockets.h: the AF_VSOCK level's options
SO_VM_SOCKETS_BUFFER_SIZE, SO_VM_SOCKETS_BUFFER_MIN_SIZE = 0, 1
SO_VM_SOCKETS_BUFFER_MAX_SIZE = 2
SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW = 6, 8
BUFFER_OPTIONS = (SO_VM_SOCKETS_BUFFER_SIZE, SO_VM_SOCKETS_BUFFER_MIN_SIZE,
                  SO_VM_SOCKETS_BUFFER_MAX_SIZE)
# net/vmw_vsock/af_vsock.c
VSOCK_DEFAULT_BUFFER_SIZE = 1024 * 256
VSOCK_DEFAULT_BUFFER_MAX_SIZE = 1024 * 256
VSOCK_DEFAULT_BUFFER_MIN_SIZE = 128
VSOCK_DEFAULT_CONNECT_TIMEOUT_S = 2  #: (2 * HZ)
U64 = struct.Struct("<Q")
TIMEVAL = struct.Struct("<qq")  #: struct __kernel_old_timeval / __kernel_sock_timeval
IOCTL_VM_SOCKETS_GET_LOCAL_CID = 0x7B9  #: _IO(7, 0xb9)


class VsockDomain:
    """The coffer's vsock ports (vsock_bind_table)."""

    def __init__(self, ns: NetNamespace) -> None:
        self.ns = ns
        self.ports: dict[int, VsockSocket] = {}
        self._next_port = LAST_RESERVED_PORT + 1

    def unbound_name(self, sock: Socket) -> VsockName:
        return VsockName(VMADDR_CID_ANY, VMADDR_PORT_ANY)

    def bind(self, task: Task, sock: Socket, name: SockName) -> None:
        """__vsock_bind and vsock_bind_connectible."""
        assert isinstance(name, VsockName)
        if sock.local is not None:
            raise FsError(errno.EINVAL, "already bound")
        if name.cid not in (VMADDR_CID_ANY, VMADDR_CID_HOST):
            raise FsError(errno.EADDRNOTAVAIL)
        port = name.port
        if port == VMADDR_PORT_ANY:
            while self._next_port in self.ports:
                self._next_port += 1
            port = self._next_port
        elif port in self.ports:
            raise FsError(errno.EADDRINUSE)
        elif port <= LAST_RESERVED_PORT and not capable(task.creds, CAP_NET_BIND_SERVICE):
            raise FsError(errno.EACCES)
        self.ports[port] = sock  # type: ignore[assignment]
        sock.local = VsockName(name.cid, port)

    def unbind(self, sock: Socket) -> None:
        local = sock.local
        if isinstance(local, VsockName) and self.ports.get(local.port) is sock:
            del self.ports[local.port]


class VsockSocket(Socket):
    """A stream or seqpacket vsock socket; see the module docstring."""

    connection_oriented = True

    def __init__(self, ns: NetNamespace, family: int, sock_type: int, protocol: int,
                 nonblocking: bool = False) -> None:
        super().__init__(ns, family, sock_type, protocol, nonblocking)
        self.is_listening = False
        self.buffer = {SO_VM_SOCKETS_BUFFER_SIZE: VSOCK_DEFAULT_BUFFER_SIZE,
                       SO_VM_SOCKETS_BUFFER_MIN_SIZE: VSOCK_DEFAULT_BUFFER_MIN_SIZE,
                       SO_VM_SOCKETS_BUFFER_MAX_SIZE: VSOCK_DEFAULT_BUFFER_MAX_SIZE}
        self.connect_timeout = TIMEVAL.pack(VSOCK_DEFAULT_CONNECT_TIMEOUT_S, 0)

    @property
    def listening(self) -> bool:
        return self.is_listening

    def listen(self, backlog: int) -> None:
        if self.type not in VSOCK_TYPES or self.local is None:
            raise FsError(errno.EINVAL)
        self.is_listening = True

    def accept(self, nonblocking: bool) -> Socket:
        if not self.is_listening:
            raise FsError(errno.EINVAL)
        raise would_block(nonblocking, (self.wq,))  # no guest ever connects

    def connect(self, task: Task, name: SockName | None) -> None:
        if self.is_listening:
            raise FsError(errno.EINVAL)
        raise FsError(errno.ENODEV, "no vsock transport reaches that CID")

    def send(self, task: Task | None, data: bytes, flags: int, name: SockName | None) -> int:
        raise FsError(errno.ENOTCONN)

    def recv(self, size: int, flags: int) -> Received:
        raise FsError(errno.ENOTCONN)

    def shut(self, how: int) -> None:
        if self.type == SOCK_STREAM:
            raise FsError(errno.ENOTCONN)
        self.shutdown |= how + 1

    def poll_mask(self) -> int:
        return 0

    # -- the AF_VSOCK level's options (vsock_connectible_setsockopt / getsockopt) ---------
    def set_vsock_option(self, name: int, value: bytes) -> None:
        if name in (SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW):
            if len(value) < TIMEVAL.size:
                raise FsError(errno.EINVAL)
            self.connect_timeout = value[:TIMEVAL.size]
            return
        if name not in BUFFER_OPTIONS:
            raise FsError(errno.ENOPROTOOPT)
        if len(value) < U64.size:
            raise FsError(errno.EINVAL)
        (wanted,) = U64.unpack_from(value)
        size = self.buffer[SO_VM_SOCKETS_BUFFER_SIZE]
        if name == SO_VM_SOCKETS_BUFFER_SIZE:
            size = wanted
        else:
            self.buffer[name] = wanted
        high = self.buffer[SO_VM_SOCKETS_BUFFER_MAX_SIZE]
        low = self.buffer[SO_VM_SOCKETS_BUFFER_MIN_SIZE]
        # the maximum wins when the bounds cross (this machine's 6.18 kernel, tested)
        self.buffer[SO_VM_SOCKETS_BUFFER_SIZE] = min(max(size, low), high)

    def get_vsock_option(self, name: int) -> bytes:
        if name in (SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW):
            return self.connect_timeout
        if name not in BUFFER_OPTIONS:
            raise FsError(errno.ENOPROTOOPT)
        return U64.pack(self.buffer[name])


def vsock_create(ns: NetNamespace, sock_type: int, protocol: int,
                 nonblocking: bool) -> VsockSocket:
    """vsock_create's checks."""
    if protocol != 0:
        raise FsError(errno.EPROTONOSUPPORT)
    if sock_type == SOCK_DGRAM:
        raise FsError(errno.ENODEV, "no vsock datagram transport")
    if sock_type not in VSOCK_TYPES:
        raise FsError(errno.ESOCKTNOSUPPORT)
    return VsockSocket(ns, AF_VSOCK, sock_type, protocol, nonblocking)


def is_vsock_device(inode: Inode) -> bool:
    return inode.is_chr() and inode.rdev == os.makedev(MISC_MAJOR, VSOCK_MINOR)


class VsockDeviceFile(OpenFile):
    """/dev/vsock open (nonseekable_open): it has only its ioctl."""

    seekable = False

    def __init__(self, inode: Inode, flags: int, path: str) -> None:
        super().__init__(flags, path)
        self._inode = inode

    @property
    def inode(self) -> Inode:
        return self._inode

    def stat(self) -> StatResult:
        return self._inode.stat()

    def local_cid(self, request: int) -> int:
        """vsock_dev_do_ioctl: the local CID, or ENOIOCTLCMD's ENOTTY."""
        if request != IOCTL_VM_SOCKETS_GET_LOCAL_CID:
            raise FsError(errno.ENOTTY)
        return VMADDR_CID_HOST
