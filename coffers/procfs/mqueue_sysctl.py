"""/proc/sys/fs/mqueue: the POSIX message queue limits of the reader's IPC namespace.

Five files, as ipc/mq_sysctl.c registers them for each IPC namespace: ``queues_max``,
``msg_max``, ``msgsize_max``, ``msg_default`` and ``msgsize_default``, read from and
written to the :class:`~cofferos.coffers.mqueue.MqLimits` of the namespace of the task
that opens them (:func:`cofferos.coffers.syscalls.mqueue.namespace`), so a container
that unshared CLONE_NEWIPC sees and sets its own. A write takes one decimal integer
(``proc_dointvec_minmax``) in the file's bounds (:data:`MqLimits.BOUNDS
<cofferos.coffers.mqueue.MqLimits.BOUNDS>`), else EINVAL. The files are 0644 and
root's: root may write them, others read them (Linux's ``mq_permissions`` gives the
write bit to the owning user namespace's root; a user namespace's root is not modelled
and is refused as any non-root is). Neighbour: :mod:`cofferos.coffers.procfs.sysctl`.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.fs.synthetic import SyntheticControl
from cofferos.coffers.mqueue import MqLimits
from cofferos.coffers.syscalls.mqueue import namespace

if TYPE_CHECKING:
    from cofferos.coffers.fs import Inode
    from cofferos.coffers.procfs.tree import ProcFs

SYSCTL_MODE = 0o100644  #: a writable sysctl: -rw-r--r-- root root


def _parse(data: bytes, name: str) -> int:
    low, high = MqLimits.BOUNDS[name]
    try:
        value = int(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise FsError(errno.EINVAL, name) from None
    if not low <= value <= high:
        raise FsError(errno.EINVAL, f"{name}: {value} outside {low}..{high}")
    return value


def mqueue_dir(procfs: ProcFs) -> Inode:
    """The directory /proc/sys/fs/mqueue (see the module docstring)."""

    def limits() -> MqLimits:
        return namespace(procfs.caller()).limits

    def entry(name: str) -> tuple[str, Inode]:
        def show() -> bytes:
            return os.fsencode(f"{getattr(limits(), name)}\n")

        def store(offset: int, data: bytes) -> int:
            setattr(limits(), name, _parse(data, name))
            return len(data)

        return name, SyntheticControl(procfs.sb, show, store, SYSCTL_MODE)

    return procfs.fixed_directory([entry(name) for name in sorted(MqLimits.BOUNDS)])
