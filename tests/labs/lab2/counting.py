"""Lab 2's reference solution: count completed calls by name, and the failed ones."""

from __future__ import annotations

from collections import Counter

from cofferos.personalities.base import Personality, SyscallContext

ERRNO_MAX = 4095


class CallCounter(Personality):
    name = "callcount"
    description = "counts completed system calls by name, and failures"

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.by_name: Counter[str] = Counter()
        self.errors = 0

    def on_exit(self, ctx: SyscallContext, result: int) -> int:
        self.by_name[ctx.name] += 1
        if -ERRNO_MAX <= result <= -1:
            self.errors += 1
        return result

    def counters(self) -> dict[str, int | float]:
        published: dict[str, int | float] = {"calls": sum(self.by_name.values()),
                                             "errors": self.errors}
        published.update({f"calls.{name}": n for name, n in self.by_name.items()})
        return published
