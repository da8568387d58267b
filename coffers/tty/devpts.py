"""devpts: the coffer's /dev/pts, where each pseudo-terminal's slave has its node.

One :class:`Devpts` per coffer (Linux: one devpts instance per container, since
3.4's multiple instances), mounted on /dev/pts when the coffer is made, and one
more for each devpts mount(2) makes (:mod:`.devpts_mount`, as a rootless container
mounts its own): each has its own numbers from 0, its own ptmx, and its mount's
``mode=``, ``gid=`` and ``ptmxmode=``. Its root
lists ``ptmx`` (mode 000, as the ``ptmxmode=000`` default) and one character
device per pair whose master is open, named by the pair's number, with the
major number of Unix 98 pty slaves and the number in the minor; a new slave
belongs to the opener's fsuid and fsgid with mode 0600, the defaults of a devpts
mounted without options (Debian's own /dev/pts has ``gid=5,mode=620``, which
a container's usually lacks). Numbers are the lowest free one
(ida_alloc) and are given back when both sides of a pair are closed.

The opens of the three devices land here from
:func:`~cofferos.coffers.syscalls.open.dentry_open`: /dev/ptmx (:meth:`open_master`),
/dev/pts/N (:meth:`open_slave`, EIO while locked or after the master closed) and
/dev/tty (:meth:`open_ctty`, the caller's controlling terminal, ENXIO without one).
A session leader that opens a slave without O_NOCTTY and has no controlling
terminal yet acquires it, as tty_open_proc_set_tty does.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.defaults import TTYAUX_MAJOR
from cofferos.coffers.fs.inode import Superblock
from cofferos.coffers.fs.synthetic import SyntheticDir

from .pty import PtyMaster, PtyPair, PtySlave

if TYPE_CHECKING:
    from cofferos.coffers.coffer import Coffer
    from cofferos.coffers.task import Process, Task

DEVPTS_MOUNT_POINT = "/dev/pts"
#: st_dev of devpts: an anonymous device number no other coffer filesystem takes
#: (the root is 0:1, /proc 0:4, tmpfs mounts from 0:5).
DEVPTS_DEV = os.makedev(0, 3)
PTMX_MINOR = 2  #: /dev/ptmx is (TTYAUX_MAJOR, 2)
CTTY_MINOR = 0  #: /dev/tty is (TTYAUX_MAJOR, 0)
UNIX98_PTY_SLAVE_MAJOR = 136  #: slaves 0-255 are 136:N, then 137 ... (devices.txt)
UNIX98_PTY_MAJOR_COUNT = 8
MINORS_PER_MAJOR = 256
#: kernel.pty.max's default (drivers/tty/pty.c): numbers above it are ENOSPC.
PTY_MAX = 4096
SLAVE_MODE = stat.S_IFCHR | 0o600  #: devpts's default mode= (DEVPTS_DEFAULT_MODE)
PERMS = 0o7777
ROOT_INO, PTMX_INO, FIRST_PTY_INO = 1, 2, 3  #: devpts numbers a pair's inode index + 3


def is_ptmx(inode: Inode) -> bool:
    return inode.is_chr() and (os.major(inode.rdev), os.minor(inode.rdev)) == (TTYAUX_MAJOR,
                                                                               PTMX_MINOR)


def is_ctty(inode: Inode) -> bool:
    return inode.is_chr() and (os.major(inode.rdev), os.minor(inode.rdev)) == (TTYAUX_MAJOR,
                                                                               CTTY_MINOR)


def slave_index(inode: Inode) -> int | None:
    """The pair number of a slave's device node, or None if it is not one."""
    major = os.major(inode.rdev)
    first = UNIX98_PTY_SLAVE_MAJOR
    if not inode.is_chr() or not first <= major < first + UNIX98_PTY_MAJOR_COUNT:
        return None
    return (major - first) * MINORS_PER_MAJOR + os.minor(inode.rdev)


