"""The shared hardware: what one container's work does to another's through the machine.

Memory bandwidth and last-level cache are shared by all cores whatever the
kernel: a core's user-mode work slows down as more cores are busy. The model is
deliberately simple and applied identically to every kernel architecture, so a
difference between architectures comes from the kernel alone:

    user time = user cycles x (1 + contention x busy_other_cores / (cores - 1))

with ``contention`` the slowdown of a core when every other core is busy too
(E: 10%, a memory-bound share of ordinary code on a Skylake server socket).
"""

from __future__ import annotations

from dataclasses import dataclass

FULL_LOAD_SLOWDOWN = 0.10


@dataclass(frozen=True)
class SharedHardware:
    cores: int
    contention: float = FULL_LOAD_SLOWDOWN
    """Extra user time when every other core is busy (0: no interference)."""

    def slowdown(self, busy_cores: int) -> float:
        """Factor applied to user time with ``busy_cores`` cores busy (this one included)."""
        if self.cores <= 1:
            return 1.0
        others = max(busy_cores - 1, 0)
        return 1.0 + self.contention * others / (self.cores - 1)
