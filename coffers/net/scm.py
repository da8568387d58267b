"""Ancillary data of AF_UNIX sockets: Linux's net/core/scm.c and net/unix/af_unix.c's SCM half.

sendmsg's control buffer is a list of ``struct cmsghdr`` items (:func:`parse_control`);
on an AF_UNIX socket the SOL_SOCKET ones mean something:

* SCM_RIGHTS - open files to pass: each descriptor must be open (EBADF), at most
  :data:`SCM_MAX_FD` in one message (EINVAL). The open files travel *in flight*:
  the message holds a reference, so closing the sender's descriptors does not
  close them, and the receiver's socket drops them if it is closed unread.
* SCM_CREDENTIALS - a ``struct ucred`` the sender claims; the pid must be its own
  and the ids among its real, effective and saved ones, unless it has
  CAP_SYS_ADMIN (pid) or CAP_SETUID/CAP_SETGID (ids): EPERM otherwise.

Every message carries the sender's credentials (its tgid, real uid and gid, or
what SCM_CREDENTIALS claimed); a receiver with SO_PASSCRED gets them as an
SCM_CREDENTIALS item first, then the passed files as one SCM_RIGHTS item of new
descriptors (close-on-exec with MSG_CMSG_CLOEXEC). What does not fit in the
receiver's control buffer is cut and MSG_CTRUNC set; files left over are closed
(:func:`put_control`, after put_cmsg and scm_detach_fds). Items of other levels
are skipped and unknown SOL_SOCKET types are EINVAL, as __scm_send does; a
claimed pid must name a live process (ESRCH). On an internet socket the
SOL_SOCKET items Linux knows are accepted and change nothing; the IP levels'
items are :mod:`cofferos.coffers.net.ipcmsg`'s.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN, has_capability
from cofferos.coffers.fs import FsError
from cofferos.coffers.net.sockaddr import AF_UNIX
from cofferos.coffers.pid_ns import find_vpid, pid_ns_owner, pid_vnr
from cofferos.coffers.userns import (
    GID_MAP,
    INVALID_ID,
    UID_MAP,
    from_kid_munged,
    make_kid,
    ns_capable,
)

if TYPE_CHECKING:
    from cofferos.coffers.files import OpenFile
    from cofferos.coffers.task import Task

SOL_SOCKET = 1
SCM_RIGHTS, SCM_CREDENTIALS = 1, 2
SCM_MAX_FD = 253  #: include/net/scm.h: descriptors in one message
MSG_CTRUNC = 0x8
#: struct cmsghdr: cmsg_len (size_t), cmsg_level, cmsg_type.
CMSGHDR = struct.Struct("<Qii")
UCRED = struct.Struct("<iII")  #: struct ucred: pid, uid, gid
FD = struct.Struct("<i")
ALIGN = 8  #: CMSG_ALIGN: sizeof(long)
#: SOL_SOCKET items __sock_cmsg_send takes (and this model ignores) on an internet
#: socket: SCM_RIGHTS and SCM_CREDENTIALS ("semantically in SOL_UNIX"), SO_MARK,
#: SO_TIMESTAMPING_OLD, SCM_TXTIME; any other type is EINVAL.
INET_SOCKET_TYPES = frozenset({SCM_RIGHTS, SCM_CREDENTIALS, 36, 37, 61})
NO_ID = 0xFFFF_FFFF  #: (uid_t)-1: what SO_PEERCRED reports of a socket with no peer


def cmsg_align(length: int) -> int:
    return (length + ALIGN - 1) & ~(ALIGN - 1)


def each_cmsg(control: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(level, type, payload) of each item of a sendmsg's control buffer, as Linux's
    for_each_cmsghdr walks it: EINVAL for an item whose length is too short or runs
    past the buffer; a tail shorter than a header ends the walk."""
    offset = 0
    while offset + CMSGHDR.size <= len(control):
        length, level, kind = CMSGHDR.unpack_from(control, offset)
        if length < CMSGHDR.size or length > len(control) - offset:
            raise FsError(errno.EINVAL, "cmsg_len")
        yield level, kind, control[offset + CMSGHDR.size : offset + length]
        offset += cmsg_align(length)


