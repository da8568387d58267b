"""The socket system calls (net/socket.c): socket, bind, connect, accept, send, recv ...

Each handler does what net/socket.c does before handing over to the protocol:
find the socket behind the descriptor (EBADF, or ENOTSOCK for another kind of
file), copy the address in (``move_addr_to_kernel``: at most 128 bytes) and
parse it for the socket's family, gather or scatter the iovecs of
sendmsg/recvmsg, and copy names back out (``move_addr_to_user``: the caller's
buffer gets at most its length, the length gets the full size). The sockets
themselves, their names and the virtual network are :mod:`cofferos.coffers.net`.

sendmsg's and recvmsg's control buffers are AF_UNIX's ancillary data
(SCM_RIGHTS, SCM_CREDENTIALS: :mod:`cofferos.coffers.net.scm`) or a UDP
datagram's TTL, TOS, hop limit and traffic class (:mod:`cofferos.coffers.net.ipcmsg`);
TCP checks the SOL_SOCKET items and ignores the rest.
SO_PEERCRED reports the credentials each end of an AF_UNIX connection learnt at
socketpair, or at connect from the listener's listen().
"""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.net import Socket, sock_create, socketpair
from cofferos.coffers.net.dgram import DgramSocket
from cofferos.coffers.net.ipcmsg import IpHeader, header_for, recv_control
from cofferos.coffers.net.scm import Scm, discard, parse_control, peer_creds, put_control
from cofferos.coffers.net.sock import (
    MSG_CMSG_CLOEXEC,
    MSG_PEEK,
    SHUT_RDWR,
    SO_PASSCRED,
    SOL_SOCKET,
    Received,
)
from cofferos.coffers.net.sockaddr import (
    AF_INET6,
    AF_UNIX,
    InetName,
    SockName,
    UnixName,
    check_addrlen,
    pack_sockaddr,
    parse_sockaddr,
)
from cofferos.coffers.net.sockopt import get_sockopt, set_sockopt
from cofferos.coffers.net.stream import StreamSocket
from cofferos.coffers.syscalls.fcntl import fdget
from cofferos.coffers.syscalls.nsproxy import net_ns_of
from cofferos.coffers.syscalls.read_write import MAX_RW_COUNT
from cofferos.coffers.syscalls.uaccess import (
    I32,
    copy_from_user,
    copy_to_user,
    fd_arg,
    get_iovecs,
    signed,
    user_prefix,
)
from cofferos.isa.faults import MemoryFault

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

SOCK_NONBLOCK = os.O_NONBLOCK
SOCK_CLOEXEC = os.O_CLOEXEC
SOCK_TYPE_MASK = 0xF
FD_PAIR = struct.Struct("<ii")
#: struct user_msghdr: msg_name, msg_namelen, msg_iov, msg_iovlen, msg_control,
#: msg_controllen, msg_flags.
MSGHDR = struct.Struct("<QI4xQQQQi4x")
MSGHDR_NAMELEN = 8  #: offsetof(struct user_msghdr, msg_namelen)
MSGHDR_CONTROLLEN = 40  #: offsetof(struct user_msghdr, msg_controllen)
MSGHDR_FLAGS = 48  #: offsetof(struct user_msghdr, msg_flags)
U64 = struct.Struct("<Q")
INT_MAX = (1 << 31) - 1


# -- helpers ---------------------------------------------------------------------------
def sockfd_lookup(task: Task, fd: int) -> Socket:
    """The socket behind ``fd``: EBADF if none, ENOTSOCK if it is another kind of file."""
    file = fdget(task, fd_arg(fd))
    if not isinstance(file, Socket):
        raise FsError(errno.ENOTSOCK)
    return file


def _name_in(task: Task, sock: Socket, address: int, addrlen: int, *,
             binding: bool = False) -> SockName | None:
    addrlen = signed(addrlen, 32)
    check_addrlen(addrlen)
    return parse_sockaddr(copy_from_user(task, address, addrlen), sock.family, binding=binding)


def _get_len(task: Task, address: int) -> int:
    (length,) = I32.unpack(copy_from_user(task, address, I32.size))
    if length < 0:
        raise FsError(errno.EINVAL, "negative address length")
    return length


