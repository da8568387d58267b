"""Pseudo-terminals (:mod:`cofferos.coffers.tty`) against Linux's.

Each C guest in ``tests/tty/`` makes a pty and prints every result, the bytes each
side reads and the errno names; it must print the same and exit the same in a
coffer as natively. The native run gets a new session without a controlling
terminal (as a coffer's first process has none), so that the guests see the same
sessions on both sides. ``pty.c`` covers the calls and the line discipline,
``session.c`` a pty as the controlling terminal of forkpty's child, ``jobctl.c``
job control (SIGTTIN, SIGTTOU, a stop seen by WUNTRACED, SIGHUP) and packet mode.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.coffers.tty.ldisc import NTty
from cofferos.coffers.tty.termios import ICANON, Termios
from tests.support import assert_guest_matches_native, needs_gcc

GUESTS = Path(__file__).parent / "tty"


@needs_gcc
@pytest.mark.parametrize("guest", ["pty", "session", "jobctl"])
def test_guest_matches_native(guest: str, tmp_path: Path) -> None:
    assert_guest_matches_native(GUESTS / f"{guest}.c", tmp_path, cleans_up=False, succeeds=True)


def _ldisc() -> tuple[NTty, list[bytes], list[int]]:
    echoed: list[bytes] = []
    signals: list[int] = []
    return NTty(Termios(), echoed.append, signals.append, lambda: None), echoed, signals


def test_canonical_line_waits_for_its_end_and_raw_does_not() -> None:
    ldisc, echoed, _ = _ldisc()
    ldisc.receive(b"ab")
    assert not ldisc.available() and b"".join(echoed) == b"ab"
    ldisc.receive(b"\r")  # ICRNL
    assert ldisc.read(100) == b"ab\n"
    ldisc.receive(b"cd")
    raw = Termios()
    raw.lflag &= ~ICANON
    ldisc.set_termios(raw)  # leaving canonical mode hands over the edited line
    assert ldisc.available() and ldisc.read(1) == b"c" and ldisc.read(9) == b"d"


def test_interrupt_character_signals_and_flushes() -> None:
    ldisc, echoed, signals = _ldisc()
    ldisc.receive(b"lost\x03")
    assert signals == [2] and not ldisc.available() and ldisc.line == bytearray()
    assert echoed[-1] == b"^C"


def test_devpts_lists_open_masters_only() -> None:
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=io.BytesIO())
    names = [name for name, _ in coffer.devpts.root._generate()]
    assert names == ["ptmx"]
    assert coffer.fs.lookup("/dev/ptmx", coffer.fs.root).is_chr()
