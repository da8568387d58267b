"""POSIX message queues of one IPC namespace (ipc/mqueue.c): the queues and their files.

Every IPC namespace of a coffer has one :class:`MqNamespace` (Linux's ``ipc_ns->mq_mnt``
and its ``mq_*`` sysctls), made on first use: the queues by name, how many there are,
and the five limits /proc/sys/fs/mqueue shows. A :class:`MessageQueue` is the queue's
inode (``struct mqueue_inode_info``): a regular file of size :data:`FILENT_SIZE` owned
by its creator's fsuid and fsgid, its messages kept by priority, highest first, and in
arrival order within one priority (the rbtree of ``msg_insert``/``msg_get``). A queue
unlinked while open lives on until its last :class:`MqFile` closes, and so does what it
is charged: ``mq_bytes`` against the creator's RLIMIT_MSGQUEUE (the ucounts of its real
uid in its user namespace), and that plus :data:`QUEUE_HOST_BYTES` against the coffer's
memory limit, so a guest cannot exhaust the host with queues.

An :class:`MqFile` is the open file ``mq_open`` returns: ``read(2)`` gives the QSIZE
line of ``mqueue_read_file``, ``write(2)`` is EINVAL, and poll, select and epoll see
POLLIN while a message waits and POLLOUT while there is room (``mqueue_poll_file``).
Senders and receivers that must wait sleep on the queue's wait queues; a change wakes
them all to try again (the retry in :mod:`cofferos.coffers.wait`), where Linux hands a
message straight to the first waiter (``pipelined_send``). The system calls are in
:mod:`cofferos.coffers.syscalls.mqueue`; /proc/sys/fs/mqueue in
:mod:`cofferos.coffers.procfs.sysctl`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cofferos.coffers.files import OpenFile
from cofferos.coffers.fs import FsError, StatResult
from cofferos.coffers.fs.inode import Inode, Superblock
from cofferos.coffers.fs.synthetic import SyntheticDir
from cofferos.coffers.poll import POLLIN, POLLOUT
from cofferos.coffers.wait import WaitQueue

if TYPE_CHECKING:
    from collections.abc import Callable

    from cofferos.coffers.mm import MemoryAccount

# include/linux/ipc_namespace.h: the defaults and hard bounds of the mqueue sysctls
DFLT_QUEUESMAX = 256
DFLT_MSG = 10
DFLT_MSGMAX = 10
DFLT_MSGSIZE = 8192
DFLT_MSGSIZEMAX = 8192
HARD_QUEUESMAX = 1024
HARD_MSGMAX = 65536
HARD_MSGSIZEMAX = 16 * 1024 * 1024
MIN_MSGMAX = 1
MIN_MSGSIZEMAX = 128
MQ_PRIO_MAX = 32768  #: include/uapi/linux/mqueue.h
FILENT_SIZE = 80  #: a queue file's st_size and the QSIZE buffer
MSG_MSG_SIZE = 48  #: sizeof(struct msg_msg) on x86-64, charged per possible message
TREE_NODE_SIZE = 48  #: sizeof(struct posix_msg_tree_node), per possible priority
ULONG_MAX = (1 << 64) - 1
#: What a queue itself costs the coffer's memory account beside its mq_bytes: Linux's
#: memory cgroup charges its inode and dentry (mqueue_inode_cachep is SLAB_ACCOUNT,
#: about 1 KiB); the model's queue holds about 3.5 KB of the host (tracemalloc, a queue
#: with one message), so one page each keeps the memory limit a bound on what queues
#: hold of the host, even for a root whose rlimit and queues_max do not bound them.
QUEUE_HOST_BYTES = 4096
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD = 0, 1, 2
NOTIFY_COOKIE_LEN = 32  #: include/uapi/linux/mqueue.h: SIGEV_THREAD's cookie
NOTIFY_WOKENUP, NOTIFY_REMOVED = 1, 2  #: its last byte: a message came, or unregistered
ROOT_MODE = stat.S_IFDIR | stat.S_ISVTX | 0o777  #: the namespace's root: drwxrwxrwt
MQUEUE_MAGIC = 0x19800202
QSIZE_LINE = "QSIZE:{:<10d} NOTIFY:{:<5d} SIGNO:{:<5d} NOTIFY_PID:{:<6d}\n"


@dataclass
class MqLimits:
    """The five /proc/sys/fs/mqueue values of one IPC namespace."""

    queues_max: int = DFLT_QUEUESMAX
    msg_max: int = DFLT_MSGMAX
    msgsize_max: int = DFLT_MSGSIZEMAX
    msg_default: int = DFLT_MSG
    msgsize_default: int = DFLT_MSGSIZE

    #: each sysctl's bounds (ipc/mq_sysctl.c): queues_max has none but int's
    BOUNDS = {"queues_max": (0, (1 << 31) - 1), "msg_max": (MIN_MSGMAX, HARD_MSGMAX),
              "msgsize_max": (MIN_MSGSIZEMAX, HARD_MSGSIZEMAX),
              "msg_default": (MIN_MSGMAX, HARD_MSGMAX),
              "msgsize_default": (MIN_MSGSIZEMAX, HARD_MSGSIZEMAX)}


def queue_bytes(maxmsg: int, msgsize: int) -> int:
    """mq_bytes of mqueue_get_inode: the messages' bytes, one msg_msg per message and
    one tree node per priority it may use, charged to RLIMIT_MSGQUEUE."""
    return (maxmsg * msgsize + maxmsg * MSG_MSG_SIZE
            + min(maxmsg, MQ_PRIO_MAX) * TREE_NODE_SIZE)


@dataclass
class Notification:
    """A registered mq_notify: who, and the signal and value a SIGEV_SIGNAL sends."""

    process: Any
    userns: Any  #: the registrant's user namespace, where si_uid is shown
    kind: int
    signo: int = 0
    value: int = 0
    sock: Any = None  #: SIGEV_THREAD: the netlink socket the cookie goes to
    cookie: bytes = b""  #: and the NOTIFY_COOKIE_LEN bytes the library gave

    def send_cookie(self, state: int) -> None:
        """set_cookie then netlink_sendskb: the cookie, its last byte ``state``, as a
        datagram from the kernel to the registrant's netlink socket."""
        from cofferos.coffers.net.sockaddr import NetlinkName  # only for SIGEV_THREAD

        self.sock.deliver(self.cookie[:-1] + bytes([state]), NetlinkName())


