"""AF_NETLINK sockets (net/netlink/af_netlink.c): NETLINK_ROUTE, between a process and
its coffer's kernel.

A netlink socket is a datagram socket whose peer is the kernel (port id 0) or
another netlink socket of the coffer. Its name, ``struct sockaddr_nl``
(:class:`NetlinkName`), is a port id and a multicast group mask:

* bind with ``nl_pid`` 0, or the first send, autobinds (netlink_autobind): the
  port id is the process's pid if free, else the next of -4096, -4097 ...; an
  explicit port id is EADDRINUSE if taken, and a socket keeps the first it got
  (EINVAL for another). Groups are stored; the model's devices never change, so
  no notification is ever multicast.
* a send to port id 0 is a request to the kernel, answered at once
  (:func:`~.rtnetlink.rtnetlink_rcv`): the answers are queued on the sender as
  datagrams, every one from port id 0. A send to another port id reaches that
  socket (ECONNREFUSED if none).
* recv gives one datagram, MSG_TRUNC and MSG_PEEK as for UDP.

Only NETLINK_ROUTE exists (another protocol is EPROTONOSUPPORT), with
SOCK_RAW or SOCK_DGRAM (ESOCKTNOSUPPORT otherwise). The port table is the
coffer's :class:`NetlinkDomain`, held by its :class:`~.namespace.NetNamespace`.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_NET_ADMIN
from cofferos.coffers.files import POLLIN, POLLOUT
from cofferos.coffers.fs import FsError
from cofferos.coffers.net.netdev import NetDevice, net_devices, set_up
from cofferos.coffers.net.rtnetlink import rtnetlink_rcv
from cofferos.coffers.net.rtnl_change import Changer, net_resolver
from cofferos.coffers.net.sock import (
    CORE_BUFFER_DEFAULT,
    MSG_PEEK,
    MSG_TRUNC,
    RCV_SHUTDOWN,
    SO_RCVBUF,
    SO_SNDBUF,
    SOCK_DGRAM,
    SOCK_RAW,
    SOL_SOCKET,
    Received,
    Socket,
    would_block,
)
from cofferos.coffers.net.sockaddr import KERNEL_PORTID, NetlinkName
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.net.sockaddr import SockName
    from cofferos.coffers.task import Task

NETLINK_ROUTE = 0  #: include/uapi/linux/netlink.h: the only protocol a coffer has
NETLINK_TYPES = frozenset({SOCK_RAW, SOCK_DGRAM})
AUTOBIND_FIRST = -4096  #: netlink_autobind's rover when the pid is taken
PORTID_MASK = 0xFFFFFFFF  #: port ids are __u32; the rover's are negative ints


class NetlinkDomain:
    """The coffer's netlink port ids (Linux's nl_table for NETLINK_ROUTE)."""

    def __init__(self, ns: NetNamespace) -> None:
        self.ns = ns
        self.ports: dict[int, NetlinkSocket] = {}

    def unbound_name(self, sock: Socket) -> NetlinkName:
        return NetlinkName()

    def bind(self, task: Task, sock: Socket, name: SockName) -> None:
        assert isinstance(sock, NetlinkSocket) and isinstance(name, NetlinkName)
        if sock.portid is not None and name.portid and name.portid != sock.portid:
            raise FsError(errno.EINVAL, "the socket has another port id")
        if sock.portid is None:
            if name.portid:
                self._insert(sock, name.portid)
            else:
                self.autobind(sock, task)
        sock.groups = name.groups

    def _insert(self, sock: NetlinkSocket, portid: int) -> None:
        if portid in self.ports:
            raise FsError(errno.EADDRINUSE)
        self.ports[portid] = sock
        sock.portid = portid

    def autobind(self, sock: NetlinkSocket, task: Task | None) -> None:
        """netlink_autobind: the caller's pid, else the rover downwards from -4096."""
        if sock.portid is not None:
            return
        pid = (task or self.ns.coffer.current).tgid
        portid = pid if pid not in self.ports else AUTOBIND_FIRST & PORTID_MASK
        while portid in self.ports:
            portid = (portid - 1) & PORTID_MASK
        self._insert(sock, portid)

    def unbind(self, sock: Socket) -> None:
        assert isinstance(sock, NetlinkSocket)
        if sock.portid is not None and self.ports.get(sock.portid) is sock:
            del self.ports[sock.portid]

    def find(self, portid: int) -> NetlinkSocket:
        sock = self.ports.get(portid)
        if sock is None or sock.released:
            raise FsError(errno.ECONNREFUSED)
        return sock


