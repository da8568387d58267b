"""One sweep at a time per output directory, and one spec per directory.

:func:`claim` is what :func:`cofferos.sim.sweeps.run.run_sweep` does before it runs a
point: it makes the output directory (a one-line error when it cannot), takes an
exclusive ``flock`` on ``OUT/.lock`` for as long as the sweep runs (a second sweep
into the same directory gets one line naming the holder, instead of running every
point again and racing for the manifest) and refuses a spec whose text differs
from the ``spec.toml`` already there, unless forced (its points would mix silently
with the other spec's).

The lock file stays when the sweep ends (removing it would race with a sweep that
has just opened it); the kernel drops the lock when the holder exits, even killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

from cofferos.errors import ConfigError
from cofferos.results.outputs import NEW_FILE_MODE, check_directory

LOCK_FILE = ".lock"
SPEC_FILE = "spec.toml"
HOLDER_MAX_BYTES = 4096  #: how much of the lock file is read to name its holder


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, HOLDER_MAX_BYTES).decode(errors="replace").strip()
    return text or "a process that has not said who it is"


def check_spec(out: Path, spec_text: str, force: bool) -> None:
    """ConfigError when ``out`` holds the results of a different spec (unless ``force``)."""
    try:
        previous = (out / SPEC_FILE).read_text()
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"--out {out}: cannot read its {SPEC_FILE}: {err}") from None
    if previous != spec_text and not force:
        raise ConfigError(f"--out {out} holds the results of a different spec "
                          f"({out / SPEC_FILE}); use another --out, or --force to add "
                          f"this spec's points to it")


@contextlib.contextmanager
def claim(out: str | os.PathLike[str], spec_text: str, command: Sequence[str],
          force: bool = False) -> Iterator[Path]:
    """Hold ``out`` for one sweep: made, locked, and checked to hold this spec's results."""
    directory = check_directory(out, "--out")
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, NEW_FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"--out {out} is in use by another sweep ({_holder(fd)}); "
                              f"wait for it to finish or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}: "
                      f"{' '.join(command)}\n".encode(), 0)
        check_spec(directory, spec_text, force)
        yield directory
    finally:
        os.close(fd)  # drops the lock


def check(out: str | os.PathLike[str], spec_text: str, force: bool = False) -> None:
    """:func:`claim` and let go at once: the CLI's check before it draws a progress bar."""
    with claim(out, spec_text, ["(checking)"], force):
        pass
