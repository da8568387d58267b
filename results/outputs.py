"""Output paths: checked before any work, written without ever damaging what they name.

Every file or directory a command writes (``--stats``, ``--out``, ``--plot``, ``-o``,
``--docs``, and the files inside result directories) goes through this module, in two
steps:

* before any simulation, :func:`check_file` or :func:`check_directory` decides whether
  the path can take the output; when it cannot (a missing parent, a directory where a
  file goes, a file where a directory goes, a place nothing can be created, a block
  device or a socket) it raises a one-line :class:`~cofferos.errors.ConfigError`, so a
  long run is never lost to a typo in an output path;
* afterwards :func:`open_output` (and :func:`write_text`, :func:`write_bytes` on top of
  it) writes by what the path names:

  =========================================  ==========================================
  ``-``                                      standard output
  a new path, or a regular file              a temporary file beside it, then a rename,
                                             so a reader never sees half a file; a new
                                             file gets the umask's mode, an existing
                                             one keeps its own
  a character device (``/dev/null``), FIFO   written through, never renamed over
  a symlink                                  followed: its target is handled by these
                                             rules and the link itself stays
  ``/dev/stdout``, ``/dev/fd/1`` ...         the process's own standard output/error
  =========================================  ==========================================

A rename over a path is only ever done to a regular file or a path that did not exist:
``--stats /dev/null`` must not replace the host's ``/dev/null`` with a file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

from cofferos.errors import ConfigError

STDOUT = "-"  #: the path that means standard output
#: What a figure may be written as (the file name's suffix says which).
FIGURE_FORMATS = (".png", ".svg", ".pdf")
NEW_FILE_MODE = 0o666  #: what open(2) asks for a new file; the umask takes bits away
PERMISSION_BITS = 0o7777
STDOUT_FD, STDERR_FD = 1, 2  #: the descriptors /dev/stdout and /dev/stderr name
_umask_lock = threading.Lock()

#: What each special file type is called in a refusal.
_SPECIAL_NAMES = ((stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                  (stat.S_ISDIR, "a directory"))
_WRITABLE = "a regular file, a FIFO, a character device such as /dev/null, or - for " \
            "standard output"


def umask() -> int:
    """The process's umask (read by setting and restoring it, under a lock)."""
    with _umask_lock:
        mask = os.umask(0)
        os.umask(mask)
    return mask


def _label(option: str | None, path: str | os.PathLike[str]) -> str:
    return f"{option} {os.fspath(path)}" if option else f"cannot write {os.fspath(path)}"


def _existing_ancestor(directory: Path) -> Path:
    """``directory`` or its nearest ancestor that exists (a missing parent is made)."""
    while not os.path.lexists(directory) and directory != directory.parent:
        directory = directory.parent
    return directory


def _standard_stream(path: str | os.PathLike[str]) -> TextIO | None:
    """sys.stdout or sys.stderr when ``path`` is a link to this process's descriptor 1 or 2
    (``/dev/stdout``, ``/proc/self/fd/2``): writing through the link would reopen the file
    at offset 0, and renaming over its target would hide the command's other output."""
    if not os.path.islink(path):
        return None
    try:
        target = os.stat(path)
    except OSError:
        return None
    for descriptor, stream in ((STDOUT_FD, sys.stdout), (STDERR_FD, sys.stderr)):
        try:
            if os.path.samestat(target, os.fstat(descriptor)):
                return stream
        except OSError:
            continue
    return None