class MessageQueue(Inode):
    """One queue (``struct mqueue_inode_info``) and its inode."""

    has_xattrs = False
    page_cached = False

    def __init__(self, ns: MqNamespace, name: str, mode: int, uid: int, gid: int,
                 maxmsg: int, msgsize: int) -> None:
        super().__init__(ns.sb, ns.sb.alloc_ino(), stat.S_IFREG | mode, uid=uid, gid=gid)
        self.ns = ns
        self.name = name
        self.maxmsg = maxmsg
        self.msgsize = msgsize
        self.by_priority: dict[int, deque[bytes]] = {}
        self.curmsgs = 0
        self.qsize = 0  #: the bytes of the messages queued
        self.notify: Notification | None = None
        self.receivers = WaitQueue()  #: blocked in mq_timedreceive (e_wait_q[RECV])
        self.senders = WaitQueue()  #: blocked in mq_timedsend (e_wait_q[SEND])
        self.pollers = WaitQueue()  #: poll, select and epoll (wait_q): no receivers
        self.opens = 0  #: open files on it
        self.charge: Callable[[], None] | None = None  #: gives back what it was charged

    @property
    def size(self) -> int:
        return FILENT_SIZE

    def read(self, offset: int, n: int) -> bytes:
        """The QSIZE line, for a queue opened through a mount (its owner's pid as the
        coffer numbers it; an :class:`MqFile` shows it in the reader's namespace)."""
        owner = 0 if self.notify is None else self.notify.process.tgid
        return self.qsize_line(owner)[offset:offset + n]

    def write(self, offset: int, data: bytes) -> int:
        raise FsError(errno.EINVAL)

    def full(self) -> bool:
        return self.curmsgs >= self.maxmsg

    def insert(self, message: bytes, priority: int) -> None:
        """msg_insert: behind the messages of its priority."""
        self.by_priority.setdefault(priority, deque()).append(message)
        self.curmsgs += 1
        self.qsize += len(message)
        self.receivers.wake_all()
        self.pollers.wake_all()

    def take(self) -> tuple[bytes, int]:
        """msg_get: the oldest message of the highest priority, and that priority."""
        priority = max(self.by_priority)
        messages = self.by_priority[priority]
        message = messages.popleft()
        if not messages:
            del self.by_priority[priority]
        self.curmsgs -= 1
        self.qsize -= len(message)
        self.senders.wake_all()
        self.pollers.wake_all()
        return message, priority

    def remove_notification(self) -> None:
        """remove_notification: the registrant is gone (mq_notify with NULL, or its
        close); a SIGEV_THREAD registrant's library thread hears NOTIFY_REMOVED."""
        if self.notify is not None and self.notify.kind == SIGEV_THREAD:
            self.notify.send_cookie(NOTIFY_REMOVED)
        self.notify = None

    def qsize_line(self, owner_pid: int) -> bytes:
        """The text read(2) gives (mqueue_read_file), the owner's pid as the reader sees it."""
        notify = self.notify
        kind = notify.kind if notify is not None else 0
        signo = notify.signo if notify is not None and notify.kind == SIGEV_SIGNAL else 0
        return QSIZE_LINE.format(self.qsize, kind, signo, owner_pid).encode()

    def opened(self) -> None:
        self.opens += 1

    def closed(self) -> None:
        self.opens -= 1
        self.evict_if_unused()

    def evict_if_unused(self) -> None:
        """mqueue_evict_inode: unlinked and closed, the queue goes with its charges."""
        if self.opens or self.ns.queues.get(self.name) is self:
            return
        if self.charge is not None:
            self.charge()
            self.charge = None
            self.ns.count -= 1
        self.by_priority.clear()


