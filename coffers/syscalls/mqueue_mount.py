"""mount(2) of mqueue: the caller's IPC namespace's message queues as files (ipc/mqueue.c).

Every mount of type ``mqueue`` shows the one queue filesystem of the caller's IPC
namespace (``mq_get_tree``'s keyed superblock): a sticky, world-writable root whose
entries are the queues, each a regular file of size 80 whose text is its QSIZE line,
owned and moded as mq_open made it. ``unlink`` there is mq_unlink. Making a file or a
directory in it (Linux's ``mqueue_create`` with the default attributes) is not
modelled: EPERM. Mounting needs CAP_SYS_ADMIN in the user namespace owning the IPC
namespace, as ``mount_capable`` checks it for mqueue's FS_USERNS_MOUNT. Called by
:func:`cofferos.coffers.syscalls.namespace.sys_mount`.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from cofferos.coffers.capability import CAP_SYS_ADMIN
from cofferos.coffers.fs import FsError, Inode
from cofferos.coffers.fs.vfs import MS_RDONLY, Mount
from cofferos.coffers.syscalls.mqueue import namespace
from cofferos.coffers.syscalls.namespace import (
    ACCEPTED,
    NO_SOURCE,
    SB_FLAGS,
    _free_dev,
    _mnt_flags,
    mnt_id,
    mount_place,
    refresh,
)
from cofferos.coffers.userns import ns_capable

if TYPE_CHECKING:
    from cofferos.coffers.task import Task

MQUEUE = "mqueue"


def new_mqueue(task: Task, inode: Inode, target: Mount | None, path: str, start: Inode,
               flags: int, device: str | None) -> int:
    if flags & ~ACCEPTED:
        raise FsError(errno.EINVAL, f"mount flags {flags & ~ACCEPTED:#x}")
    ipc = task.process.ipc_ns or task.coffer.shm_ids
    if not ns_capable(task.creds, ipc.user_ns, CAP_SYS_ADMIN):
        raise FsError(errno.EPERM, "mqueue: CAP_SYS_ADMIN over the IPC namespace")
    if not inode.is_dir():
        raise FsError(errno.ENOTDIR, path)
    ns = namespace(task)
    if not ns.sb.dev:
        ns.sb.dev = _free_dev(task)
    parent, name = mount_place(task, inode, target, path, start)
    ns.root.parent = parent
    mnt = Mount(ns.root, inode, parent, name, "", flags=_mnt_flags(flags),
                sb_flags=flags & (SB_FLAGS | MS_RDONLY), mnt_id=mnt_id(task),
                source=NO_SOURCE if device is None else device, sb_userns=task.creds.userns,
                fstype=MQUEUE, fs_options="")
    refresh(mnt)
    task.coffer.fs.ns.add(mnt)
    return 0
