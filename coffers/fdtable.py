"""The descriptor table: Linux's ``files_struct``.

:class:`FdTable` maps small integers to open files (:mod:`cofferos.coffers.files`),
with close-on-exec flags and the RLIMIT_NOFILE limit, and charges each descriptor to
the coffer's descriptor account. Closing a descriptor also drops the table's POSIX
record locks on that file (see :mod:`cofferos.coffers.file_locks`). Everything here
raises :class:`FsError` with an errno.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cofferos.coffers.file_locks import locks_remove_posix
from cofferos.coffers.fs import FsError

if TYPE_CHECKING:
    from cofferos.coffers.files import OpenFile
    from cofferos.coffers.mm import MemoryAccount

#: What a descriptor costs its coffer's descriptor account (as much as its memory
#: limit, kept apart from it: Coffer.descriptor_space): Linux's memory cgroup charges
#: each ``struct file`` (filp_cachep is SLAB_ACCOUNT; about 256 bytes of slab on
#: x86-64) and the descriptor table's slots; the model's entry holds about 170 bytes
#: of the host (tracemalloc), so the limit bounds what descriptors hold of it
#: whatever RLIMIT_NOFILE allows.
FD_BYTES = 256


@dataclass
class FdEntry:
    file: OpenFile
    cloexec: bool = False


@dataclass
class FdTable:
    """A process's descriptor table (``files_struct``), limited by RLIMIT_NOFILE; each
    descriptor is charged :data:`FD_BYTES` to ``account`` (ENOMEM past its limit)."""

    limit: int
    fds: dict[int, FdEntry] = field(default_factory=dict)
    account: MemoryAccount | None = None
    #: No descriptor below this is free (Linux's ``files->next_fd``): the search for the
    #: lowest free one starts here, so filling a table of N is not N^2 steps.
    next_fd: int = 0
    #: The record lock this table (a POSIX lock owner) sleeps in F_SETLKW for, if any:
    #: Linux's entry in blocked_hash, read by the deadlock detector (file_locks.LockWait).
    lock_wait: object = None

    def get(self, fd: int) -> OpenFile:
        entry = self.fds.get(fd)
        if entry is None:
            raise FsError(errno.EBADF)
        return entry.file

    def install(self, file: OpenFile, cloexec: bool = False, lowest: int = 0) -> int:
        """Put ``file`` at the lowest free descriptor >= ``lowest``; EMFILE past the limit."""
        fd = self.lowest_free(lowest)
        if fd >= self.limit:
            raise FsError(errno.EMFILE)
        self._charge(1)
        file.refs += 1
        self.fds[fd] = FdEntry(file, cloexec)
        if lowest <= self.next_fd:
            self.next_fd = fd + 1
        return fd

    def lowest_free(self, lowest: int = 0) -> int:
        """The lowest descriptor >= ``lowest`` that is free (maybe past the limit)."""
        fd = max(lowest, self.next_fd)
        while fd in self.fds:
            fd += 1
        if lowest <= self.next_fd:
            self.next_fd = fd  # (none free below it)
        return fd

    def _charge(self, count: int) -> None:
        """Charge ``count`` more descriptors (fewer, negative); ENOMEM past the limit."""
        if self.account is not None and not self.account.try_charge(count * FD_BYTES):
            raise FsError(errno.ENOMEM)  # (try_charge: fits and charge in one call)

    def install_at(self, fd: int, file: OpenFile, cloexec: bool = False) -> int:
        """dup2 semantics: replace whatever ``fd`` held."""
        if fd < 0 or fd >= self.limit:
            raise FsError(errno.EBADF)
        old = self.fds.get(fd)
        if old is None:
            self._charge(1)
        file.refs += 1
        self.fds[fd] = FdEntry(file, cloexec)
        if old is not None:
            self._drop(old.file)
        return fd

    def _drop(self, file: OpenFile) -> None:
        """One descriptor of ``file`` closed (filp_close): this table's record locks
        on the file go, its kind's flush runs, and the open file itself goes with its
        last descriptor."""
        file.flush()
        locks_remove_posix(file.inode, self)
        file.refs -= 1
        if file.refs <= 0:
            file.release()

    def close(self, fd: int) -> None:
        entry = self.fds.pop(fd, None)
        if entry is None:
            raise FsError(errno.EBADF)
        self._charge(-1)
        self.next_fd = min(self.next_fd, fd)
        self._drop(entry.file)

    def close_all(self) -> None:
        for fd in list(self.fds):
            self.close(fd)

    def close_on_exec(self) -> None:
        for fd in [fd for fd, entry in self.fds.items() if entry.cloexec]:
            self.close(fd)

    def copy(self) -> FdTable:
        """fork without CLONE_FILES: the same open files under the same numbers (the
        caller checked that their charge fits: :meth:`charge_bytes`)."""
        table = FdTable(self.limit, account=self.account, next_fd=self.next_fd)
        if self.account is not None:
            self.account.charge(self.charge_bytes)
        for fd, entry in self.fds.items():
            entry.file.refs += 1
            table.fds[fd] = FdEntry(entry.file, entry.cloexec)
        return table

    @property
    def charge_bytes(self) -> int:
        """What this table's descriptors are charged (what a copy of it needs)."""
        return len(self.fds) * FD_BYTES if self.account is not None else 0

    def set_cloexec(self, fd: int, value: bool) -> None:
        self.get(fd)
        self.fds[fd].cloexec = value

    def is_cloexec(self, fd: int) -> bool:
        self.get(fd)
        return self.fds[fd].cloexec
