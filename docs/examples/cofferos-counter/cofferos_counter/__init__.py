"""``counter``: count a coffer's system calls, and let its guests ask for the count.

A third-party personality for cofferos-sim, installed through the
``cofferos.personalities`` entry-point group (see ``pyproject.toml`` here and
``docs/personalities.md`` in cofferos-sim). It shows three of the interface's
hooks:

- ``on_exit`` counts every completed call whose name is in ``only`` (all calls
  when ``only`` is empty). Names are joined by ``+`` or ``,``; in a
  ``NAME:key=value,...`` spec the comma separates options, so write
  ``counter:only=getppid+getpid``;
- ``cost`` charges ``audit_cost`` more cycles for each call it counted, as an
  auditing personality would;
- ``handle`` defines a new system call, number :data:`COUNT_CALL` (the first of
  the reserved range), that returns how many calls were counted so far in this
  coffer. The query itself is never counted. Without the personality the same
  number is ``-ENOSYS``, so a guest can tell whether its kernel counts.

One instance serves one coffer, so the count is the coffer's (every process in it).
"""

from __future__ import annotations

import re
from collections import Counter as Tally
from typing import Any

from cofferos.coffers.syscalls.numbers import SYSCALL_NAMES
from cofferos.errors import ConfigError
from cofferos.personalities.base import (
    NOT_HANDLED,
    RESERVED_FIRST,
    Option,
    Personality,
    SyscallContext,
)

__all__ = ["COUNT_CALL", "Counter"]

#: ``syscall(1000)``: the number of calls counted so far in the caller's coffer.
COUNT_CALL = RESERVED_FIRST


class Counter(Personality):
    name = "counter"
    description = (f"count system calls per name; syscall({COUNT_CALL}) returns the count; "
                   "optional audit cost")
    options = {
        "only": Option(str, "", "call names to count, joined by + or , (empty: every call)"),
        "audit_cost": Option(int, 0, "cycles added to each counted call"),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        names = {n.strip() for n in re.split(r"[+,]", str(self.config["only"])) if n.strip()}
        unknown = names - set(SYSCALL_NAMES.values())
        if unknown:
            raise ConfigError(f"counter: unknown system calls in only: {sorted(unknown)}")
        if int(self.config["audit_cost"]) < 0:
            raise ConfigError("counter: audit_cost must be >= 0")
        self.only: frozenset[str] = frozenset(names)
        self.counts: Tally[str] = Tally()  #: completed calls by name
        self._counted: SyscallContext | None = None  #: the call on_exit just counted

    @property
    def total(self) -> int:
        """Calls counted so far."""
        return sum(self.counts.values())

    def counters(self) -> dict[str, int | float]:
        """Published at the end of a run (``RunResult.personality_counters``, ``--stats``)
        and in the coffer's ``/proc/coffer/personalities``: the total and each name."""
        return {"total": self.total, **self.counts}

    def handle(self, ctx: SyscallContext) -> Any:
        return self.total if ctx.nr == COUNT_CALL else NOT_HANDLED

    def on_exit(self, ctx: SyscallContext, result: int) -> int:
        if ctx.nr != COUNT_CALL and (not self.only or ctx.name in self.only):
            self.counts[ctx.name] += 1
            self._counted = ctx
        return result

    def cost(self, ctx: SyscallContext, cycles: int) -> int:
        # cost runs after on_exit for the same call; only a counted call is charged.
        if self._counted is not ctx:
            return cycles
        self._counted = None
        return cycles + int(self.config["audit_cost"])
