"""Call plans: per system call number, the hooks of a stack that concern that call.

A personality may declare, per call, which of its per-call hooks the call needs
(:meth:`~cofferos.personalities.base.Personality.hooks_for`); one that declares
nothing is asked for every call by every hook it overrides, as before the
declaration existed. :func:`declarations` asks each declaring personality once
per call number when a stack is built (or changed live) and checks the answers;
:func:`build_plans` turns the stack's hook lists into one :data:`Plan` per number,
``None`` where no hook concerns the call. The kernel sends a call whose plan is
None down its plain path, as if the coffer had no personality: a stack costs a
call only the hooks that concern it (``hardened`` and ``fastpath`` declare theirs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cofferos.coffers.syscalls.table import TABLE_SIZE, name_of
from cofferos.personalities.base import Personality, PersonalityError

#: The per-call hooks, in the order of a plan's lists.
PER_CALL = ("on_entry", "handle", "on_exit", "cost")
ALL = frozenset(PER_CALL)
Hook = tuple[int, Callable[..., Any], str]  #: (position in the stack, bound hook, NAME.HOOK)
#: The hooks a call goes through: (on_entry, handle, on_exit, cost), each in stack order
#: (handle and on_exit reversed, as the composition rule runs them), and whether the
#: call's cost can be kept from one call for the next (``foldable``: only cost hooks,
#: each of a personality that declares ``static_cost``, and no policy slot).
Plan = tuple[tuple[Hook, ...], tuple[Hook, ...], tuple[Hook, ...], tuple[Hook, ...], bool]
#: Per call number, the hooks a personality declared (None: it declares nothing).
Declared = list[frozenset[str]] | None
#: An empty stack's plans (a tuple: coffers share it, so it must not be mutable).
NO_PLANS: tuple[Plan | None, ...] = (None,) * TABLE_SIZE
#: The plan of a call that reaches no hook but must still run under the stack: a policy
#: slot (``may_open``...) the kernel asks inside a call may fail, and only the stack's
#: path contains that failure as the personality's (SIGSYS, the call not counted).
GUARDED: Plan = ((), (), (), (), False)


def _declared(personality: Personality, label: str,
              names: Sequence[str]) -> list[frozenset[str]]:
    """``personality.hooks_for`` asked for every call number, each answer checked."""
    answers: list[frozenset[str]] = []
    seen: dict[object, frozenset[str]] = {}  # interned: most calls share a few answers
    for nr, name in enumerate(names):
        try:
            answer = personality.hooks_for(name, nr)
        except Exception as err:  # noqa: BLE001 - a personality's failure, named
            raise PersonalityError(label, "hooks_for", f"hooks_for raised "
                                   f"{type(err).__name__}: {err}", err) from err
        if answer is None:
            answers.append(ALL)
            continue
        if isinstance(answer, (str, bytes)) or not all(
                hook in ALL for hook in _iterable(answer)):
            raise PersonalityError(label, "hooks_for", f"hooks_for({name!r}) returned "
                                   f"{answer!r}, not None or a collection of "
                                   f"{', '.join(PER_CALL)}")
        hooks = frozenset(answer)
        answers.append(seen.setdefault(hooks, hooks))
    return answers


def _iterable(answer: object) -> Sequence[object]:
    try:
        return list(answer)  # type: ignore[call-overload]
    except TypeError:
        return [answer]  # not iterable: reported as not a collection of hook names


#: Every call number's name as a hook's ``ctx.name`` gives it without a table.
CALL_NAMES = tuple(name_of(nr) for nr in range(TABLE_SIZE))


def call_names_of(entries: Sequence[Any]) -> Sequence[str]:
    """Per call number, the name hooks see for a kernel table's ``entries`` (an entry's
    own name, else :func:`name_of`'s): :data:`CALL_NAMES` itself unless some entry's
    name differs, as a call added in the reserved range does (a coffer is made with
    every table entry: building the list each time cost about 0.5 ms a coffer)."""
    names: Sequence[str] = CALL_NAMES
    for nr, entry in enumerate(entries):
        if entry is not None and entry.name != names[nr]:
            if names is CALL_NAMES:
                names = list(CALL_NAMES)
            names[nr] = entry.name  # type: ignore[index]
    return names


def declarations(personalities: Sequence[Personality], labels: Sequence[str],
                 names: Sequence[str] = CALL_NAMES) -> list[Declared]:
    """Per personality of a stack, its declared hooks per call number, asked with each
    number's name (``names``: as ``ctx.name`` gives it) (None where it does not override
    ``hooks_for``). PersonalityError names one that fails."""
    return [_declared(personality, label, names)
            if type(personality).hooks_for is not Personality.hooks_for else None
            for personality, label in zip(personalities, labels, strict=True)]


def plan_of(lists: Sequence[Sequence[Hook]], static: Sequence[bool],
            guarded: bool = False) -> Plan | None:
    """The plan of a call that goes through ``lists`` (if they are all empty: None, or
    :data:`GUARDED` when ``guarded``)."""
    entries, handlers, exits, costs = (tuple(hooks) for hooks in lists)
    if not (entries or handlers or exits or costs):
        return GUARDED if guarded else None
    # (Not under a policy slot: a kept cost sends the call down the plain path, which
    # cannot contain the slot's failure.)
    foldable = not (guarded or entries or handlers or exits) and all(
        static[i] for i, _, _ in costs)
    return entries, handlers, exits, costs, foldable


def build_plans(lists: Sequence[Sequence[Hook]], declared: Sequence[Declared],
                static: Sequence[bool], guarded: bool = False) -> Sequence[Plan | None]:
    """One plan per call number from the stack's four hook lists (in :data:`PER_CALL`
    order, possibly wrapped by an observer): a hook stays in a call's plan unless its
    personality declared that the call does not need it. None: no hook at all.
    ``static``: per personality, whether it declares ``static_cost``; ``guarded``: the
    stack has a policy slot that calls ask, so no call may go by (:data:`GUARDED`)."""
    if not any(lists):
        return [GUARDED] * TABLE_SIZE if guarded else NO_PLANS
    if all(d is None for d in declared):
        return [plan_of(lists, static, guarded)] * TABLE_SIZE
    plans: list[Plan | None] = []
    by_signature: dict[tuple[int, ...], Plan | None] = {}
    for nr in range(TABLE_SIZE):
        signature = tuple(id(d[nr]) if d is not None else 0 for d in declared)
        if signature not in by_signature:
            by_signature[signature] = plan_of(
                [[hook for hook in hooks if declared[hook[0]] is None
                  or kind in declared[hook[0]][nr]]  # type: ignore[index]
                 for kind, hooks in zip(PER_CALL, lists, strict=True)], static, guarded)
        plans.append(by_signature[signature])
    return plans


def undeclared(cls: type[Personality]) -> type[Personality]:
    """``cls`` as a plugin that declares nothing: every hook it overrides on every call
    (what its declarations save; the benchmark measures both forms, and the tests check
    that they give the same results)."""
    return type("Undeclared" + cls.__name__, (cls,),
                {"static_cost": False, "hooks_for": Personality.hooks_for})

