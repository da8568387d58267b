"""Argument types of the ``coffersim`` command line: each turns one string into a value.

Each raises :class:`argparse.ArgumentTypeError` with a message that fits on the
one error line the CLI prints (:mod:`cofferos.cli`, :mod:`cofferos.cli_timing`).

Numbers with a range (cores, containers, seeds, ...) are checked against the
one table of :mod:`cofferos.bounds`, which sweep specs and experiments use too.

    >>> positive("1_000"), bounded_list("containers")("1,8,32"), kernel_list("linux,vm")
    (1000, [1, 8, 32], ['linux', 'vm'])
    >>> size("512M"), size("2g"), size("4096")
    (536870912, 2147483648, 4096)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from cofferos import bounds
from cofferos.errors import ConfigError
from cofferos.sim.kernels import check_kernel


def env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected K=V, got {text!r}")
    return key, value


TRACE_MODES = ("brief", "verbose")  #: --trace=MODE (cofferos.coffers.syscalls.trace)


def trace_mode(text: str) -> str:
    """``--trace``'s mode. ``--trace PROGRAM`` would read the program as a mode: say so."""
    if text not in TRACE_MODES:
        raise argparse.ArgumentTypeError(
            f"expected {' or '.join(TRACE_MODES)}, got {text!r} (write --trace=MODE, "
            "or the program after --)")
    return text


NS_PER_SECOND = 1_000_000_000


def personality_change(text: str) -> tuple[str, str]:
    """``--personality-change``: ``after=CALL:N:SPEC`` or ``at=SECONDS:SPEC`` as the
    (trigger, spec) of ``CofferConfig.personality_changes`` (``after=CALL:N``,
    ``at_ns=N``). The spec is checked later, with the other personality specs."""
    from cofferos.coffers.syscalls.numbers import SYSCALL_NUMBERS

    kind, sep, rest = text.partition("=")
    if kind == "after" and sep:
        call, _, rest = rest.partition(":")
        count, _, spec = rest.partition(":")
        if call not in SYSCALL_NUMBERS:
            raise argparse.ArgumentTypeError(f"{text!r}: no system call named {call!r}")
        if not count.isdigit() or int(count) <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: after=CALL:N needs a positive "
                                             f"whole N, got {count!r}")
        trigger = f"after={call}:{int(count)}"
    elif kind == "at" and sep:
        when, _, spec = rest.partition(":")
        try:
            seconds = float(when)
        except ValueError:
            seconds = float("nan")
        if not 0 <= seconds < float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r}: at=SECONDS needs a finite number "
                                             f"of simulated seconds >= 0, got {when!r}")
        trigger = f"at_ns={round(seconds * NS_PER_SECOND)}"
    else:
        raise argparse.ArgumentTypeError(f"expected after=CALL:N:SPEC or at=SECONDS:SPEC, "
                                         f"got {text!r}")
    if not spec:
        raise argparse.ArgumentTypeError(f"{text!r}: no personality after the trigger "
                                         "(e.g. after=execve:1:agent)")
    return trigger, spec


def positive(text: str) -> int:
    """A positive integer (``1_000`` and ``0x10`` allowed), for argparse."""
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


#: Suffixes of a size, as dd and truncate read them: powers of 1024.
SIZE_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def size(text: str) -> int:
    """A positive size in bytes, with an optional K, M, G or T suffix (powers of 1024)."""
    digits = text.strip().upper().removesuffix("B").removesuffix("I")
    suffix = digits[-1:] if digits[-1:] in SIZE_SUFFIXES else ""
    number = digits[: len(digits) - len(suffix)]
    try:
        value = int(number.replace("_", ""), 0) * SIZE_SUFFIXES[suffix]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 512M, 2G)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def positive_seconds(text: str) -> float:
    """A positive number of seconds (``2``, ``0.5``), for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text}")
    return value


def kernel_list(text: str) -> list[str]:
    kernels = [k.strip() for k in text.split(",")]
    if "" in kernels:
        raise argparse.ArgumentTypeError(f"empty kernel name in {text!r}")
    for kernel in kernels:
        kernel_name(kernel)
    return kernels


def kernel_name(text: str) -> str:
    """An architecture, optionally with a version (``linux:2.6.35``), for argparse."""
    try:
        return check_kernel(text.strip())
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def bounded(name: str) -> Callable[[str], int | float]:
    """The argparse type of the setting ``name`` of :data:`cofferos.bounds.BOUNDS`."""
    def convert(text: str) -> int | float:
        try:
            return bounds.parse(name, text)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    convert.__name__ = name  # argparse names the type in some messages
    return convert


def bounded_list(name: str) -> Callable[[str], list[int | float]]:
    """``1,8,32``: a comma-separated list of the setting ``name`` (argparse type)."""
    one = bounded(name)

    def convert(text: str) -> list[int | float]:
        return [one(part) for part in text.split(",")]
    convert.__name__ = f"{name} list"
    return convert
