"""--trace's decoding of arguments, for the values a hostile guest passes (found by the fuzzer).

A real-time signal number once raised ValueError inside the tracer (``signal.Signals(36)``)
and took the whole simulator down; O_WRONLY and O_RDWR were dropped from open flags.
"""

from __future__ import annotations

import os

import pytest

from cofferos.coffers.syscalls.trace import format_arg


@pytest.mark.parametrize(("number", "shown"), [
    (9, "SIGKILL"), (32, "SIGRT_0"), (36, "SIGRT_4"), (64, "SIGRT_32"), (65, "65"), (0, "0"),
])
def test_every_signal_number_is_named_without_an_exception(number: int, shown: str) -> None:
    assert format_arg(None, "signal", number) == shown  # type: ignore[arg-type]


@pytest.mark.parametrize(("flags", "shown"), [
    (os.O_RDONLY, "O_RDONLY"),
    (os.O_RDWR, "O_RDWR"),
    (os.O_WRONLY | os.O_CREAT, "O_WRONLY|O_CREAT"),
    (os.O_RDONLY | os.O_DIRECTORY, "O_RDONLY|O_DIRECTORY"),
])
def test_open_flags_keep_their_access_mode(flags: int, shown: str) -> None:
    assert format_arg(None, "oflags", flags) == shown  # type: ignore[arg-type]