class MqFile(OpenFile):
    """An open message queue (a file of mqueue_file_operations), on its inode: fstat,
    fchmod and fchown and /proc/PID/fd see the queue. It is open on the namespace's
    internal mount, not on one mount(2) made, so it keeps none busy (umount), as in
    Linux."""

    internal_mount = True

    def __init__(self, queue: MessageQueue, flags: int, owner_pid: Callable[[], int],
                 closer: Callable[[], Any]) -> None:
        super().__init__(flags, "/" + queue.name)
        self.queue = queue
        self._owner_pid = owner_pid
        self._closer = closer  #: the process of the task on the CPU
        queue.opened()

    def flush(self) -> None:
        """mqueue_flush_file: a close by the process registered for notification,
        of any descriptor of the queue, drops its registration."""
        notify = self.queue.notify
        if notify is not None and notify.process is self._closer():
            self.queue.remove_notification()

    @property
    def inode(self) -> Inode:
        return self.queue

    @property
    def nonblocking(self) -> bool:
        return bool(self.flags & os.O_NONBLOCK)

    def release(self) -> None:
        self.queue.closed()

    def pread(self, size: int, offset: int) -> bytes:
        self.queue.atime_ns = self.queue.ctime_ns = self.queue.sb.now_ns()
        return self.queue.qsize_line(self._owner_pid())[offset:offset + size]

    def read(self, size: int) -> bytes:
        data = self.pread(size, self.pos)
        self.pos += len(data)
        return data

    def write(self, data: bytes) -> int:
        raise FsError(errno.EINVAL)

    def size(self) -> int:
        return FILENT_SIZE

    def stat(self) -> StatResult:
        return self.queue.stat()

    def poll_mask(self) -> int:
        queue = self.queue
        return (POLLIN if queue.curmsgs else 0) | (0 if queue.full() else POLLOUT)

    def wait_queues(self) -> tuple[object, ...]:
        return (self.queue.pollers,)


class QueueDir(SyntheticDir):
    """The root of an IPC namespace's queue filesystem: its queues, by name."""

    def __init__(self, ns: MqNamespace) -> None:
        super().__init__(ns.sb, lambda: sorted(ns.queues.items()), ns.queues.get, ROOT_MODE)
        self.ns = ns

    def remove_entry(self, name: str) -> Inode:
        """unlink(2) of a queue: mq_unlink (the caller checked may_delete)."""
        queue = self.ns.queues.pop(name)
        queue.evict_if_unused()
        self.touch_modify()
        return queue


@dataclass
class MqNamespace:
    """The message queues of one IPC namespace and its sysctls (the mqueue superblock)."""

    now_ns: Callable[[], int]
    dev: int = 0
    limits: MqLimits = field(default_factory=MqLimits)
    queues: dict[str, MessageQueue] = field(default_factory=dict)
    count: int = 0  #: mq_queues_count: queues alive, unlinked ones still open included
    sb: Superblock = field(init=False)
    root: Inode = field(init=False)

    def __post_init__(self) -> None:
        self.sb = Superblock(dev=self.dev, now_ns=self.now_ns)
        self.root = QueueDir(self)

    def create(self, name: str, mode: int, uid: int, gid: int, maxmsg: int, msgsize: int,
               account: MemoryAccount | None, user_bytes: dict[Any, int], user: Any,
               rlimit: int) -> MessageQueue:
        """mqueue_get_inode's accounting, after the caller checked the attributes: EMFILE
        past RLIMIT_MSGQUEUE, ENOMEM past the coffer's memory limit."""
        if msgsize > ULONG_MAX // maxmsg:
            raise FsError(errno.EOVERFLOW)
        charged = queue_bytes(maxmsg, msgsize)
        if user_bytes.get(user, 0) + charged > rlimit:
            raise FsError(errno.EMFILE)
        memory = charged + QUEUE_HOST_BYTES
        if account is not None and not account.try_charge(memory):
            raise FsError(errno.ENOMEM)
        user_bytes[user] = user_bytes.get(user, 0) + charged
        queue = MessageQueue(self, name, mode, uid, gid, maxmsg, msgsize)

        def uncharge() -> None:
            user_bytes[user] -= charged
            if account is not None:
                account.charge(-memory)

        queue.charge = uncharge
        self.queues[name] = queue
        self.count += 1
        return queue

    def unlink(self, name: str) -> None:
        queue = self.queues.pop(name)
        queue.nlink = 0
        queue.evict_if_unused()

    def release(self) -> None:
        """The IPC namespace is gone (put_ipc_ns, then its internal mount's
        kill_litter_super): every queue is unlinked, and goes with its last close."""
        for name in list(self.queues):
            self.unlink(name)
