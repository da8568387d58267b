"""Connections: SOCK_STREAM (TCP and AF_UNIX) and SOCK_SEQPACKET (AF_UNIX).

A listening socket keeps a queue of connections not yet accepted. connect
finds the listener through the socket's domain (ECONNREFUSED if nobody
listens), makes the server's end of the connection - a new socket in the
listener's coffer - and queues it: the connection is established at once, so
a non-blocking connect succeeds too (returns 0) whenever a listener exists. A
full backlog makes connect sleep (EAGAIN if non-blocking; real TCP would
answer EINPROGRESS and retry the SYN).

The two ends then hold each other (:attr:`StreamSocket.peer`); a send appends
to the peer's receive buffer, bounded by the peer's SO_RCVBUF (a blocking send
that finds some room sends what fits and returns the count), and a receive
takes from the own buffer and wakes the peer's writers. SOCK_SEQPACKET keeps
each send as one record. A connection between two coffers is the same, except
that every send is also carried by the VirtualNetwork (for its accounting and
latency hook).

Ends and errors follow Linux where TCP and AF_UNIX differ:

* shutdown(SHUT_WR) or close is end-of-file for the peer once it has read what
  was sent; closing with unread data resets the connection (ECONNRESET);
* writing after SHUT_WR is EPIPE; writing to an AF_UNIX peer that closed or
  shut its reading side is EPIPE at once, while TCP's first write to a closed
  peer is taken (the peer answers with a reset) and the next is EPIPE; EPIPE
  comes with SIGPIPE unless MSG_NOSIGNAL;
* before connecting, send is EPIPE for TCP and ENOTCONN for AF_UNIX, recv is
  ENOTCONN for TCP and EINVAL for AF_UNIX.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING

from cofferos.coffers.devio import VIRTIO_NET, device_io
from cofferos.coffers.files import POLLIN, POLLOUT
from cofferos.coffers.fs import FsError
from cofferos.coffers.net.inet import Route
from cofferos.coffers.net.scm import Scm, discard, peer_creds, sender_creds
from cofferos.coffers.net.sock import (
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    MSG_WAITALL,
    POLLERR,
    POLLHUP,
    POLLRDHUP,
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    SHUTDOWN_MASK,
    SO_PASSCRED,
    SO_RCVBUF,
    SO_SNDBUF,
    SOCK_SEQPACKET,
    SOL_SOCKET,
    Received,
    Socket,
    broken_pipe,
    would_block,
)
from cofferos.coffers.net.sockaddr import AF_UNIX, InetName, SockName, UnixName

if TYPE_CHECKING:
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.task import Task

SOMAXCONN = 4096  #: net.core.somaxconn


class StreamSocket(Socket):
    """One end of a connection, or a listener; see the module docstring."""

    connection_oriented = True

    def __init__(self, ns: NetNamespace, family: int, sock_type: int, protocol: int,
                 nonblocking: bool = False) -> None:
        super().__init__(ns, family, sock_type, protocol, nonblocking)
        self.tcp = self.family != AF_UNIX
        self.records = self.type == SOCK_SEQPACKET
        self.peer: StreamSocket | None = None
        self.connected = False  #: connected once (the peer may be gone since)
        self.peer_address: SockName | None = None
        self.route: Route | None = None
        self.rx: deque[bytes] = deque()  #: received and not yet read, in sends
        #: AF_UNIX: what came with each send in ``rx`` (credentials, files in flight).
        self.rx_scm: deque[Scm | None] = deque()
        self.rx_bytes = 0
        self.rx_eof = False  #: the peer will send no more (FIN, or its close)
        self.backlog = 0
        self.accept_queue: deque[StreamSocket] | None = None  #: set while listening

    @property
    def listening(self) -> bool:
        return self.accept_queue is not None

    # -- connecting ---------------------------------------------------------------
    def listen(self, backlog: int) -> None:
        if self.connected:
            raise FsError(errno.EINVAL, "connected")
        if self.local is None:
            if not self.tcp:
                raise FsError(errno.EINVAL, "listen on an unbound AF_UNIX socket")
            self.ns.inet.autobind(self)
        self.backlog = backlog if 0 <= backlog <= SOMAXCONN else SOMAXCONN
        if self.accept_queue is None:
            self.accept_queue = deque()
            if self.tcp:
                self.ns.inet.publish(self)

    def accept(self, nonblocking: bool) -> StreamSocket:
        if self.accept_queue is None:
            raise FsError(errno.EINVAL, "not listening")
        if not self.accept_queue:
            raise would_block(nonblocking, (self.wq,))
        child = self.accept_queue.popleft()
        self.changed()  # room in the backlog for a sleeping connect
        return child

    def connect(self, task: Task, name: SockName | None) -> None:
        if self.listening:
            raise FsError(errno.EINVAL, "listening")
        if self.connected:
            raise FsError(errno.EISCONN)
        if name is None:  # AF_UNSPEC: TCP would disconnect, and nothing is connected
            if self.tcp:
                return
            raise FsError(errno.EINVAL, "AF_UNSPEC")
        listener, server_name, route = self._find_listener(task, name)
        queue = listener.accept_queue
        assert queue is not None
        if len(queue) > listener.backlog:
            raise would_block(self.nonblocking(), (listener.wq,))
        if self.tcp:
            self._bind_source(route)
        child = StreamSocket(listener.ns, listener.family, listener.type, listener.protocol)
        child.options.update(listener.options)
        child.local = server_name
        for end, other, address in ((self, child, server_name), (child, self, self.sock_name())):
            end.peer, end.connected, end.peer_address = other, True, address
            end.route = route if route.network is not None else None
        if not self.tcp:  # unix_stream_connect: each end learns the other's credentials
            child.peer_cred, self.peer_cred = peer_creds(task), listener.own_cred
        queue.append(child)
        listener.changed()
        self.changed()

    def _find_listener(self, task: Task, name: SockName) -> tuple[StreamSocket, SockName, Route]:
        if isinstance(name, UnixName):
            found = self.ns.unix.find(task, name, self.type)
            if not isinstance(found, StreamSocket) or not found.listening:
                raise FsError(errno.ECONNREFUSED, "not listening")
            assert found.local is not None
            return found, found.local, Route(self.ns.address, None)
        sock, destination, route = self.ns.inet.find(self, name, listening=True)
        if route.unreachable:
            raise FsError(errno.EHOSTUNREACH, str(destination))
        if not isinstance(sock, StreamSocket) or sock.released:
            raise FsError(errno.ECONNREFUSED, str(destination))
        return sock, destination, route

    def _bind_source(self, route: Route) -> None:
        """The client's own name: an ephemeral port, the route's source address."""
        self.ns.inet.autobind(self)
        local = self.sock_name()
        assert isinstance(local, InetName)
        if local.wildcard:
            self.local = InetName(route.source, local.port)

    @property
    def tcp_closed(self) -> bool:
        """Both directions finished (TCP's CLOSED or TIME_WAIT): no longer connected."""
        return self.tcp and bool(self.shutdown & SEND_SHUTDOWN) and self.rx_eof

    def peer_name(self) -> SockName:
        if self.peer_address is None or self.tcp_closed:
            raise FsError(errno.ENOTCONN)
        return self.peer_address

    # -- data ---------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return self.option(SOL_SOCKET, SO_RCVBUF)

    def send_copy_limit(self, length: int) -> int:
        peer = self.peer
        if peer is None:
            return min(length, self.option(SOL_SOCKET, SO_SNDBUF))  # taken, then reset
        if self.records:
            return min(length, peer.capacity + 1)
        return min(length, max(peer.capacity - peer.rx_bytes, 1))

    def send(self, task: Task | None, data: bytes, flags: int, name: SockName | None,
             scm: Scm | None = None) -> int:
        self._check_send(flags, name)
        if not self.tcp and scm is None:
            scm = Scm(sender_creds(task or self.ns.coffer.current))
        peer = self.peer
        if peer is None:  # TCP: the peer closed; this write is taken, the reset answers it
            self.error, self.shutdown = errno.EPIPE, SHUTDOWN_MASK
            self.changed()
            return len(data)
        room = peer.capacity - peer.rx_bytes
        if self.records:
            if len(data) > peer.capacity:
                raise FsError(errno.EMSGSIZE)
            if room < len(data):
                raise would_block(self.nonblocking(flags), (self.wq,))
        elif not data:
            discard(scm)  # unix_stream_sendmsg sends no empty skb: its files are dropped
            return 0
        elif room <= 0:
            raise would_block(self.nonblocking(flags), (self.wq,))
        chunk = data if self.records else data[:room]
        if self.route is not None and self.route.network is not None:
            assert isinstance(self.local, InetName) and isinstance(self.peer_address, InetName)
            self.route.network.carry(self.local, self.peer_address, len(chunk))
            device_io(self.ns.coffer, VIRTIO_NET, task)  # through the virtual NIC
        peer.rx.append(chunk)
        peer.rx_scm.append(scm)
        peer.rx_bytes += len(chunk)
        peer.changed()
        return len(chunk)

    def _check_send(self, flags: int, name: SockName | None) -> None:
        if self.tcp:
            if not self.connected:
                raise broken_pipe(flags)
            error = self.take_error()
            if error and error != errno.EPIPE:
                raise FsError(error)
            if error or self.shutdown & SEND_SHUTDOWN:
                raise broken_pipe(flags)
            return
        if flags & MSG_OOB:
            raise FsError(errno.EOPNOTSUPP)
        if name is not None:
            raise FsError(errno.EISCONN if self.connected else errno.EOPNOTSUPP)
        if not self.connected:
            raise FsError(errno.ENOTCONN)
        peer = self.peer
        if self.shutdown & SEND_SHUTDOWN or peer is None or peer.shutdown & RCV_SHUTDOWN:
            raise broken_pipe(flags)

    def recv(self, size: int, flags: int) -> Received:
        if self.listening or not self.connected:
            raise FsError(errno.ENOTCONN if self.tcp else errno.EINVAL)
        if flags & MSG_OOB:
            raise FsError(errno.EINVAL if self.tcp else errno.EOPNOTSUPP)
        sender = None if self.tcp else self.peer_address
        if not self.rx:
            error = self.take_error()
            if error:
                raise FsError(error)
            if self.rx_eof or self.shutdown & RCV_SHUTDOWN or size == 0:
                return Received(b"", 0, sender)
            raise would_block(self.nonblocking(flags), (self.wq,))
        if self.records:
            return self._recv_record(size, flags, sender)
        if not self.tcp and (self.option(SOL_SOCKET, SO_PASSCRED)
                             or any(a is not None and a.files for a in self.rx_scm)):
            return self._recv_unix(size, flags, sender)
        if flags & MSG_WAITALL and self.rx_bytes < size <= self.capacity \
                and not self.rx_eof and not self.nonblocking(flags):
            raise would_block(False, (self.wq,))
        data = b"".join(self.rx)[:size]
        if not flags & MSG_PEEK:
            self._consume(len(data))
        return Received(data, 0, sender)

    def _recv_record(self, size: int, flags: int,
                     sender: SockName | None) -> Received:
        record, scm = self.rx[0], self.rx_scm[0]
        msg_flags = MSG_TRUNC if len(record) > size else 0
        if not flags & MSG_PEEK:
            self.rx.popleft()
            self.rx_scm.popleft()
            self.rx_bytes -= len(record)
            self._woke_writer()
        return Received(record[:size], msg_flags, sender, scm=scm)

    def _recv_unix(self, size: int, flags: int, sender: SockName | None) -> Received:
        """unix_stream_read_generic where messages carry something: with SO_PASSCRED a
        read never joins sends of different credentials, and a read that reaches a
        send with files takes them and stops at that send's end."""
        passcred = bool(self.option(SOL_SOCKET, SO_PASSCRED))
        taken, creds, files = 0, None, []
        for index, (chunk, scm) in enumerate(zip(self.rx, self.rx_scm, strict=True)):
            chunk_creds = scm.creds if scm is not None else None
            if passcred and index and chunk_creds != creds:
                break
            creds = chunk_creds if index == 0 else creds
            part = min(len(chunk), size - taken)
            if part <= 0:
                break
            taken += part
            if scm is not None and scm.files:
                files = list(scm.files)
                if not flags & MSG_PEEK:
                    scm.files = []  # detached: this read's descriptors own them now
                break
            if part < len(chunk):
                break
        data = b"".join(self.rx)[:taken]
        if not flags & MSG_PEEK:
            self._consume(taken)
        return Received(data, 0, sender, scm=Scm(creds or peer_creds(None), files))

    def _consume(self, count: int) -> None:
        self.rx_bytes -= count
        while count:
            head = self.rx[0]
            if len(head) <= count:
                self.rx.popleft()
                if self.rx_scm:
                    self.rx_scm.popleft()
                count -= len(head)
            else:
                self.rx[0] = head[count:]
                count = 0
        self._woke_writer()

    def _woke_writer(self) -> None:
        if self.peer is not None:
            self.peer.changed()

    # -- ends ----------------------------------------------------------------------
    def shut(self, how: int) -> None:
        mode = how + 1  # SHUT_RD -> RCV_SHUTDOWN, SHUT_WR -> SEND_SHUTDOWN, both
        if self.tcp and self.listening:
            if mode & RCV_SHUTDOWN:
                self._stop_listening()
            return
        closed = not self.connected or self.tcp_closed
        self.shutdown |= mode
        peer = self.peer
        if peer is not None:
            if mode & SEND_SHUTDOWN:
                peer.rx_eof = True
            if not self.tcp and mode & RCV_SHUTDOWN:
                peer.shutdown |= SEND_SHUTDOWN
            peer.changed()
        self.changed()
        if self.tcp and closed:
            raise FsError(errno.ENOTCONN)

    def _stop_listening(self) -> None:
        queue, self.accept_queue = self.accept_queue, None
        for child in queue or ():  # connections never accepted are reset
            child.disconnect(reset=True)
            child.release()
        if self.tcp and self.local is not None and self.ns.network is not None:
            assert isinstance(self.local, InetName)
            self.ns.network.unregister(self.protocol, self.ns.address, self.local.port, self)
        self.changed()

    def disconnect(self, reset: bool = False) -> None:
        """Leave the connection: end-of-file for the peer, or a reset (ECONNRESET)."""
        peer, self.peer = self.peer, None
        if peer is None:
            return
        peer.peer = None
        peer.rx_eof = True
        if reset:
            peer.error = errno.ECONNRESET
            peer.shutdown = SHUTDOWN_MASK
        elif not self.tcp:
            peer.shutdown = SHUTDOWN_MASK
        peer.changed()

    def release(self) -> None:
        for scm in self.rx_scm:  # unix_release_sock purges the queue: files in flight go
            discard(scm)
        if self.listening:
            self._stop_listening()
        self.disconnect(reset=bool(self.rx))  # closing with unread data resets
        super().release()

    def poll_mask(self) -> int:
        if self.accept_queue is not None:
            return POLLIN if self.accept_queue else 0
        if not self.connected:
            return POLLOUT | POLLHUP
        mask = POLLERR if self.error else 0
        if self.shutdown == SHUTDOWN_MASK or self.tcp_closed:
            mask |= POLLHUP
        if self.rx_eof or self.shutdown & RCV_SHUTDOWN:
            mask |= POLLIN | POLLRDHUP
        elif self.rx:
            mask |= POLLIN
        peer = self.peer
        if self.shutdown & SEND_SHUTDOWN or peer is None or peer.rx_bytes < peer.capacity:
            mask |= POLLOUT
        return mask