def cmsg_len(payload: int) -> int:
    """CMSG_LEN: the header and ``payload`` bytes."""
    return CMSGHDR.size + payload


def cmsg_space(payload: int) -> int:
    """CMSG_SPACE: what an item with ``payload`` bytes takes in the buffer."""
    return CMSGHDR.size + cmsg_align(payload)


@dataclass
class Scm:
    """What one message carries besides its bytes (``struct scm_cookie``)."""

    creds: tuple[int, int, int]  #: pid, uid, gid
    files: list[OpenFile] = field(default_factory=list)  #: in flight: each holds a reference


def sender_creds(task: Task) -> tuple[int, int, int]:
    """scm_send's default: the sender's tgid, real uid and real gid."""
    return task.tgid, task.creds.uid, task.creds.gid


def ucred_seen_by(task: Task | None, creds: tuple[int, int, int]) -> tuple[int, int, int]:
    """cred_to_ucred / scm_recv: the kernel ids as the reader's user namespace sees
    them (65534 if unmapped), and the pid as its PID namespace numbers it (0: not
    there)."""
    pid, uid, gid = creds
    if task is not None and task.process.pid_ns is not None:
        pid = pid_vnr(task, pid)
    ns = task.creds.userns if task is not None else None
    if ns is None or uid == NO_ID:
        return pid, uid, gid
    return pid, from_kid_munged(ns, UID_MAP, uid), from_kid_munged(ns, GID_MAP, gid)


def peer_creds(task: Task | None) -> tuple[int, int, int]:
    """init_peercred's ``struct ucred`` (tgid, effective uid and gid) as SO_PEERCRED
    reports it; with no task, what a socket without a peer reports (cred_to_ucred)."""
    if task is None:
        return 0, NO_ID, NO_ID
    return task.tgid, task.creds.euid, task.creds.egid


def hold(file: OpenFile) -> None:
    """A reference for a file in flight (get_file)."""
    file.refs += 1


def drop(file: OpenFile) -> None:
    """Give back an in-flight reference (fput): the last one releases the file."""
    file.refs -= 1
    if file.refs <= 0:
        file.release()


def discard(scm: object) -> None:
    """The message is gone unread (a purged queue): its files go with it (anything
    but an :class:`Scm` carries none)."""
    if isinstance(scm, Scm):
        files, scm.files = scm.files, []  # first: a file's release may purge this queue
        for file in files:
            drop(file)


def _check_creds(task: Task, pid: int, uid: int, gid: int) -> None:
    """scm_check_creds: only one's own pid and ids, unless privileged."""
    c = task.creds
    if pid != pid_vnr(task, task.tgid) and not ns_capable(
            c, pid_ns_owner(task), CAP_SYS_ADMIN):  # the PID namespace's owner
        raise FsError(errno.EPERM, "SCM_CREDENTIALS pid")
    if uid not in (c.uid, c.euid, c.suid) and not has_capability(c, CAP_SETUID):
        raise FsError(errno.EPERM, "SCM_CREDENTIALS uid")
    if gid not in (c.gid, c.egid, c.sgid) and not has_capability(c, CAP_SETGID):
        raise FsError(errno.EPERM, "SCM_CREDENTIALS gid")


