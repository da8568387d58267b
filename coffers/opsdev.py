"""/dev/coffer/ops: how a workload tells the simulator that it finished one operation.

A benchmark's figure of merit is operations per second and the latency of each,
not system calls: only the program knows where one operation ends. So each
write(2) to /dev/coffer/ops marks one completed operation. The kernel records
the coffer's monotonic time when the write entered the kernel and a label, the
bytes written with surrounding whitespace removed (``b"create\\n"`` is
``"create"``; empty or blank is :data:`DEFAULT_LABEL`), in
:attr:`KernelStats.ops <cofferos.coffers.syscalls.dispatch.KernelStats.ops>`;
:mod:`cofferos.results.ops` turns the marks into throughput and latency.

The node is a character device with a number from Linux's local/experimental
range (:data:`~cofferos.coffers.fs.defaults.COFFER_MAJOR`), made by
:mod:`cofferos.coffers.fs.defaults` and opened by
:func:`cofferos.coffers.syscalls.open.dentry_open`. Reads return end of file; the
device is a stream (lseek, pread and pwrite fail with ESPIPE, as for a
``nonseekable_open`` driver). A program opens it once at start and, where the
open fails (natively: there is no such file), simply does not mark: the same
binary runs on Linux unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from cofferos.coffers.files import OpenFile
from cofferos.coffers.fs import Inode, StatResult
from cofferos.coffers.fs.defaults import COFFER_MAJOR, COFFER_OPS_MINOR

#: (major, minor) of /dev/coffer/ops.
DEV_COFFER_OPS = (COFFER_MAJOR, COFFER_OPS_MINOR)
#: The label of a write of nothing but whitespace (or of nothing).
DEFAULT_LABEL = "op"
#: Bytes of a write kept as its label (the rest is accepted and ignored), so a
#: program writing large buffers cannot make the kernel's record grow with them.
MAX_LABEL_BYTES = 64


def is_ops_device(inode: Inode) -> bool:
    """Whether ``inode`` is the device node of /dev/coffer/ops (wherever it is linked)."""
    return inode.is_chr() and (os.major(inode.rdev), os.minor(inode.rdev)) == DEV_COFFER_OPS


def parse_label(data: bytes) -> str:
    """The label of one write: its first :data:`MAX_LABEL_BYTES` bytes, stripped.

    >>> parse_label(b"create\\n"), parse_label(b" \\n"), parse_label(b"")
    ('create', 'op', 'op')
    """
    label = data[:MAX_LABEL_BYTES].decode("utf-8", errors="replace").strip()
    return sys.intern(label) if label else DEFAULT_LABEL  # one string per distinct label


class OpsDeviceFile(OpenFile):
    """An open /dev/coffer/ops: writes append ``(clock(), label)`` to ``ops``.

    ``clock`` is the coffer's monotonic clock in ns and ``ops`` its statistics'
    list, handed in by the opener (as :class:`~cofferos.coffers.files.DeviceFile`
    is handed the coffer's random generator), so the device holds no coffer.
    """

    seekable = False

    def __init__(self, inode: Inode, flags: int, path: str, clock: Callable[[], int],
                 ops: list[tuple[int, str]]) -> None:
        super().__init__(flags, path)
        self._inode = inode
        self._clock = clock
        self._ops = ops

    @property
    def inode(self) -> Inode:
        return self._inode

    def read(self, size: int) -> bytes:
        return b""

    def write(self, data: bytes) -> int:
        self._ops.append((self._clock(), parse_label(data)))
        return len(data)

    def stat(self) -> StatResult:
        return self._inode.stat()
