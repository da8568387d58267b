"""Personality policy slots are asked where the kernel applies them."""

from __future__ import annotations

import io
from pathlib import Path

from cofferos.coffers.coffer import Coffer, CofferConfig
from cofferos.personalities.base import Personality
from cofferos.workloads import build


def _coffer(program: Path, args: list[str], stack: list[Personality],
            stderr: io.BytesIO | None = None) -> Coffer:
    coffer = Coffer(CofferConfig(), stdin=io.BytesIO(), stdout=io.BytesIO(),
                    stderr=stderr or io.BytesIO())
    coffer.dispatcher.personalities.replace(stack)
    coffer.spawn(str(program), [program.name, *args])
    return coffer


def test_the_connect_slot_is_asked_with_the_peer() -> None:
    asked: list[tuple[str, int]] = []

    class NoPeers(Personality):
        name = "no-peers"

        def may_connect(self, task: object, address: str, port: int) -> bool:
            asked.append((address, port))
            return False

    err = io.BytesIO()
    result = _coffer(build("tcpclient"), ["127.0.0.1", "7001", "1"], [NoPeers()], err).run()
    assert asked and set(asked) == {("127.0.0.1", 7001)}
    assert result.exit_code == 1 and not result.oopses
    assert b"connection refused" in err.getvalue()
