"""Lab 3: a seccomp-like filter personality, and what it blocks.

Fill in the TODOs; README.md gives the policy each option sets.
``coffersim lab check 3 .`` grades this file (and allow_hello.txt).
"""

from __future__ import annotations

from typing import Any

from cofferos.personalities.base import Option, Personality, SyscallContext


class Filter(Personality):
    """Denies calls by name (EPERM), kills on others (SIGSYS), can make opens read-only."""

    name = "filter"
    description = "seccomp-like filter: deny, kill, allow lists and read-only opens"
    options = {
        "deny": Option(str, "", "call names that fail with EPERM, joined by +"),
        "kill": Option(str, "", "call names that kill the process with SIGSYS, joined by +"),
        "allow": Option(str, "", "if not empty: only these calls are allowed (EPERM else)"),
        "readonly": Option(bool, False, "opens for writing fail with EPERM"),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # TODO: read self.config into sets of names; an unknown call name is a
        # ConfigError (cofferos.errors).

    def on_entry(self, ctx: SyscallContext) -> int | None:
        # TODO: the policy of README.md; None lets the call go on.
        return None

    def counters(self) -> dict[str, int | float]:
        # TODO: "blocked" and one "blocked.NAME" per call name blocked.
        return {}
