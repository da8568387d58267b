"""/proc/sys/fs/mqueue: the POSIX message queue limits of the reader's IPC namespace.

Five files, as ipc/mq_sysctl.c registers them for each IPC namespace: ``queues_max``,
``msg_max``, ``msgsize_max``, ``msg_default`` and ``msgsize_default``, read from and
written to the :class:`~cofferos.coffers.mqueue.MqLimits` of the namespace of the task
that opens them (:func:`cofferos.coffers.syscalls.mqueue.namespace`), so a container
that unshared CLONE_NEWIPC sees and sets its own. A write takes one decimal integer
(``proc_dointvec_minmax``) in the file's bounds (:data:`MqLimits.BOUNDS
<cofferos.coffers.mqueue.MqLimits.BOUNDS>`), else EINVAL. The files are 0644 and
belong to the root of the user namespace that owns the reader's IPC namespace
(``ipc_set_ownership``): that root may write them, others read them, so a container
with user and IPC namespaces of its own sets its own limits. Neighbour:
:mod:`cofferos.coffers.procfs.sysctl`.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from cofferos.coffers.fs import FsError
from cofferos.coffers.fs.synthetic import SyntheticControl
from cofferos.coffers.mqueue import MqLimits
from cofferos.coffers.syscalls.mqueue import namespace
from cofferos.coffers.userns import GID_MAP, INVALID_ID, UID_MAP, make_kid

if TYPE_CHECKING:
    from collections.abc import Callable

    from cofferos.coffers.fs import Inode
    from cofferos.coffers.fs.synthetic import Show, Store
    from cofferos.coffers.procfs.tree import ProcFs
    from cofferos.coffers.task import Task

SYSCTL_MODE = 0o100644  #: a writable sysctl: -rw-r--r-- root root


class NamespaceRootControl(SyntheticControl):
    """A sysctl owned, at each access, by the root of the user namespace owning the
    reader's IPC namespace (the initial root when that namespace does not map 0)."""

    def __init__(self, procfs: ProcFs, caller: Callable[[], Task], show: Show,
                 store: Store) -> None:
        self._caller = caller
        super().__init__(procfs.sb, show, store, SYSCTL_MODE)

    def _root(self, which: str) -> int:
        task = self._caller()
        ipc = task.process.ipc_ns or task.coffer.shm_ids
        kid = make_kid(ipc.user_ns, which, 0)
        return 0 if kid == INVALID_ID else kid

    @property  # type: ignore[override]
    def uid(self) -> int:
        return self._root(UID_MAP)

    @uid.setter
    def uid(self, value: int) -> None:  # Inode.__init__'s; the owner is computed
        pass

    @property  # type: ignore[override]
    def gid(self) -> int:
        return self._root(GID_MAP)

    @gid.setter
    def gid(self, value: int) -> None:
        pass


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

        return name, NamespaceRootControl(procfs, procfs.caller, show, store)

    return procfs.fixed_directory([entry(name) for name in sorted(MqLimits.BOUNDS)])
