"""POSIX message queues: mq_open, mq_unlink, mq_timedsend, mq_timedreceive, mq_notify,
mq_getsetattr (ipc/mqueue.c). The queues themselves are :mod:`cofferos.coffers.mqueue`.

The calls take names without glibc's leading '/' (the library strips it), as one path
component of the caller's IPC namespace's queue filesystem: '/' in it, '.', '..' or an
empty name are EACCES or ENOENT as ``lookup_one_len`` and ``getname`` answer. Checks
follow Linux's order. mq_open: EEXIST, EINVAL for O_RDWR|O_WRONLY, EACCES from the
mode bits (``inode_permission``); creating: ENOSPC past queues_max, EINVAL for a
non-positive size or one past msg_max/msgsize_max (past HARD_MSGMAX/HARD_MSGSIZEMAX
with CAP_SYS_RESOURCE), EMFILE past RLIMIT_MSGQUEUE, ENOMEM past the coffer's memory
limit. The descriptor is always close-on-exec. Sending: EINVAL for a priority of
MQ_PRIO_MAX or more or a bad timeout, EBADF for a descriptor that is no queue or not
open for it, EMSGSIZE for a message longer than mq_msgsize (receiving: a buffer
shorter than it), then EAGAIN with O_NONBLOCK or sleep until room, a message, the
absolute CLOCK_REALTIME timeout on the coffer's clock (ETIMEDOUT) or a signal (EINTR,
or a restart with SA_RESTART: Linux's -ERESTARTSYS).

mq_notify registers one process per queue (EBUSY for a second); a message sent into
the empty queue, with no receiver waiting, sends SIGEV_SIGNAL's signal with si_code
SI_MESGQ, the sender's pid and uid and the registered sigev_value, and unregisters.
SIGEV_THREAD is the kernel's half of the libraries' form: sigev_signo names a netlink
socket and sigev_value points to a 32-byte cookie, which the kernel sends to that
socket with its last byte NOTIFY_WOKENUP when a message comes (NOTIFY_REMOVED when
the registrant unregisters); the library's thread then runs the function.
Unlike Linux, closing a descriptor of the queue does not drop the closing process's
registration (``mqueue_flush_file``); it goes when the queue does, and a notification
for a process that has exited is dropped; one for a process that has called execve
since it registered is sent (Linux drops it: self_exec_id).
"""

from __future__ import annotations

import errno
import os
import resource
import struct
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_FOWNER, CAP_SYS_RESOURCE, has_capability
from cofferos.coffers.fs import FsError
from cofferos.coffers.fs.permission import MAY_READ, MAY_WRITE, inode_permission
from cofferos.coffers.ktime import InvalidTime, realtime_to_monotonic
from cofferos.coffers.mqueue import (
    HARD_MSGMAX,
    HARD_MSGSIZEMAX,
    MQ_PRIO_MAX,
    NOTIFY_COOKIE_LEN,
    NOTIFY_WOKENUP,
    SIGEV_NONE,
    SIGEV_SIGNAL,
    SIGEV_THREAD,
    MessageQueue,
    MqFile,
    MqNamespace,
    Notification,
)
from cofferos.coffers.pid_ns import pid_nr_of
from cofferos.coffers.signals import SigInfo, valid
from cofferos.coffers.syscalls.uaccess import (
    copy_from_user,
    copy_to_user,
    fd_arg,
    get_timespec,
    strncpy_from_user,
)
from cofferos.coffers.userns import UID_MAP, from_kid_munged, ns_capable
from cofferos.coffers.wait import TIMED_OUT, Block

if TYPE_CHECKING:
    from cofferos.coffers.syscalls.table import SyscallTable
    from cofferos.coffers.task import Task

MQ_ATTR = struct.Struct("<4q32x")  #: struct mq_attr: flags, maxmsg, msgsize, curmsgs, 4 unused
SIGEVENT_HEAD = struct.Struct("<Qii")  #: struct sigevent: sigev_value, signo, notify
SI_MESGQ = -3  #: include/uapi/asm-generic/siginfo.h

