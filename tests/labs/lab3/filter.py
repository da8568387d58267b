"""Lab 3's reference solution: deny, kill, allow and read-only opens, counted."""

from __future__ import annotations

import errno
import os
import re
import signal
from collections import Counter
from typing import Any

from cofferos.coffers.syscalls.numbers import SYSCALL_NAMES
from cofferos.errors import ConfigError
from cofferos.personalities.base import KillTask, Option, Personality, SyscallContext

WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC
FLAGS_ARGUMENT = {"open": 1, "openat": 2}


def _names(option: str, text: str) -> frozenset[str]:
    names = frozenset(name for name in re.split(r"[+,]", text) if name)
    unknown = names - set(SYSCALL_NAMES.values())
    if unknown:
        raise ConfigError(f"filter: {option}: unknown system calls {sorted(unknown)}")
    return names


class Filter(Personality):
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
        self.deny = _names("deny", self.config["deny"])
        self.kill = _names("kill", self.config["kill"])
        self.allow = _names("allow", self.config["allow"])
        self.blocked: Counter[str] = Counter()

    def _writes(self, ctx: SyscallContext) -> bool:
        if ctx.name == "creat":
            return True
        index = FLAGS_ARGUMENT.get(ctx.name)
        return index is not None and bool(ctx.args[index] & WRITING)

    def on_entry(self, ctx: SyscallContext) -> int | None:
        if ctx.name in self.kill:
            self.blocked[ctx.name] += 1
            raise KillTask(signal.SIGSYS, f"filter: {ctx.name} kills")
        if (ctx.name in self.deny or (self.allow and ctx.name not in self.allow)
                or (self.config["readonly"] and self._writes(ctx))):
            self.blocked[ctx.name] += 1
            return -errno.EPERM
        return None

    def counters(self) -> dict[str, int | float]:
        published: dict[str, int | float] = {"blocked": sum(self.blocked.values())}
        published.update({f"blocked.{name}": n for name, n in self.blocked.items()})
        return published