def _name_out(task: Task, data: bytes, address: int, addrlen_ptr: int, room: int) -> None:
    """move_addr_to_user: at most ``room`` bytes of the name, then its full length."""
    if data and room:
        copy_to_user(task, address, data[:room])
    copy_to_user(task, addrlen_ptr, I32.pack(len(data)))


def _check_flags(flags: int) -> bool:
    """SOCK_NONBLOCK / SOCK_CLOEXEC of socket, socketpair, accept4: EINVAL otherwise."""
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise FsError(errno.EINVAL, "socket flags")
    return bool(flags & SOCK_NONBLOCK)


def _send_name(task: Task, sock: Socket, address: int, addrlen: int) -> SockName | None:
    """The destination of sendto/sendmsg. TCP ignores it; an AF_UNIX stream only
    notes that one was given (EISCONN or EOPNOTSUPP)."""
    if not address or not signed(addrlen, 32):
        return None
    if isinstance(sock, StreamSocket):
        check_addrlen(signed(addrlen, 32))
        return UnixName() if sock.family == AF_UNIX else None
    return _name_in(task, sock, address, addrlen)


# -- creating, naming, connecting -------------------------------------------------------
def sys_socket(task: Task, family: int, type_: int, protocol: int) -> int:
    nonblocking = _check_flags(type_ & ~SOCK_TYPE_MASK)
    sock = sock_create(net_ns_of(task), signed(family, 32), type_ & SOCK_TYPE_MASK,
                       signed(protocol, 32), nonblocking)
    return task.files.install(sock, cloexec=bool(type_ & SOCK_CLOEXEC))


def sys_socketpair(task: Task, family: int, type_: int, protocol: int, sv: int) -> int:
    nonblocking = _check_flags(type_ & ~SOCK_TYPE_MASK)
    first, second = socketpair(net_ns_of(task), signed(family, 32), type_ & SOCK_TYPE_MASK,
                               signed(protocol, 32), nonblocking)
    cloexec = bool(type_ & SOCK_CLOEXEC)
    first.peer_cred = second.peer_cred = peer_creds(task)  # unix_socketpair
    fd0 = task.files.install(first, cloexec)
    try:
        fd1 = task.files.install(second, cloexec)
    except FsError:
        task.files.close(fd0)
        raise
    try:
        copy_to_user(task, sv, FD_PAIR.pack(fd0, fd1))
    except MemoryFault:
        task.files.close(fd0)
        task.files.close(fd1)
        raise
    return 0


def sys_bind(task: Task, fd: int, addr: int, addrlen: int) -> int:
    sock = sockfd_lookup(task, fd)
    name = _name_in(task, sock, addr, addrlen, binding=True)
    assert name is not None
    sock.bind(task, name)
    return 0


def sys_listen(task: Task, fd: int, backlog: int) -> int:
    sock = sockfd_lookup(task, fd)
    sock.listen(signed(backlog, 32))
    if sock.family == AF_UNIX:
        sock.own_cred = peer_creds(task)  # unix_listen's init_peercred
    return 0


def sys_connect(task: Task, fd: int, addr: int, addrlen: int) -> int:
    sock = sockfd_lookup(task, fd)
    name = _name_in(task, sock, addr, addrlen)
    stack = task.coffer.dispatcher.personalities
    if stack and isinstance(name, InetName) and not stack.allows(
            "may_connect", task, str(name.address), name.port):
        return -errno.ECONNREFUSED  # a personality's network policy
    sock.connect(task, name)
    return 0


def sys_accept4(task: Task, fd: int, addr: int, addrlen: int, flags: int) -> int:
    sock = sockfd_lookup(task, fd)
    nonblocking = _check_flags(flags)
    room = _get_len(task, addrlen) if addr else 0
    child = sock.accept(sock.nonblocking())
    if nonblocking:
        child.flags |= os.O_NONBLOCK
    newfd = task.files.install(child, cloexec=bool(flags & SOCK_CLOEXEC))
    if addr:
        try:
            _name_out(task, pack_sockaddr(child.peer_name(), child.family), addr, addrlen, room)
        except MemoryFault:
            task.files.close(newfd)
            raise
    return newfd


def sys_accept(task: Task, fd: int, addr: int, addrlen: int) -> int:
    return sys_accept4(task, fd, addr, addrlen, 0)