class Devpts:
    """The coffer's pty pairs and the filesystem that names their slaves."""

    def __init__(self, coffer: Coffer, dev: int = DEVPTS_DEV, *, ptmx_mode: int = 0,
                 slave_mode: int = SLAVE_MODE & PERMS, gid: int | None = None,
                 uid: int | None = None, max_pairs: int = PTY_MAX,
                 owner: tuple[int, int] = (0, 0),
                 instances: list[Devpts] | None = None) -> None:
        self.coffer = coffer
        self.sb = Superblock(dev=dev, now_ns=coffer.fs.sb.now_ns)
        self.pairs: dict[int, PtyPair] = {}
        self.slave_mode = slave_mode
        self.gid = gid  #: gid= (a kernel id): new slaves' group, else the opener's
        self.uid = uid  #: uid= (a kernel id): new slaves' owner, else the opener
        self.max_pairs = max_pairs  #: max=: pairs open at most (then ENOSPC)
        self.ptmx = Inode(self.sb, PTMX_INO, stat.S_IFCHR | ptmx_mode,
                          rdev=os.makedev(TTYAUX_MAJOR, PTMX_MINOR), uid=owner[0], gid=owner[1])
        self.instances: list[Devpts] = [] if instances is None else instances
        """Every instance of the coffer, this one included (controlling terminals are
        looked for in all)."""
        self.instances.append(self)
        self.sb.next_ino = ROOT_INO
        self.root = SyntheticDir(self.sb, self._list, self._find)
        self.sb.next_ino = FIRST_PTY_INO + PTY_MAX  # nothing else is ever made here

    def _list(self) -> list[tuple[str, Inode]]:
        live = [(str(i), p.inode) for i, p in sorted(self.pairs.items()) if p.master_open]
        return [("ptmx", self.ptmx), *live]

    def _find(self, name: str) -> Inode | None:
        return dict(self._list()).get(name)

    # -- opens ---------------------------------------------------------------------------
    def open_master(self, task: Task, inode: Inode, flags: int, path: str) -> PtyMaster:
        """ptmx_open: a new pair, its slave locked, and the master open on it."""
        index = next((i for i in range(self.max_pairs) if i not in self.pairs), None)
        if index is None:
            raise FsError(errno.ENOSPC, "kernel.pty.max pairs open")
        major, minor = divmod(index, MINORS_PER_MAJOR)
        gid = task.creds.fsgid if self.gid is None else self.gid
        uid = task.creds.fsuid if self.uid is None else self.uid
        node = Inode(self.sb, FIRST_PTY_INO + index, stat.S_IFCHR | self.slave_mode,
                     uid=uid, gid=gid,
                     rdev=os.makedev(UNIX98_PTY_SLAVE_MAJOR + major, minor))
        pair = PtyPair(self.coffer, index, node)
        self.pairs[index] = pair
        return PtyMaster(pair, inode, flags, path)

    def open_slave(self, task: Task, inode: Inode, flags: int, path: str,
                   noctty: bool) -> PtySlave:
        index = slave_index(inode)
        pair = self.pairs.get(index) if index is not None else None
        if pair is None or pair.inode is not inode and inode.sb is self.sb:
            raise FsError(errno.EIO, "no such pty")
        return self.open_pair_slave(task, pair, flags, path, noctty)

    def open_pair_slave(self, task: Task, pair: PtyPair, flags: int, path: str,
                        noctty: bool, inode: Inode | None = None) -> PtySlave:
        """The slave of ``pair`` (an open by name, or TIOCGPTPEER): EIO while it is
        locked or after its master closed (pty_open)."""
        if pair.locked or not pair.master_open:
            raise FsError(errno.EIO, "pty locked or hung up")
        slave = PtySlave(pair, inode or pair.inode, flags, path)
        process = task.process
        if not noctty and process.sid == process.tgid and pair.session is None \
                and self.ctty(process.sid) is None:
            self.set_ctty(process, pair)
        return slave

    def open_ctty(self, task: Task, inode: Inode, flags: int, path: str) -> PtySlave:
        """/dev/tty: the caller's controlling terminal (tty_open_current_tty)."""
        pair = self.ctty(task.process.sid)
        if pair is None:
            raise FsError(errno.ENXIO, "no controlling terminal")
        return PtySlave(pair, inode, flags, path)

    def release(self, pair: PtyPair) -> None:
        """A side closed: once both are, the pair's number is free again (in its own
        instance)."""
        if pair.free():
            for instance in self.instances:
                if instance.pairs.get(pair.index) is pair:
                    del instance.pairs[pair.index]

    def instance_for(self, inode: Inode) -> Devpts:
        """The instance a device node opens: its own devpts's for a node of one; for
        /dev/ptmx, the devpts mounted on /dev/pts in the caller's mount namespace, as
        devpts_acquire finds "pts" beside "ptmx"; else this, the coffer's first."""
        for instance in self.instances:
            if inode.sb is instance.sb:
                return instance
        if is_ptmx(inode) and len(self.instances) > 1:
            try:
                pts = self.coffer.fs.lookup(DEVPTS_MOUNT_POINT, self.coffer.fs.root)
            except FsError:
                return self
            return next((i for i in self.instances if i.root is pts), self)
        return self

    # -- sessions ------------------------------------------------------------------------
    def ctty(self, sid: int) -> PtyPair | None:
        """The controlling terminal of session ``sid``, if it has one (in any instance)."""
        return next((p for instance in self.instances for p in instance.pairs.values()
                     if p.session == sid), None)

    @staticmethod
    def set_ctty(process: Process, pair: PtyPair) -> None:
        pair.session, pair.pgrp = process.sid, process.pgid

    def session_leader_exited(self, process: Process) -> None:
        """disassociate_ctty(1): a session leader's end hangs up its foreground group."""
        if process.sid == process.tgid:
            pair = self.ctty(process.sid)
            if pair is not None:
                pair.disassociate(process.sid)


def mount_devpts(coffer: Coffer) -> Devpts:
    """Mount a new devpts for ``coffer`` on /dev/pts (over any /dev/pts a rootfs has)."""
    devpts = Devpts(coffer)
    coffer.fs.mount(DEVPTS_MOUNT_POINT, devpts.root)
    return devpts