RLIM_INFINITY = (1 << 64) - 1
NAME_MAX = 255
MODE_BITS = 0o7777
O_ACCMODE = os.O_ACCMODE
ACCESS = {os.O_RDONLY: MAY_READ, os.O_WRONLY: MAY_WRITE, os.O_RDWR: MAY_READ | MAY_WRITE}
OPEN_FLAGS = O_ACCMODE | os.O_NONBLOCK  #: what an mq file keeps of mq_open's oflag


def namespace(task: Task) -> MqNamespace:
    """The caller's IPC namespace's queues (made on first use)."""
    ipc = task.process.ipc_ns or task.coffer.shm_ids
    if ipc.mq is None:
        ipc.mq = MqNamespace(now_ns=task.coffer.current_time_ns)
    return ipc.mq


def _name(task: Task, address: int) -> str:
    """getname then lookup_one_len's checks of one queue name."""
    raw = strncpy_from_user(task, address)
    if not raw:
        raise FsError(errno.ENOENT)
    if b"/" in raw or raw in (b".", b".."):
        raise FsError(errno.EACCES)
    if len(raw) > NAME_MAX:
        raise FsError(errno.ENAMETOOLONG)
    return raw.decode("utf-8", "surrogateescape")


def _owner_pid(task: Task, queue: MessageQueue) -> int:
    notify = queue.notify
    return 0 if notify is None else pid_nr_of(task.process, notify.process.tgid)


def _open_file(task: Task, queue: MessageQueue, oflag: int) -> int:
    coffer = task.coffer
    file = MqFile(queue, oflag & OPEN_FLAGS, lambda: _owner_pid(task, queue),
                  lambda: coffer.current.process if coffer.current is not None else None)
    return task.files.install(file, cloexec=True)


def _create(task: Task, ns: MqNamespace, name: str, mode: int,
            attr: tuple[int, int, int, int] | None) -> MessageQueue:
    creds = task.creds
    unbounded = ns_capable(creds, None, CAP_SYS_RESOURCE)  # capable(): the initial namespace's
    if ns.count >= ns.limits.queues_max and not unbounded:
        raise FsError(errno.ENOSPC)
    limits = ns.limits
    maxmsg = min(limits.msg_max, limits.msg_default)
    msgsize = min(limits.msgsize_max, limits.msgsize_default)
    if attr is not None:
        _flags, maxmsg, msgsize, _cur = attr
    if maxmsg <= 0 or msgsize <= 0:
        raise FsError(errno.EINVAL)
    if unbounded:
        if maxmsg > HARD_MSGMAX or msgsize > HARD_MSGSIZEMAX:
            raise FsError(errno.EINVAL)
    elif maxmsg > limits.msg_max or msgsize > limits.msgsize_max:
        raise FsError(errno.EINVAL)
    rlimit = task.rlimits.get(resource.RLIMIT_MSGQUEUE, (RLIM_INFINITY, RLIM_INFINITY))[0]
    mode = mode & MODE_BITS & ~task.fs.umask
    return ns.create(name, mode, creds.fsuid, creds.fsgid, maxmsg, msgsize, task.mm.account,
                     task.coffer.mq_user_bytes, (creds.userns, creds.uid), rlimit)


def sys_mq_open(task: Task, name_ptr: int, oflag: int, mode: int, attr_ptr: int) -> int:
    # the attributes are read first, whether or not they will be used (EFAULT)
    attr = MQ_ATTR.unpack(copy_from_user(task, attr_ptr, MQ_ATTR.size)) if attr_ptr else None
    name = _name(task, name_ptr)
    files = task.files
    if files.lowest_free() >= files.limit:
        return -errno.EMFILE  # get_unused_fd_flags comes before the lookup
    ns = namespace(task)
    queue = ns.queues.get(name)
    if queue is None:
        if not oflag & os.O_CREAT:
            return -errno.ENOENT
        queue = _create(task, ns, name, mode, attr)
    else:
        if oflag & os.O_CREAT and oflag & os.O_EXCL:
            return -errno.EEXIST
        if oflag & O_ACCMODE == O_ACCMODE:
            return -errno.EINVAL
        inode_permission(queue, task.creds, ACCESS[oflag & O_ACCMODE])
    return _open_file(task, queue, oflag)