def sys_shutdown(task: Task, fd: int, how: int) -> int:
    sock = sockfd_lookup(task, fd)
    how = signed(how, 32)
    if how < 0 or how > SHUT_RDWR:
        return -errno.EINVAL
    sock.shut(how)
    return 0


def _getname(task: Task, fd: int, addr: int, addrlen: int, peer: bool) -> int:
    sock = sockfd_lookup(task, fd)
    room = _get_len(task, addrlen)
    name = sock.peer_name() if peer else sock.sock_name()
    _name_out(task, pack_sockaddr(name, sock.family), addr, addrlen, room)
    return 0


def sys_getsockname(task: Task, fd: int, addr: int, addrlen: int) -> int:
    return _getname(task, fd, addr, addrlen, peer=False)


def sys_getpeername(task: Task, fd: int, addr: int, addrlen: int) -> int:
    return _getname(task, fd, addr, addrlen, peer=True)


# -- moving data -----------------------------------------------------------------------
def sys_sendto(task: Task, fd: int, buf: int, length: int, flags: int, addr: int,
               addrlen: int) -> int:
    sock = sockfd_lookup(task, fd)
    length = sock.send_copy_limit(min(length, MAX_RW_COUNT))
    data = copy_from_user(task, buf, length) if length else b""
    return sock.send(task, data, signed(flags, 32), _send_name(task, sock, addr, addrlen))


def sys_recvfrom(task: Task, fd: int, buf: int, length: int, flags: int, addr: int,
                 addrlen: int) -> int:
    sock = sockfd_lookup(task, fd)
    room = _get_len(task, addrlen) if addr else 0
    length = min(length, MAX_RW_COUNT)
    if length and user_prefix(task, buf, length, writing=True) < length:
        # Linux copies a message to the guest before consuming it: a buffer the guest
        # cannot write is EFAULT and the data stays queued (once there is some).
        peeked = sock.recv(length, signed(flags, 32) | MSG_PEEK)
        if user_prefix(task, buf, len(peeked.data), writing=True) < len(peeked.data):
            raise MemoryFault(buf, length)
    got = sock.recv(length, signed(flags, 32))
    if not signed(flags, 32) & MSG_PEEK:
        discard(got.scm)  # no control buffer: files that came with it are closed
    if got.data:
        copy_to_user(task, buf, got.data)
    if addr:
        _name_out(task, pack_sockaddr(got.sender, sock.family), addr, addrlen, room)
    return got.result


def _read_msghdr(task: Task, msg: int) -> tuple[int, int, list[tuple[int, int]], int, int]:
    name, namelen, iov, iovlen, control, controllen, _ = MSGHDR.unpack(
        copy_from_user(task, msg, MSGHDR.size))
    return name, namelen, get_iovecs(task, iov, signed(iovlen, 32)), control, controllen


def sys_sendmsg(task: Task, fd: int, msg: int, flags: int) -> int:
    sock = sockfd_lookup(task, fd)
    name, namelen, iovecs, control, controllen = _read_msghdr(task, msg)
    if controllen > INT_MAX:
        return -errno.ENOBUFS  # ____sys_sendmsg
    scm: Scm | IpHeader | None = None
    if controllen:
        unix = sock.family == AF_UNIX
        data = copy_from_user(task, control, controllen)
        scm = parse_control(task, data, unix)
        if not unix:  # the IP levels' items: what the datagram's header carries
            ipv6 = sock.family == AF_INET6
            scm = header_for(sock.options, ipv6, data) if isinstance(sock, DgramSocket) \
                else None
    try:
        return _sendmsg_data(task, sock, name, namelen, iovecs, flags, scm)
    except BaseException:
        discard(scm)  # not sent (an error, or a sleep before the call runs again)
        raise


def _sendmsg_data(task: Task, sock: Socket, name: int, namelen: int,
                  iovecs: list[tuple[int, int]], flags: int, scm: Scm | IpHeader | None) -> int:
    remaining = sock.send_copy_limit(min(sum(size for _, size in iovecs), MAX_RW_COUNT))
    parts = []
    for base, size in iovecs:
        take = min(size, remaining)
        if take:
            parts.append(copy_from_user(task, base, take))
        remaining -= take
    destination = _send_name(task, sock, name, namelen)
    if scm is None:
        return sock.send(task, b"".join(parts), signed(flags, 32), destination)
    return sock.send(task, b"".join(parts), signed(flags, 32), destination, scm=scm)