def _kind(path: str | os.PathLike[str], option: str | None) -> tuple[str, os.stat_result | None]:
    """("stream", st) to write through, ("file", st) to replace atomically, ("new", None)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "new", None
    except NotADirectoryError:
        raise ConfigError(f"{_label(option, path)}: a parent of it is not a directory") \
            from None
    except OSError as err:
        raise ConfigError(f"{_label(option, path)}: {err.strerror or err}") from None
    if stat.S_ISREG(st.st_mode):
        if os.path.islink(path) and not _same_file(os.path.realpath(path), st):
            return "stream", st  # a /proc magic link: its target has no path to rename to
        return "file", st
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "stream", st
    what = next((name for test, name in _SPECIAL_NAMES if test(st.st_mode)), "a special file")
    raise ConfigError(f"{_label(option, path)}: is {what}; give {_WRITABLE}")


def is_stream(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is written through, not as a file in a directory: ``-``, the
    standard streams, a character device or a FIFO (nothing should be put beside it)."""
    if os.fspath(path) == STDOUT or _standard_stream(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _same_file(path: str, st: os.stat_result) -> bool:
    try:
        return os.path.samestat(os.stat(path), st)
    except OSError:
        return False


def _target(path: str | os.PathLike[str]) -> Path:
    """Where a regular file or a new one is written: through symlinks, to their target."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


DEVICE_DIRECTORY = Path("/dev")


def _refuse_device_filesystem(directory: Path, label: str) -> None:
    """ConfigError when ``directory`` is on the filesystem of /dev (devtmpfs): a new
    file there is taken for a device by everything else on the host (``--stats
    /dev/sda`` on a machine without that disk would create one)."""
    try:
        dev, root = os.stat(DEVICE_DIRECTORY), os.stat("/")
        here = os.stat(directory)
    except OSError:
        return
    if dev.st_dev != root.st_dev and here.st_dev == dev.st_dev:
        raise ConfigError(f"{label}: no such device, and no new file is made in "
                          f"{DEVICE_DIRECTORY}")


def _probe(directory: Path, label: str) -> None:
    """ConfigError unless a file can be created (and removed) in ``directory``."""
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".coffersim-probe.")
    except NotADirectoryError:
        raise ConfigError(f"{label}: not a directory: {directory}") from None
    except OSError as err:
        raise ConfigError(f"{label}: cannot create files in {directory}: "
                          f"{err.strerror or err}") from None
    os.close(fd)
    os.unlink(name)


def check_file(path: str | os.PathLike[str], option: str, *, stdout: bool = True) -> None:
    """Before any work: ConfigError (one line) unless ``path`` can take a file output.

    ``-`` is standard output where ``stdout`` allows it. Missing parents are made when
    the file is written: the nearest one that exists must be a directory that takes files.
    """
    if os.fspath(path) == STDOUT:
        if not stdout:
            raise ConfigError(f"{option} cannot be standard output ({STDOUT}); give a file")
        return
    if os.fspath(path) == "":
        raise ConfigError(f"{option}: an empty path")
    if _standard_stream(path) is not None:
        return
    kind, _ = _kind(path, option)
    if kind == "stream":
        return
    ancestor = _existing_ancestor(_target(path).parent)
    if kind == "new":
        _refuse_device_filesystem(ancestor, _label(option, path))
    _probe(ancestor, _label(option, path))


def figure_format(path: str | os.PathLike[str]) -> str:
    """The format of a figure file (``png``...) from its suffix; a ConfigError unless it
    is one of :data:`FIGURE_FORMATS`."""
    suffix = Path(path).suffix.lower()
    if suffix not in FIGURE_FORMATS:
        shown = f"unknown format {Path(path).suffix!r}" if suffix else "no format suffix"
        raise ConfigError(f"cannot write {os.fspath(path)!r} ({shown}): the file name must "
                          f"end in {', '.join(FIGURE_FORMATS)}")
    return suffix.lstrip(".")


def check_figure(path: str | os.PathLike[str], option: str) -> None:
    """Before any work: :func:`figure_format` and :func:`check_file` (no standard output:
    a figure's format comes from its file name)."""
    figure_format(path)
    check_file(path, option, stdout=False)


def check_directory(path: str | os.PathLike[str], option: str) -> Path:
    """Before any work: make the output directory ``path`` (and its parents) and check
    that files can be created in it; ConfigError (one line) when not."""
    if os.fspath(path) in (STDOUT, ""):
        raise ConfigError(f"{option} needs a directory, got {os.fspath(path)!r}")
    directory = Path(path)
    label = _label(option, path)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{label}: not a directory")
    if not directory.exists():
        _refuse_device_filesystem(_existing_ancestor(directory), label)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{label}: not a directory") from None
    except NotADirectoryError:
        raise ConfigError(f"{label}: a parent of it is not a directory") from None
    except OSError as err:
        raise ConfigError(f"{label}: cannot create it: {err.strerror or err}") from None
    _probe(directory, label)
    return directory


def make_directory(path: str | os.PathLike[str]) -> Path:
    """``mkdir -p`` for a directory inside an output; ConfigError (one line) when a file
    stands in the way or it cannot be made."""
    return check_directory(path, "")


@contextlib.contextmanager
def open_output(path: str | os.PathLike[str], *, binary: bool = False,
                option: str | None = None) -> Iterator[IO[Any]]:
    """A file object writing to ``path`` by the rules in the module's docstring.

    If the block raises, a regular file or new path is left as it was. An OSError
    while writing is a one-line ConfigError.
    """
    stream = sys.stdout if os.fspath(path) == STDOUT else _standard_stream(path)
    if stream is not None:
        stream.flush()  # what was printed before comes first
        handle: IO[Any] = stream.buffer if binary else stream
        yield handle
        handle.flush()
        return
    kind, st = _kind(path, option)
    label = _label(option, path)
    try:
        if kind == "stream":
            with open(path, "wb" if binary else "w",
                      newline=None if binary else "") as through:
                yield through
            return
        with _replacing(_target(path), st, binary) as out:
            yield out
    except OSError as err:
        raise ConfigError(f"{label}: cannot write: {err.strerror or err}") from None


@contextlib.contextmanager
def _replacing(target: Path, existing: os.stat_result | None,
               binary: bool) -> Iterator[IO[Any]]:
    """Write a temporary file beside ``target``, then rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        mode = (stat.S_IMODE(existing.st_mode) if existing is not None
                else NEW_FILE_MODE & ~umask())
        os.fchmod(fd, mode & PERMISSION_BITS)
        with os.fdopen(fd, "wb" if binary else "w", newline=None if binary else "") as out:
            yield out
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_text(path: str | os.PathLike[str], text: str, *, option: str | None = None) -> None:
    """Write ``text`` to ``path`` (see :func:`open_output`)."""
    with open_output(path, option=option) as out:
        out.write(text)


def write_bytes(path: str | os.PathLike[str], data: bytes, *,
                option: str | None = None) -> None:
    """Write ``data`` to ``path`` (see :func:`open_output`)."""
    with open_output(path, binary=True, option=option) as out:
        out.write(data)
