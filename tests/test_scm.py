"""Ancillary data (:mod:`cofferos.coffers.net.scm`, :mod:`cofferos.coffers.net.ipcmsg`)
against Linux's.

``tests/sockets/scm.c`` passes files with SCM_RIGHTS (truncated, peeked, close-on-exec,
to a child, lost with an unread socket), credentials with SCM_CREDENTIALS and
SO_PASSCRED, reads SO_PEERCRED, and makes the errors; it prints every result and
every control item and must print the same natively and in a coffer.
``tests/sockets/ipcmsg.c`` does the same for the hop limit, traffic class, TTL and
TOS items of UDP over IPv6 and IPv4 loopback (CPython's RFC 3542 tests).
``tests/sockets/scm_cycle.c`` makes SCM_RIGHTS cycles that only the garbage
collector of sockets in flight frees (:mod:`cofferos.coffers.net.unix_gc`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cofferos.coffers.net.scm import Scm, discard, hold
from cofferos.coffers.pipe import Pipe, PipeEnd
from tests.support import assert_guest_matches_native, needs_gcc

GUESTS = Path(__file__).parent / "sockets"


@needs_gcc
@pytest.mark.parametrize("guest", ["scm", "ipcmsg", "scm_cycle"])
def test_ancillary_guest_matches_native(guest: str, tmp_path: Path) -> None:
    assert_guest_matches_native(GUESTS / f"{guest}.c", tmp_path, cleans_up=False, succeeds=True)


def test_a_file_in_flight_outlives_its_descriptors() -> None:
    pipe = Pipe(1)
    writer = PipeEnd(pipe, 0, reading=False)
    writer.refs = 1  # one descriptor
    hold(writer)
    scm = Scm((1, 0, 0), [writer])
    writer.refs -= 1  # the descriptor closes: the message still holds the file
    assert pipe.writers == 1
    discard(scm)
    assert pipe.writers == 0 and scm.files == []