def sys_recvmsg(task: Task, fd: int, msg: int, flags: int) -> int:
    sock = sockfd_lookup(task, fd)
    name, namelen, iovecs, control, controllen = _read_msghdr(task, msg)
    if signed(namelen, 32) < 0:
        return -errno.EINVAL
    total = min(sum(size for _, size in iovecs), MAX_RW_COUNT)
    flags = signed(flags, 32)
    got: Received = sock.recv(total, flags & ~MSG_CMSG_CLOEXEC)
    room = min(controllen, INT_MAX) if control else 0
    if isinstance(got.scm, IpHeader):
        ancillary, control_flags = recv_control(sock.options, sock.family == AF_INET6,
                                                got.scm, room)
    else:
        passcred = sock.family == AF_UNIX and bool(sock.option(SOL_SOCKET, SO_PASSCRED))
        ancillary, control_flags = put_control(
            task, got.scm, room, passcred, cloexec=bool(flags & MSG_CMSG_CLOEXEC),
            peek=bool(flags & MSG_PEEK))
    if ancillary:
        copy_to_user(task, control, ancillary)
    done = 0
    for base, size in iovecs:
        chunk = got.data[done : done + size]
        if not chunk:
            break
        copy_to_user(task, base, chunk)
        done += len(chunk)
    sender = pack_sockaddr(got.sender, sock.family) if name else b""
    if sender:
        copy_to_user(task, name, sender[:namelen])
    copy_to_user(task, msg + MSGHDR_NAMELEN, I32.pack(len(sender)))
    copy_to_user(task, msg + MSGHDR_CONTROLLEN, U64.pack(len(ancillary)))
    copy_to_user(task, msg + MSGHDR_FLAGS, I32.pack(got.flags | control_flags))
    return got.result


# -- options ---------------------------------------------------------------------------
def sys_setsockopt(task: Task, fd: int, level: int, optname: int, optval: int,
                   optlen: int) -> int:
    sock = sockfd_lookup(task, fd)
    optlen = signed(optlen, 32)
    if optlen < 0:
        return -errno.EINVAL
    value = copy_from_user(task, optval, optlen) if optlen else b""
    set_sockopt(sock, signed(level, 32), signed(optname, 32), value)
    return 0


def sys_getsockopt(task: Task, fd: int, level: int, optname: int, optval: int,
                   optlen: int) -> int:
    sock = sockfd_lookup(task, fd)
    room = _get_len(task, optlen)
    value = get_sockopt(sock, signed(level, 32), signed(optname, 32))
    value = value[:room]
    if value:
        copy_to_user(task, optval, value)
    copy_to_user(task, optlen, I32.pack(len(value)))
    return 0


def register(table: SyscallTable) -> None:
    table.add("socket", sys_socket, "int", "int", "int")
    table.add("socketpair", sys_socketpair, "int", "int", "int", "ptr")
    table.add("bind", sys_bind, "fd", "ptr", "int")
    table.add("listen", sys_listen, "fd", "int")
    table.add("accept", sys_accept, "fd", "ptr", "ptr")
    table.add("accept4", sys_accept4, "fd", "ptr", "ptr", "hex")
    table.add("connect", sys_connect, "fd", "ptr", "int")
    table.add("shutdown", sys_shutdown, "fd", "int")
    table.add("sendto", sys_sendto, "fd", "ptr", "size", "hex", "ptr", "int")
    table.add("recvfrom", sys_recvfrom, "fd", "ptr", "size", "hex", "ptr", "ptr")
    table.add("sendmsg", sys_sendmsg, "fd", "ptr", "hex")
    table.add("recvmsg", sys_recvmsg, "fd", "ptr", "hex")
    table.add("getsockname", sys_getsockname, "fd", "ptr", "ptr")
    table.add("getpeername", sys_getpeername, "fd", "ptr", "ptr")
    table.add("setsockopt", sys_setsockopt, "fd", "int", "int", "ptr", "int")
    table.add("getsockopt", sys_getsockopt, "fd", "int", "int", "ptr", "ptr")
