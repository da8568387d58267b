"""AF_UNIX names (net/unix/af_unix.c): path names in the coffer's filesystem, abstract names.

A path name is a file: bind makes a socket inode (``S_IFSOCK``, permissions
``0777 & ~umask``) at the path in the coffer's own filesystem, EADDRINUSE if
anything is there already; connect and sendto look the path up (ENOENT if
missing) and find the socket bound to that inode (ECONNREFUSED if the inode is
not a socket or nobody is bound to it any more, EPROTOTYPE for another socket
type). The file outlives the socket, as in Linux, until someone unlinks it.
bind needs write and search permission on the directory and makes the file the
caller's; connect needs write permission on it (EACCES), as in Linux.

An abstract name starts with a NUL byte and is as long as the caller's address
length says; it lives in the coffer's abstract namespace (a dict), never in the
filesystem, and disappears when its socket closes. bind with only the family
(an address length of 2) autobinds an abstract name of five hex digits.

Because both tables belong to the coffer, a name bound in one coffer can never
be reached from another. Inside a coffer, each network namespace has its own
abstract names; the path names are files, the same in every namespace, as in
Linux (the table of sockets bound to paths is the coffer's first namespace's).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.permission import MAY_WRITE, inode_permission
from cofferos.coffers.net.sockaddr import UnixName

if TYPE_CHECKING:
    from cofferos.coffers.net.namespace import NetNamespace
    from cofferos.coffers.net.sock import Socket
    from cofferos.coffers.task import Task

SOCKET_FILE_MODE = 0o777
AUTOBIND_DIGITS = 5  #: unix_autobind: "\0" and five hex digits
AUTOBIND_NAMES = 1 << 20


def _path(name: UnixName) -> str:
    return os.fsdecode(name.raw)


class UnixDomain:
    """One coffer's AF_UNIX names; see the module docstring."""

    def __init__(self, ns: NetNamespace, first: UnixDomain | None = None) -> None:
        self.ns = ns
        #: socket inode -> the socket bound to it (``first``'s: one for all namespaces)
        self.paths: dict[Inode, Socket] = {} if first is None else first.paths
        self.abstract: dict[bytes, Socket] = {}  #: abstract name -> its socket
        #: AF_UNIX sockets passed in SCM_RIGHTS messages (unix_inflight), for
        #: :func:`cofferos.coffers.net.unix_gc.unix_gc`; pruned as they are freed.
        self.inflight: set[Socket] = set() if first is None else first.inflight
        self._autobind = 0

    def bind(self, task: Task, sock: Socket, name: UnixName) -> None:
        """Bind ``sock``; EINVAL if it has a name already, except that an existing
        file is EADDRINUSE first (unix_bind_bsd makes the file before it looks)."""
        if name.unnamed and sock.local is None:
            name = self._autobind_name()
        if name.abstract or name.unnamed:
            if sock.local is not None:
                raise FsError(errno.EINVAL, "already bound")
            if name.raw in self.abstract:
                raise FsError(errno.EADDRINUSE, "abstract name in use")
            self.abstract[name.raw] = sock
        else:
            fs = self.ns.coffer.fs
            parent, last = fs.lookup_parent(_path(name), task.fs.cwd, cred=task.creds)
            if sock.local is not None:
                if parent.child(last) is not None:
                    raise FsError(errno.EADDRINUSE, _path(name))
                raise FsError(errno.EINVAL, "already bound")
            mode = stat.S_IFSOCK | SOCKET_FILE_MODE & ~task.fs.umask
            try:
                inode = fs.mknod(parent, last, mode, cred=task.creds)
            except FsError as err:
                if err.errno == errno.EEXIST:
                    raise FsError(errno.EADDRINUSE, _path(name)) from None
                raise
            self.paths[inode] = sock
        sock.local = name

    def _autobind_name(self) -> UnixName:
        for _ in range(AUTOBIND_NAMES):
            raw = b"\0" + b"%0*x" % (AUTOBIND_DIGITS, self._autobind)
            self._autobind = (self._autobind + 1) % AUTOBIND_NAMES
            if raw not in self.abstract:
                return UnixName(raw)
        raise FsError(errno.ENOSPC, "no abstract name left to autobind")

    def unbind(self, sock: Socket) -> None:
        name = sock.local
        assert isinstance(name, UnixName)
        if name.abstract:
            if self.abstract.get(name.raw) is sock:
                del self.abstract[name.raw]
            return
        for inode, bound in list(self.paths.items()):
            if bound is sock:
                del self.paths[inode]

    def unbound_name(self, sock: Socket) -> UnixName:
        return UnixName()

    def find(self, task: Task, name: UnixName, sock_type: int) -> Socket:
        """The socket bound to ``name`` (unix_find_other)."""
        if name.abstract:
            target = self.abstract.get(name.raw)
        else:
            inode = self.ns.coffer.fs.lookup(_path(name), task.fs.cwd, cred=task.creds)
            inode_permission(inode, task.creds, MAY_WRITE, "connect")  # unix_find_bsd
            if not stat.S_ISSOCK(inode.mode):
                raise FsError(errno.ECONNREFUSED, "not a socket")
            target = self.paths.get(inode)
        if target is None or target.released:
            raise FsError(errno.ECONNREFUSED, "nobody is bound to the name")
        if target.type != sock_type:
            raise FsError(errno.EPROTOTYPE, "socket type differs")
        return target
