"""Watching a personality stack decide: who entered, served, denied or rewrote a call.

``--trace=verbose`` and the debugger show, for each system call, what each
personality did with it and what it charged. The stack's per-call loops
(:class:`~cofferos.personalities.stack.PersonalityStack`) call hooks from lists of
``(index, hook, key)``; :func:`observe` replaces each hook in those lists with a
wrapper that records its decision in an :class:`Observation` and returns the
hook's own answer, so the call runs exactly once and as it would unobserved.
Nothing is wrapped unless a tracer asks: the untraced stack is untouched.
The lists are rebuilt by a live change; :func:`observe` is cheap to call again
and rewraps only then.

:func:`consulted` answers the question before a call runs: which personalities
have a hook that this call would reach (its plan: :mod:`cofferos.personalities.plans`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cofferos.personalities.base import NOT_HANDLED, SyscallContext

if TYPE_CHECKING:
    from cofferos.personalities.stack import PersonalityStack

HOOK_LISTS = ("_entries", "_handlers", "_exits", "_costs")


@dataclass
class Observation:
    """What the stack's personalities did with one call, in the order they did it."""

    events: list[str] = field(default_factory=list)

    def take(self) -> list[str]:
        events, self.events = self.events, []
        return events


def _owner(key: str) -> str:
    return key.rsplit(".", 1)[0]


def _wrap(kind: str, key: str, hook: Callable[..., Any], seen: Observation) -> Callable[..., Any]:
    who = _owner(key)

    def on_entry(ctx: SyscallContext) -> Any:
        before = list(ctx.args)
        answer = hook(ctx)
        if answer is not None:
            seen.events.append(f"{who} denied ({answer})")
        elif ctx.args != before:
            changed = [f"arg{i}={hex(new)}" for i, (old, new)
                       in enumerate(zip(before, ctx.args, strict=False)) if old != new]
            seen.events.append(f"{who} rewrote {', '.join(changed)}")
        else:
            seen.events.append(f"{who} entered")
        return answer

    def handle(ctx: SyscallContext) -> Any:
        answer = hook(ctx)
        if answer is not NOT_HANDLED:
            seen.events.append(f"{who} served ({answer})")
        return answer

    def on_exit(ctx: SyscallContext, result: int) -> Any:
        answer = hook(ctx, result)
        if answer != result:
            seen.events.append(f"{who} rewrote the result {result} -> {answer}")
        return answer

    def cost(ctx: SyscallContext, cycles: int) -> Any:
        answer = hook(ctx, cycles)
        if isinstance(answer, int) and answer != cycles:
            seen.events.append(f"{who} charged {answer - cycles:+d} cycles")
        return answer

    wrapper = {"_entries": on_entry, "_handlers": handle, "_exits": on_exit, "_costs": cost}[kind]
    wrapper.observed = True  # type: ignore[attr-defined]
    return wrapper


def observe(stack: PersonalityStack) -> Observation:
    """Wrap the stack's per-call hooks (again, after a live change) to record into the
    stack's one :class:`Observation` (shared by every tracer that asks), and return it."""
    seen: Observation | None = getattr(stack, "observation", None)
    if seen is None:
        seen = Observation()
        stack.observation = seen  # type: ignore[attr-defined]
    wrapped = False
    for kind in HOOK_LISTS:
        hooks = getattr(stack, kind)
        if all(getattr(hook, "observed", False) for _, hook, _ in hooks):
            continue
        setattr(stack, kind, [(index, hook if getattr(hook, "observed", False)
                               else _wrap(kind, key, hook, seen), key)
                              for index, hook, key in hooks])
        wrapped = True
    if wrapped:  # the calls' plans hold the hooks: rebuilt from the wrapped lists
        stack.bind_plans()
    return seen


def consulted(stack: PersonalityStack, nr: int | None = None) -> list[str]:
    """Which personalities' hooks a call goes through, by hook, before it runs (a hook
    may still pass: on_entry returns None, handle NOT_HANDLED): call ``nr``'s plan,
    without the hooks its personalities declared it does not need (``hooks_for``), or
    every hook of the stack when ``nr`` is None."""
    plan = stack.plan(nr) if nr is not None else None
    lines = []
    for index, (kind, title) in enumerate(zip(HOOK_LISTS, ("on_entry", "handle", "on_exit",
                                                          "cost"), strict=True)):
        hooks = getattr(stack, kind) if nr is None else plan[index] if plan else ()
        names = [_owner(key) for _, _, key in hooks]
        if names:
            lines.append(f"{title}: {', '.join(names)}")
    return lines
