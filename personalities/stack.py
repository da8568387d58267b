"""Finding personalities, checking their options, and running a coffer's stack.

Personalities are found through the ``cofferos.personalities`` entry-point
group (built-ins included, see pyproject.toml); :func:`parse_spec` turns
``NAME[:key=value,...]`` into an instance with validated options, and
:class:`PersonalityStack` applies the composition rule of
:mod:`cofferos.personalities.base` to one system call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from cofferos.errors import ConfigError
from cofferos.personalities.base import (
    NOT_HANDLED,
    Personality,
    SchedulingPolicy,
    SyscallContext,
)

GROUP = "cofferos.personalities"
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def available() -> dict[str, type[Personality]]:
    """Every installed personality by name (loading each entry point)."""
    found: dict[str, type[Personality]] = {}
    for point in entry_points(group=GROUP):
        try:
            cls = point.load()
        except Exception as err:  # noqa: BLE001 - a broken plugin is reported, not fatal
            raise ConfigError(f"personality {point.name!r} failed to load: {err}") from None
        found[point.name] = cls
    return dict(sorted(found.items()))


def _convert(name: str, key: str, raw: str, kind: type) -> Any:
    if kind is bool:
        if raw.lower() not in TRUE | FALSE:
            raise ConfigError(f"personality {name}: option {key} expects on/off, got {raw!r}")
        return raw.lower() in TRUE
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"personality {name}: option {key} expects {kind.__name__}, "
                          f"got {raw!r}") from None


def parse_spec(spec: str, known: dict[str, type[Personality]] | None = None) -> Personality:
    """``NAME[:key=value,...]`` -> a personality; ConfigError listing what exists."""
    known = known if known is not None else available()
    name, _, rest = spec.partition(":")
    cls = known.get(name)
    if cls is None:
        raise ConfigError(f"unknown personality {name!r}; installed: {', '.join(known)}")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"personality {name}: expected key=value, got {item!r}")
        option = cls.options.get(key)
        if option is None:
            valid = ", ".join(cls.options) or "none"
            raise ConfigError(f"personality {name}: unknown option {key!r}; options: {valid}")
        options[key] = _convert(name, key, raw, option.type)
    return cls(**options)


def _overrides(personality: Personality, hook: str) -> bool:
    return getattr(type(personality), hook) is not getattr(Personality, hook)


class PersonalityStack:
    """One coffer's personalities, in order, applied per the composition rule."""

    def __init__(self, personalities: Sequence[Personality] = ()) -> None:
        self.on_change: Callable[[PersonalityStack], None] | None = None
        self.replace(personalities)

    def __bool__(self) -> bool:
        return bool(self.personalities)

    def replace(self, personalities: Sequence[Personality]) -> None:
        """Live change: the next system call sees the new stack; kernel state is kept."""
        self.personalities = list(personalities)
        # Only hooks a personality overrides are called (the per-call path stays short).
        self._entries = [(i, p.on_entry) for i, p in enumerate(self.personalities)
                         if _overrides(p, "on_entry")]
        self._handlers = [p.handle for p in reversed(self.personalities)
                          if _overrides(p, "handle")]
        self._exits = [(i, p.on_exit) for i, p in reversed(list(enumerate(self.personalities)))
                       if _overrides(p, "on_exit")]
        self._costs = [p.cost for p in self.personalities if _overrides(p, "cost")]
        self._schedulers = [p for p in self.personalities if _overrides(p, "scheduling")]
        if self.on_change is not None:
            self.on_change(self)

    def enter(self, ctx: SyscallContext) -> tuple[int | None, int]:
        """Run on_entry hooks; (early result or None, how many personalities were entered)."""
        for index, hook in self._entries:
            result = hook(ctx)
            if result is not None:
                return result, index + 1
        return None, len(self.personalities)

    def handle(self, ctx: SyscallContext) -> Any:
        for hook in self._handlers:
            result = hook(ctx)
            if result is not NOT_HANDLED:
                return result
        return NOT_HANDLED

    def exit(self, ctx: SyscallContext, result: int, ran: int) -> int:
        for index, hook in self._exits:
            if index < ran:
                result = hook(ctx, result)
        return result

    def cost(self, ctx: SyscallContext, cycles: int) -> int:
        for hook in self._costs:
            cycles = max(0, int(hook(ctx, cycles)))
        return cycles

    def allows(self, check: str, *args: Any) -> bool:
        return all(getattr(p, check)(*args) for p in self.personalities)

    def scheduling(self, task: Any) -> SchedulingPolicy | None:
        """The scheduling policy for ``task``: the top-most answer wins."""
        for personality in reversed(self._schedulers):
            policy = personality.scheduling(task)
            if policy is not None:
                return policy
        return None

    def mounts(self) -> list[tuple[str, str]]:
        return [mount for p in self.personalities for mount in p.mounts()]

    def memory_limit(self) -> int | None:
        limits = [p.memory_limit() for p in self.personalities]
        answers = [limit for limit in limits if limit is not None]
        return min(answers) if answers else None
