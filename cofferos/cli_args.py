"""Argument types of the ``coffersim`` command line: each turns one string into a value.

Each raises :class:`argparse.ArgumentTypeError` with a message that fits on the
one error line the CLI prints (:mod:`cofferos.cli`, :mod:`cofferos.cli_timing`).

    >>> positive("1_000"), positive_list("1,8,32"), kernel_list("linux,vm")
    (1000, [1, 8, 32], ['linux', 'vm'])
"""

from __future__ import annotations

import argparse

from cofferos.sim.kernels import ARCHITECTURES


def env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected K=V, got {text!r}")
    return key, value


def positive(text: str) -> int:
    """A positive integer (``1_000`` and ``0x10`` allowed), for argparse."""
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
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
    unknown = [k for k in kernels if k not in ARCHITECTURES]
    if "" in kernels:
        raise argparse.ArgumentTypeError(f"empty kernel name in {text!r}")
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown kernel {unknown[0]!r}; choose from {', '.join(ARCHITECTURES)}")
    return kernels


def positive_list(text: str) -> list[int]:
    """``1,8,32`` as positive integers (argparse type)."""
    return [positive(part.strip()) for part in text.split(",")]
