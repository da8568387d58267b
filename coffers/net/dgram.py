"""Datagrams: SOCK_DGRAM for UDP (net/ipv4/udp.c) and AF_UNIX (unix_dgram_*).

Each socket keeps a queue of (message, sender's name). sendto finds the
receiving socket through the domain and appends to its queue; every message
keeps its boundaries, and a receive that is too small truncates it (MSG_TRUNC in
msg_flags; with MSG_TRUNC in the flags the call returns the full length).
connect only sets the default destination (AF_UNSPEC forgets it).

Where the two differ, as in Linux: UDP silently drops a message nobody is
bound to receive (a connected UDP socket learns ECONNREFUSED for its next call,
as the ICMP port-unreachable would tell it), gives an unbound sender an
ephemeral port, and is EDESTADDRREQ with no destination. AF_UNIX is
ECONNREFUSED or ENOENT when the name is not bound, ENOTCONN with no
destination, EPERM when the receiver is connected to someone else, and makes
the sender sleep (EAGAIN if non-blocking) while the receiver's queue is full;
an unbound AF_UNIX sender reaches recvfrom as an empty address (length 0).
One simplification: UDP to an address no coffer on the network has fails at
once with EHOSTUNREACH (Linux takes the first datagram and reports later).
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING

from cofferos.coffers.devio import VIRTIO_NET, device_io
from cofferos.coffers.files import POLLIN, POLLOUT
from cofferos.coffers.fs import FsError
from cofferos.coffers.net.ipcmsg import IpHeader, header_for
from cofferos.coffers.net.scm import Scm, discard, sender_creds
from cofferos.coffers.net.sock import (
    MSG_PEEK,
    MSG_TRUNC,
    POLLERR,
    POLLHUP,
    POLLRDHUP,
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    SHUTDOWN_MASK,
    SO_SNDBUF,
    SOL_SOCKET,
    Received,
    Socket,
    broken_pipe,
    would_block,
)
from cofferos.coffers.net.sockaddr import AF_INET, AF_INET6, InetName, SockName, UnixName

if TYPE_CHECKING:
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.task import Task

MAX_DGRAM_QLEN = 512  #: net.unix.max_dgram_qlen
UDP_MAX_PAYLOAD = 65507  #: 65535 - IP header - UDP header
UDP6_MAX_PAYLOAD = 65527  #: 65535 - UDP header (no IPv6 jumbograms)


class DgramSocket(Socket):
    """A datagram socket of either domain; see the module docstring."""

    def __init__(self, ns: NetNamespace, family: int, sock_type: int, protocol: int,
                 nonblocking: bool = False) -> None:
        super().__init__(ns, family, sock_type, protocol, nonblocking)
        self.unix = isinstance(self.domain.unbound_name(self), UnixName)
        #: Each message, its sender's name, and what came with it (AF_UNIX: credentials
        #: and files; UDP: the header fields a receiver may ask for).
        self.queue: deque[tuple[bytes, SockName | None, Scm | IpHeader | None]] = deque()
        self.peer_address: SockName | None = None  #: the default destination (connect)
        self.peer_sock: Socket | None = None  #: AF_UNIX: the socket connected to

    # -- addresses -----------------------------------------------------------------
    def connect(self, task: Task, name: SockName | None) -> None:
        if name is None:  # AF_UNSPEC: dissolve the association
            self.peer_address = self.peer_sock = None
            return
        if isinstance(name, UnixName):
            self.peer_sock = self.ns.unix.find(task, name, self.type)
            self.peer_address = name
            return
        self.ns.inet.autobind(self)
        destination, route = self.ns.inet.route(self, name)
        local = self.sock_name()
        assert isinstance(local, InetName)
        if local.wildcard:
            self.local = InetName(route.source, local.port)
        self.peer_address = destination

    def peer_name(self) -> SockName:
        if self.peer_address is None:
            raise FsError(errno.ENOTCONN)
        return self.peer_address

    # -- data ---------------------------------------------------------------------
    def send_copy_limit(self, length: int) -> int:
        largest = (self.option(SOL_SOCKET, SO_SNDBUF) if self.unix else
                   UDP_MAX_PAYLOAD if self.family == AF_INET else UDP6_MAX_PAYLOAD)
        return min(length, largest + 1)  # one more, to meet the EMSGSIZE check

    def send(self, task: Task | None, data: bytes, flags: int, name: SockName | None,
             scm: Scm | IpHeader | None = None) -> int:
        if self.shutdown & SEND_SHUTDOWN:
            raise broken_pipe(flags)
        if name is None and self.peer_address is None:
            raise FsError(errno.ENOTCONN if self.unix else errno.EDESTADDRREQ)
        if self.unix:
            if not isinstance(scm, Scm):
                scm = Scm(sender_creds(task or self.ns.coffer.current))
            return self._send_unix(task, data, flags, name, scm)
        header = scm if isinstance(scm, IpHeader) else \
            header_for(self.options, self.family == AF_INET6, b"")
        return self._send_udp(data, flags, name or self.peer_address, header)

    def _send_unix(self, task: Task | None, data: bytes, flags: int,
                   name: SockName | None, scm: Scm) -> int:
        if len(data) > self.option(SOL_SOCKET, SO_SNDBUF):
            raise FsError(errno.EMSGSIZE)
        if name is None:
            target = self.peer_sock
            if target is None or target.released:
                raise FsError(errno.ECONNREFUSED)
        else:
            assert task is not None and isinstance(name, UnixName)
            target = self.ns.unix.find(task, name, self.type)
        assert isinstance(target, DgramSocket)
        if target.peer_sock is not None and target.peer_sock is not self:
            raise FsError(errno.EPERM, "the receiver is connected to another socket")
        if target.shutdown & RCV_SHUTDOWN:
            raise broken_pipe(flags)
        if len(target.queue) >= MAX_DGRAM_QLEN:
            raise would_block(self.nonblocking(flags), (target.wq,))
        target.deliver(data, self.local, scm)
        return len(data)

    def _send_udp(self, data: bytes, flags: int, name: SockName | None,
                  header: IpHeader) -> int:
        assert isinstance(name, InetName)
        if len(data) > (UDP_MAX_PAYLOAD if self.family == AF_INET else UDP6_MAX_PAYLOAD):
            raise FsError(errno.EMSGSIZE)
        self.ns.inet.autobind(self)
        target, destination, route = self.ns.inet.find(self, name, listening=False)
        local: SockName | None = self.local
        assert isinstance(local, InetName)
        source = local if not local.wildcard else InetName(route.source, local.port)
        if route.network is not None:
            route.network.carry(source, destination, len(data))
            device_io(self.ns.coffer, VIRTIO_NET)  # through the virtual NIC
        if target is None or target.released:
            if self.peer_address is not None:  # the port- or host-unreachable answer
                self.error = errno.EHOSTUNREACH if route.unreachable else errno.ECONNREFUSED
            return len(data)
        assert isinstance(target, DgramSocket)
        target.deliver(data, source, header)
        return len(data)

    def deliver(self, data: bytes, sender: SockName | None,
                scm: Scm | IpHeader | None = None) -> None:
        self.queue.append((data, sender, scm))
        self.changed()

    def recv(self, size: int, flags: int) -> Received:
        if not self.queue:
            error = self.take_error()
            if error:
                raise FsError(error)
            if self.shutdown & RCV_SHUTDOWN:
                return Received(b"")
            raise would_block(self.nonblocking(flags), (self.wq,))
        data, sender, scm = self.queue[0]
        if not flags & MSG_PEEK:
            self.queue.popleft()
            self.changed()  # room for a sleeping AF_UNIX sender
        msg_flags = MSG_TRUNC if len(data) > size else 0
        length = len(data) if flags & MSG_TRUNC else None  # the caller wants the real length
        return Received(data[:size], msg_flags, sender, length, scm)

    def shut(self, how: int) -> None:
        self.shutdown |= how + 1
        self.changed()
        if not self.unix and self.peer_address is None:
            raise FsError(errno.ENOTCONN)

    def release(self) -> None:
        for _, _, scm in self.queue:  # unread messages: their files in flight go
            discard(scm)
        self.peer_sock = None
        super().release()

    def poll_mask(self) -> int:
        mask = POLLERR if self.error else 0
        if self.shutdown == SHUTDOWN_MASK:
            mask |= POLLHUP
        if self.shutdown & RCV_SHUTDOWN:
            mask |= POLLIN | POLLRDHUP
        elif self.queue:
            mask |= POLLIN
        peer = self.peer_sock
        if not (isinstance(peer, DgramSocket) and len(peer.queue) >= MAX_DGRAM_QLEN):
            mask |= POLLOUT
        return mask