def sys_mq_unlink(task: Task, name_ptr: int) -> int:
    name = _name(task, name_ptr)
    ns = namespace(task)
    queue = ns.queues.get(name)
    if queue is None:
        return -errno.ENOENT
    creds = task.creds
    inode_permission(ns.root, creds, MAY_WRITE)
    # the root's sticky bit: only the queue's owner (or CAP_FOWNER) removes it; Linux
    # 6.18 answers EACCES here, EPERM to unlink(2) in a mount (tests/procsys/mqueue_fs.c)
    if creds.fsuid not in (queue.uid, ns.root.uid) and not has_capability(creds, CAP_FOWNER):
        return -errno.EACCES
    ns.unlink(name)
    return 0


def _queue_file(task: Task, mqdes: int) -> MqFile:
    file = task.files.get(fd_arg(mqdes))
    if not isinstance(file, MqFile):
        raise FsError(errno.EBADF)
    return file


def _deadline(task: Task, timeout: int) -> int | None:
    """An absolute CLOCK_REALTIME timeout as a deadline on the coffer's monotonic clock."""
    if not timeout:
        return None
    return realtime_to_monotonic(get_timespec(task, timeout), task.coffer.config.epoch_ns)


def _wait(task: Task, queue: MessageQueue, deadline: int | None, receiving: bool) -> None:
    """wq_sleep: ETIMEDOUT once the deadline passed, else sleep until woken."""
    if task.wakeup == TIMED_OUT or deadline is not None and \
            task.coffer.monotonic_ns() >= deadline:
        raise FsError(errno.ETIMEDOUT)
    raise Block([queue.receivers if receiving else queue.senders], deadline)


def _notify(task: Task, queue: MessageQueue) -> None:
    """__do_notify: the queue went from empty to one message; tell its registrant once."""
    notify = queue.notify
    if notify is None or queue.curmsgs != 1:
        return
    queue.notify = None
    process = notify.process
    if notify.kind == SIGEV_THREAD:
        notify.send_cookie(NOTIFY_WOKENUP)
    if notify.kind != SIGEV_SIGNAL or not notify.signo or process.zombie:
        return
    info = SigInfo(notify.signo, code=SI_MESGQ, pid=pid_nr_of(process, task.tgid),
                   uid=from_kid_munged(notify.userns, UID_MAP, task.creds.uid),
                   value=notify.value)
    task.coffer.signals.send_process(process, info)


def sys_mq_timedsend(task: Task, mqdes: int, msg: int, length: int, priority: int,
                     timeout: int) -> int:
    try:
        deadline = _deadline(task, timeout)
    except InvalidTime:
        return -errno.EINVAL
    if priority & 0xFFFF_FFFF >= MQ_PRIO_MAX:
        return -errno.EINVAL
    file = _queue_file(task, mqdes)
    if file.flags & O_ACCMODE == os.O_RDONLY:
        return -errno.EBADF
    queue = file.queue
    if length > queue.msgsize:
        return -errno.EMSGSIZE
    message = copy_from_user(task, msg, length) if length else b""
    if queue.full():
        if file.nonblocking:
            return -errno.EAGAIN
        _wait(task, queue, deadline, receiving=False)
    waiting = len(queue.receivers) > 0
    queue.insert(message, priority & 0xFFFF_FFFF)
    if not waiting:  # a waiting receiver takes it: pipelined_send, no notification
        _notify(task, queue)
    queue.atime_ns = queue.mtime_ns = queue.ctime_ns = queue.sb.now_ns()
    return 0