def parse_control(task: Task, control: bytes, unix: bool) -> Scm:
    """__scm_send: the ancillary data of one sendmsg (EINVAL, EBADF, EPERM as Linux).

    On a failure the files taken so far are given back."""
    scm = Scm(sender_creds(task))
    try:
        for level, kind, payload in each_cmsg(control):
            if level != SOL_SOCKET:
                continue
            if not unix:
                if kind not in INET_SOCKET_TYPES:
                    raise FsError(errno.EINVAL, f"cmsg type {kind}")
            elif kind == SCM_RIGHTS:
                _take_files(task, scm, payload)
            elif kind == SCM_CREDENTIALS:
                if len(payload) != UCRED.size:
                    raise FsError(errno.EINVAL, "struct ucred")
                pid, uid, gid = UCRED.unpack(payload)
                # the claimed ids are the sender's namespace's (make_kuid; -1 if unmapped)
                uid = make_kid(task.creds.userns, UID_MAP, uid)
                gid = make_kid(task.creds.userns, GID_MAP, gid)
                if INVALID_ID in (uid, gid):  # before the privilege checks (scm_check_creds)
                    raise FsError(errno.EINVAL, "SCM_CREDENTIALS ids not mapped")
                _check_creds(task, pid, uid, gid)
                found = find_vpid(task, pid)  # (a number of the sender's PID namespace)
                if found is None or found not in task.coffer.processes:
                    raise FsError(errno.ESRCH, "SCM_CREDENTIALS names no process")
                pid = found
                scm.creds = (pid, uid, gid)
            else:
                raise FsError(errno.EINVAL, f"cmsg type {kind}")
    except FsError:
        discard(scm)
        raise
    return scm


def _take_files(task: Task, scm: Scm, payload: bytes) -> None:
    """scm_fp_copy: a reference to the open file behind each descriptor."""
    count = len(payload) // FD.size
    if count <= 0:
        return
    if len(scm.files) + count > SCM_MAX_FD:
        raise FsError(errno.EINVAL, "more than SCM_MAX_FD descriptors")
    for (fd,) in FD.iter_unpack(payload[: count * FD.size]):
        file = task.files.get(fd)  # EBADF
        hold(file)
        scm.files.append(file)
        if getattr(file, "family", None) == AF_UNIX:  # unix_inflight
            task.coffer.net.unix.inflight.add(file)


class ControlWriter:
    """A receiver's control buffer of ``room`` bytes, filled item by item as put_cmsg
    does: an item that does not fit is cut (its cmsg_len says how much of it is
    there) and MSG_CTRUNC set; each item takes CMSG_SPACE, padding included."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.out = bytearray()
        self.flags = 0

    @property
    def left(self) -> int:
        return self.room - len(self.out)

    def put(self, level: int, kind: int, payload: bytes) -> None:
        left = self.left
        if left < CMSGHDR.size:
            self.flags |= MSG_CTRUNC
            return
        length = cmsg_len(len(payload))
        if left < length:
            self.flags |= MSG_CTRUNC
            length = left
        self.out += (CMSGHDR.pack(length, level, kind) + payload)[:length]
        self.out += bytes(min(cmsg_space(len(payload)), left) - length)

    def result(self) -> tuple[bytes, int]:
        return bytes(self.out), self.flags


def put_control(task: Task, scm: Scm | None, room: int, passcred: bool, cloexec: bool,
                peek: bool) -> tuple[bytes, int]:
    """scm_recv: the control buffer a receiver gets in ``room`` bytes, and msg_flags.

    The files become descriptors of ``task`` (a peek installs new ones and leaves
    the message's own in flight); without ``peek`` the message gives them up."""
    if scm is None:
        return b"", 0
    out = ControlWriter(room)
    if passcred:
        out.put(SOL_SOCKET, SCM_CREDENTIALS, UCRED.pack(*ucred_seen_by(task, scm.creds)))
    files = list(scm.files)
    if not peek:
        scm.files = []
    if files:
        _detach_fds(task, out, files, cloexec)
        if not peek:
            for file in files:
                drop(file)  # the message's references: the installed descriptors hold theirs
    return out.result()


def _detach_fds(task: Task, out: ControlWriter, files: list[OpenFile], cloexec: bool) -> None:
    """scm_detach_fds: as many new descriptors as the buffer has room for."""
    left = out.left
    fit = (left - CMSGHDR.size) // FD.size if left > CMSGHDR.size else 0
    fds: list[int] = []
    for file in files[:fit]:
        try:
            fds.append(task.files.install(file, cloexec=cloexec))
        except FsError:  # EMFILE: the rest is cut, as scm_detach_fds stops
            break
    if fds:
        out.put(SOL_SOCKET, SCM_RIGHTS, b"".join(FD.pack(fd) for fd in fds))
    if len(fds) < len(files):
        out.flags |= MSG_CTRUNC
