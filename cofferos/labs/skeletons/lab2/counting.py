"""Lab 2: a personality that counts a coffer's system calls and publishes the counts.

Fill in the TODOs; README.md says what each counter must hold.
``coffersim lab check 2 .`` grades this file.
"""

from __future__ import annotations

from cofferos.personalities.base import Personality, SyscallContext


class CallCounter(Personality):
    """Counts every system call that completes in its coffer, and the failed ones."""

    name = "callcount"
    description = "counts completed system calls by name, and failures"

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        # TODO: the state your counters need.

    def on_exit(self, ctx: SyscallContext, result: int) -> int:
        # TODO: count the call (ctx.name) and whether it failed.
        return result

    def counters(self) -> dict[str, int | float]:
        # TODO: publish "calls", "errors" and one "calls.NAME" per call name.
        return {}