def sys_mq_timedreceive(task: Task, mqdes: int, msg: int, length: int, priority_ptr: int,
                        timeout: int) -> int:
    try:
        deadline = _deadline(task, timeout)
    except InvalidTime:
        return -errno.EINVAL
    file = _queue_file(task, mqdes)
    if file.flags & O_ACCMODE == os.O_WRONLY:
        return -errno.EBADF
    queue = file.queue
    if length < queue.msgsize:
        return -errno.EMSGSIZE
    if not queue.curmsgs:
        if file.nonblocking:
            return -errno.EAGAIN
        _wait(task, queue, deadline, receiving=True)
    message, priority = queue.take()
    queue.atime_ns = queue.mtime_ns = queue.ctime_ns = queue.sb.now_ns()
    if priority_ptr:
        copy_to_user(task, priority_ptr, struct.pack("<I", priority))
    copy_to_user(task, msg, message)
    return len(message)


def _netlink_socket(task: Task, fd: int) -> object:
    """netlink_getsockbyfilp: EBADF, ENOTSOCK, or EINVAL for a socket of another family."""
    from cofferos.coffers.net.netlink import NetlinkSocket  # only for SIGEV_THREAD
    from cofferos.coffers.net.sock import Socket

    file = task.files.get(fd_arg(fd))
    if not isinstance(file, Socket):
        raise FsError(errno.ENOTSOCK)
    if not isinstance(file, NetlinkSocket):
        raise FsError(errno.EINVAL)
    return file


def sys_mq_notify(task: Task, mqdes: int, sigevent: int) -> int:
    wanted = None
    if sigevent:
        value, signo, kind = SIGEVENT_HEAD.unpack(copy_from_user(task, sigevent,
                                                                 SIGEVENT_HEAD.size))
        if kind not in (SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD):
            return -errno.EINVAL
        if kind == SIGEV_SIGNAL and not (signo == 0 or valid(signo)):
            return -errno.EINVAL
        wanted = Notification(task.process, task.creds.userns, kind, signo, value)
        if kind == SIGEV_THREAD:
            wanted.cookie = copy_from_user(task, value, NOTIFY_COOKIE_LEN)
            wanted.sock = _netlink_socket(task, signo)
    queue = _queue_file(task, mqdes).queue
    if wanted is None:
        if queue.notify is not None and queue.notify.process is task.process:
            queue.remove_notification()
        return 0
    if queue.notify is not None and not queue.notify.process.zombie:
        return -errno.EBUSY
    queue.notify = wanted
    queue.atime_ns = queue.ctime_ns = queue.sb.now_ns()
    return 0


def sys_mq_getsetattr(task: Task, mqdes: int, new: int, old: int) -> int:
    flags = None
    if new:
        flags = MQ_ATTR.unpack(copy_from_user(task, new, MQ_ATTR.size))[0]
        if flags & ~os.O_NONBLOCK:
            return -errno.EINVAL
    file = _queue_file(task, mqdes)
    queue = file.queue
    before = MQ_ATTR.pack(file.flags & os.O_NONBLOCK, queue.maxmsg, queue.msgsize,
                          queue.curmsgs)
    if flags is not None:
        file.flags = (file.flags & ~os.O_NONBLOCK) | (flags & os.O_NONBLOCK)
        queue.atime_ns = queue.ctime_ns = queue.sb.now_ns()
    if old:
        copy_to_user(task, old, before)
    return 0


def register(table: SyscallTable) -> None:
    table.add("mq_open", sys_mq_open, "str", "oflags", "mode", "ptr")
    table.add("mq_unlink", sys_mq_unlink, "str")
    table.add("mq_timedsend", sys_mq_timedsend, "fd", "ptr", "size", "uint", "ptr")
    table.add("mq_timedreceive", sys_mq_timedreceive, "fd", "ptr", "size", "ptr", "ptr")
    table.add("mq_notify", sys_mq_notify, "fd", "ptr")
    table.add("mq_getsetattr", sys_mq_getsetattr, "fd", "ptr", "ptr")
