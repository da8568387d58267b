"""Tests of fcntl's less common commands and their neighbours: file owners and
F_SETSIG, signal-driven I/O on pipes, pipe sizes, leases, POSIX lock deadlocks,
SEEK_DATA/SEEK_HOLE, O_TMPFILE, the CPU-time interval timers, SA_RESETHAND, nested
epoll and futex_waitv.

As in ``tests/test_syscalls_misc.py``, small C guests (``tests/syscalls_misc/*.c``)
make each call, error paths included, and print every result or errno name; each
must print the same and exit the same in a coffer as natively. What only the
coffer's clock can show in reasonable time (a lease that times out) runs in the
coffer alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import assert_guest_matches_native, compile_guest, needs_gcc
from tests.test_syscalls_misc import GUESTS, run_coffer

#: Guests compared with their native runs.
COMPARED = ["fcntl_owner", "leases", "deadlock", "tmpfile", "seek_hole", "resethand",
            "epoll_nest", "futex_waitv", "itimers", "async_pipe"]


@needs_gcc
@pytest.mark.parametrize("guest", COMPARED)
def test_guest_matches_native(guest: str, tmp_path: Path) -> None:
    assert_guest_matches_native(GUESTS / f"{guest}.c", tmp_path)


@needs_gcc
def test_a_lease_nobody_gives_up_is_broken_after_lease_break_time(tmp_path: Path) -> None:
    binary = compile_guest(GUESTS / "lease_timeout.c", tmp_path)
    status, out = run_coffer(binary)
    assert status == 0
    assert out.decode().splitlines() == [
        "fcntl(fd, F_SETLEASE, F_WRLCK) = 0",
        "child status 0 after 45 s",
        "fcntl(fd, F_GETLEASE) = 2",
    ]