class NetlinkSocket(Socket):
    """A NETLINK_ROUTE socket; see the module docstring."""

    def __init__(self, ns: NetNamespace, family: int, sock_type: int, protocol: int,
                 nonblocking: bool = False) -> None:
        super().__init__(ns, family, sock_type, protocol, nonblocking)
        self.portid: int | None = None
        self.groups = 0
        self.peer = NetlinkName()  #: the default destination (connect): the kernel
        self.queue: deque[tuple[bytes, NetlinkName]] = deque()

    def default_options(self) -> dict[tuple[int, int], int]:
        return {(SOL_SOCKET, SO_RCVBUF): CORE_BUFFER_DEFAULT,
                (SOL_SOCKET, SO_SNDBUF): CORE_BUFFER_DEFAULT}

    @property
    def local(self) -> NetlinkName | None:  # type: ignore[override]
        return None if self.portid is None else NetlinkName(self.portid, self.groups)

    @local.setter
    def local(self, value: object) -> None:  # Socket.__init__ sets "not bound"
        assert value is None

    def sock_name(self) -> NetlinkName:
        return NetlinkName(self.portid or 0, self.groups)

    def peer_name(self) -> NetlinkName:
        return self.peer

    def connect(self, task: Task, name: SockName | None) -> None:
        if name is None:  # AF_UNSPEC: back to the kernel
            self.peer = NetlinkName()
            return
        assert isinstance(name, NetlinkName)
        self.ns.netlink.autobind(self, task)
        self.peer = name

    def send(self, task: Task | None, data: bytes, flags: int, name: SockName | None,
             scm: object = None) -> int:
        if len(data) > self.option(SOL_SOCKET, SO_SNDBUF):
            raise FsError(errno.EMSGSIZE)
        destination = name if isinstance(name, NetlinkName) else self.peer
        domain = self.ns.netlink
        domain.autobind(self, task)
        assert self.portid is not None
        source = NetlinkName(self.portid)
        if destination.portid != KERNEL_PORTID:
            domain.find(destination.portid).deliver(data, source)
            return len(data)
        if destination.groups:
            return len(data)  # a multicast nobody listens to: the kernel keeps none
        creds = (task or self.ns.coffer.current).creds
        ns = self.ns

        def set_flags(dev: NetDevice, flags: int) -> None:
            set_up(ns, creds, dev, flags)

        change = Changer(ns, creds, net_resolver(task or ns.coffer.current), set_flags)
        for datagram in rtnetlink_rcv(data, self.portid, net_devices(ns),
                                      ns_capable(creds, ns.user_ns, CAP_NET_ADMIN), set_flags,
                                      change, change.query):
            self.deliver(datagram, NetlinkName())
        return len(data)

    def deliver(self, data: bytes, sender: NetlinkName) -> None:
        self.queue.append((data, sender))
        self.changed()

    def recv(self, size: int, flags: int) -> Received:
        if not self.queue:
            if self.shutdown & RCV_SHUTDOWN:
                return Received(b"")
            raise would_block(self.nonblocking(flags), (self.wq,))
        data, sender = self.queue[0]
        if not flags & MSG_PEEK:
            self.queue.popleft()
        msg_flags = MSG_TRUNC if len(data) > size else 0
        length = len(data) if flags & MSG_TRUNC else None
        return Received(data[:size], msg_flags, sender, length)

    def shut(self, how: int) -> None:
        raise FsError(errno.EOPNOTSUPP)  # netlink_ops.shutdown is sock_no_shutdown

    def unhash(self) -> None:
        self.ns.netlink.unbind(self)

    def poll_mask(self) -> int:
        return (POLLIN if self.queue or self.shutdown & RCV_SHUTDOWN else 0) | POLLOUT
