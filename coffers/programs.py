"""Finding a coffer's first program in its own filesystem, as ``docker run IMAGE CMD`` does.

A coffer whose root is a container image (``CofferConfig.image``) starts a program
of the image, never the host's: a name with a "/" is a path in the coffer (relative
to its working directory), a bare name is looked up along the ``PATH`` the program
will get, as execvp(3) and Docker do. :func:`find_program` answers with the inode
and the path it was found at, or one :class:`~cofferos.errors.ProgramError` line.
Execution inside the coffer (execve) has its own lookup in
:mod:`cofferos.coffers.syscalls.exec`; this one is the operator's.
"""

from __future__ import annotations

import errno
import os
import posixpath
from collections.abc import Sequence

from cofferos.coffers.fs import FileSystem, FsError, Inode
from cofferos.coffers.fs.permission import S_IXUGO
from cofferos.errors import ProgramError

PATH_PREFIX = b"PATH="
NOT_REGULAR, NOT_EXECUTABLE = "not a regular file", "not executable"


def search_path(envp: Sequence[str | bytes], default: str) -> list[str]:
    """The directories of the ``PATH`` in ``envp`` (the last one wins), else ``default``."""
    value = default
    for entry in envp:
        raw = entry.encode() if isinstance(entry, str) else entry
        if raw.startswith(PATH_PREFIX):
            value = os.fsdecode(raw[len(PATH_PREFIX):])
    return [directory or "." for directory in value.split(":")]


def _executable(fs: FileSystem, cwd: Inode, path: str) -> Inode:
    inode = fs.lookup(path, cwd)
    if not inode.is_reg():
        raise FsError(errno.EACCES, NOT_REGULAR)
    if not inode.mode & S_IXUGO:
        raise FsError(errno.EACCES, NOT_EXECUTABLE)
    return inode


def find_program(fs: FileSystem, cwd: Inode, name: str, directories: Sequence[str],
                 where: str) -> tuple[Inode, str]:
    """The program ``name`` in ``fs``: (its inode, the path it was found at).
    ``where`` names the filesystem in errors ("the image")."""
    if not name:
        raise ProgramError("empty program name")
    if "/" in name:
        try:
            return _executable(fs, cwd, name), name
        except FsError as err:
            own = err.msg in (NOT_REGULAR, NOT_EXECUTABLE)
            reason = err.msg if own else os.strerror(err.errno).lower()
            raise ProgramError(f"{name} in {where}: {reason}") from None
    denied = None
    for directory in directories:
        candidate = posixpath.join(directory, name)
        try:
            return _executable(fs, cwd, candidate), candidate
        except FsError as err:
            if err.errno == errno.EACCES:
                denied = candidate
    if denied is not None:
        raise ProgramError(f"{name}: {denied} in {where} is not an executable file")
    raise ProgramError(f"{name}: not found in {where} (PATH={':'.join(directories)})")
