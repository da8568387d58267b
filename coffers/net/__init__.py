"""Sockets of a coffer, on a simulated network: nothing here ever opens a host socket.

    sockaddr.py   struct sockaddr_in / _in6 / _un: parse and pack; UnixName, InetName
    sock.py       Socket: the open file every socket is; options; poll; send/recv flags
    stream.py     StreamSocket: connections (TCP, AF_UNIX stream and seqpacket), listen/accept
    dgram.py      DgramSocket: messages with addresses (UDP, AF_UNIX datagrams)
    unix.py       UnixDomain: AF_UNIX path names (socket inodes) and abstract names
    inet.py       InetDomain: TCP/UDP ports, ephemeral ports, loopback and routes
    netlink.py    NetlinkSocket, NetlinkDomain: AF_NETLINK (NETLINK_ROUTE) and its port ids
    rtnetlink.py  NETLINK_ROUTE's kernel side: link, address and route dumps, acks
    rtnl_change.py  rtnetlink's changes: veth pairs made, moved, deleted; addresses, routes
    netdev.py     the coffer's network devices: lo, eth0 on a network, veth ends
    veth.py       veth pairs between network namespaces: ends, indexes, addresses, routes
    vsock.py      AF_VSOCK and /dev/vsock, as on a host with no virtual machine running
    namespace.py  NetNamespace: one coffer's names, and its attachment to a network
    create.py     sock_create and socketpair: socket(2)'s checks of family, type, protocol

Between coffers the only shared object is a
:class:`~cofferos.coffers.network.VirtualNetwork`. The system calls that reach
all this are in :mod:`cofferos.coffers.syscalls.socket`.
"""

from cofferos.coffers.net.create import sock_create, socketpair
from cofferos.coffers.net.namespace import NetNamespace
from cofferos.coffers.net.sock import Socket

__all__ = ["NetNamespace", "Socket", "sock_create", "socketpair"]
