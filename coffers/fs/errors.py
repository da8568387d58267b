"""The filesystem's one exception: a Linux errno travelling up to the system call layer.

    Exception
     └── FsError     carries ``.errno`` (an ``errno`` module constant); the handler
                     in :mod:`cofferos.coffers.syscalls` returns ``-exc.errno``

Every failure inside :mod:`cofferos.coffers.fs` is an :class:`FsError`, so a
handler needs exactly one ``except`` clause. Host-side ``OSError`` never leaks out
of a lookup or a read: :mod:`cofferos.coffers.fs.hostimport` converts it first,
so a guest cannot learn host paths or host errno values from an error message.
The one exception is :meth:`FileSystem.from_host`, which is called by the
operator, not the guest, and reports a bad host directory with the plain Python
``FileNotFoundError`` / ``NotADirectoryError``.
"""

from __future__ import annotations

import errno
import os


class FsError(Exception):
    """A filesystem operation failed with the Linux error number ``errno``.

    >>> str(FsError(errno.ENOENT, "/etc/shadow"))
    'ENOENT (No such file or directory): /etc/shadow'
    >>> FsError(errno.ENOTDIR).errno == errno.ENOTDIR
    True
    """

    def __init__(self, err: int, msg: str = "") -> None:
        super().__init__(err, msg)
        self.errno: int = err
        self.msg: str = msg

    @property
    def name(self) -> str:
        """The symbolic name of the error, such as ``"ENOENT"``."""
        return errno.errorcode.get(self.errno, f"E{self.errno}")

    def __str__(self) -> str:
        text = f"{self.name} ({os.strerror(self.errno)})"
        return f"{text}: {self.msg}" if self.msg else text
