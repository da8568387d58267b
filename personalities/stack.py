"""A coffer's stack of personalities, run on each system call.

:class:`PersonalityStack` applies the composition rule of
:mod:`cofferos.personalities.base` to one system call: it checks what
each hook returns, names the personality and hook of any failure
(:class:`~cofferos.personalities.base.PersonalityError`), and adds up the host
time spent in each hook (``host_ns``, keyed ``NAME.HOOK``; per-call hooks on a
weighted sample of calls, see :data:`SAMPLE_MEAN`). Per call number, its
``plans`` say which hooks the call goes through (:mod:`cofferos.personalities.plans`):
the kernel runs the stack only for the calls a hook needs.
"""

from __future__ import annotations

import random
import reprlib
from collections.abc import Callable, Sequence
from time import perf_counter_ns
from typing import Any

from cofferos.coffers.fs import FsError
from cofferos.personalities.base import (
    NOT_HANDLED,
    KillTask,
    Personality,
    PersonalityError,
    SchedulingPolicy,
    SyscallContext,
)
from cofferos.personalities.plans import (
    CALL_NAMES,
    NO_PLANS,
    Declared,
    Hook,
    Plan,
    build_plans,
    declarations,
    plan_of,
)
from cofferos.personalities.registry import GROUP, Installed, available, parse_spec

__all__ = ["GROUP", "POLICY_CHECKS", "Installed", "PersonalityStack", "available", "parse_spec"]

POLICY_CHECKS = ("may_exec", "may_open", "may_connect")  #: the slots ``allows`` asks
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 40


def _overrides(personality: Personality, hook: str) -> bool:
    return getattr(type(personality), hook) is not getattr(Personality, hook)


def _label(personality: Personality) -> str:
    return personality.name or type(personality).__name__


def _raised(key: str, err: Exception) -> PersonalityError:
    name, _, hook = key.rpartition(".")
    return PersonalityError(name, hook, f"{hook} raised {type(err).__name__}: {err}", err)


def _wrong(key: str, value: object, expected: str) -> PersonalityError:
    name, _, hook = key.rpartition(".")
    return PersonalityError(name, hook, f"{hook} returned {type(value).__name__} "
                            f"{_short.repr(value)}, not {expected}")


def _result(key: str, value: object) -> int:
    """A hook's system call result: an int (an errno as ``-errno.EPERM``), never a bool."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _wrong(key, value, "an int (a result or -errno)")


def _cycles(key: str, value: object) -> int:
    """A cost hook's answer: a number of cycles (a float rounds down; below 0 is 0)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _wrong(key, value, "a number of cycles")
    return max(0, int(value))


def _counters(key: str, value: object) -> dict[str, int | float]:
    """A counters hook's answer: names (identifiers, or dotted ones such as ``calls.write``)
    to numbers (not bools), in name order."""
    if not isinstance(value, dict) or not all(
            isinstance(name, str) and all(part.isidentifier() for part in name.split("."))
            and isinstance(count, (int, float))
            and not isinstance(count, bool) for name, count in value.items()):
        raise _wrong(key, value, "a dict of counter names to numbers")
    return dict(sorted(value.items()))


#: The per-call hooks are timed on one system call in SAMPLE_MEAN on average (reading
#: the host clock costs about 150 ns here, 2 reads per hook: timing every call added
#: 18% to a getppid through three personalities; see docs/personalities.md). A timed
#: call counts for the calls up to the next one (its weight), so ``host_ns`` estimates
#: the whole run's time; the gaps vary (a fixed pseudo-random cycle, the same every
#: run) so that a workload's own period cannot hide a slow hook between samples.
SAMPLE_MEAN = 16


def _sample_gaps(count: int = 64, seed: int = 0) -> tuple[int, ...]:
    draw = random.Random(seed)
    return tuple(draw.randint(1, 2 * SAMPLE_MEAN - 1) for _ in range(count))


_GAPS = _sample_gaps()


class PersonalityStack:
    """One coffer's personalities, in order, applied per the composition rule.

    Host time in each hook goes to ``host_ns`` (``NAME.HOOK`` -> host nanoseconds,
    kept across live changes): policy slots are timed on every call, the per-call
    hooks on a weighted sample of system calls (:data:`SAMPLE_MEAN`). A hook that
    raises, or returns what its contract forbids, raises :class:`PersonalityError`
    naming it (``KillTask`` passes through); the dispatcher contains it.
    ``contain`` is how a failure outside a system call (the scheduling slot) kills
    the task it was asked about.
    """

    def __init__(self, personalities: Sequence[Personality] = (),
                 host_ns: dict[str, int] | None = None,
                 call_names: Sequence[str] = CALL_NAMES) -> None:
        self.on_change: Callable[[PersonalityStack], None] | None = None
        #: Told (by the kernel) whenever :attr:`plans` are rebuilt, before on_change.
        self.on_bind: Callable[[], None] | None = None
        #: Per call number, the hooks that concern it (None: none, the plain path).
        self.plans: Sequence[Plan | None] = NO_PLANS
        self._declared: list[Declared] = []
        self.call_names = call_names  #: per call number, its name as hooks see it
        self.contain: Callable[[Any, Exception], None] | None = None
        self.host_ns: dict[str, int] = {} if host_ns is None else host_ns
        self._countdown, self._gap = 1, 0  # the first call is timed
        self.weight = 0  #: how many calls the current call's timings stand for (0: untimed)
        self.replace(personalities)

    def __bool__(self) -> bool:
        return bool(self.personalities)

    def _hooks(self, hook: str, reverse: bool = False) -> list[Hook]:
        """The overriding hooks named ``hook`` (only those are called: the per-call
        path stays short), in stack order or reversed."""
        found: list[Hook] = []
        for index, personality in enumerate(self.personalities):
            if _overrides(personality, hook):
                key = f"{_label(personality)}.{hook}"
                self.host_ns.setdefault(key, 0)
                found.append((index, getattr(personality, hook), key))
        return found[::-1] if reverse else found

    def replace(self, personalities: Sequence[Personality]) -> None:
        """Live change: the next system call sees the new stack; kernel state is kept."""
        declared = declarations(personalities, [_label(p) for p in personalities],
                                self.call_names)
        self.personalities = list(personalities)
        self._declared = declared
        self._entries = self._hooks("on_entry")
        self._handlers = self._hooks("handle", reverse=True)
        self._exits = self._hooks("on_exit", reverse=True)
        self._costs = self._hooks("cost")
        self._checks = {check: self._hooks(check) for check in POLICY_CHECKS}
        self._schedulers = self._hooks("scheduling", reverse=True)
        self._limits = self._hooks("memory_limit")
        self._mounts = self._hooks("mounts")
        self.bind_plans()
        if self.on_change is not None:
            self.on_change(self)

    def bind_plans(self) -> None:
        """Rebuild :attr:`plans` from the hook lists (after a change, or an observer
        wrapped them) and tell the kernel."""
        self.plans = build_plans((self._entries, self._handlers, self._exits, self._costs),
                                 self._declared, [p.static_cost for p in self.personalities],
                                 self._guarded())
        if self.on_bind is not None:
            self.on_bind()

    def plan(self, nr: int) -> Plan | None:
        """The hooks call ``nr`` goes through (a number beyond the table: every hook)."""
        if nr < len(self.plans):
            return self.plans[nr]
        return plan_of((self._entries, self._handlers, self._exits, self._costs),
                       [p.static_cost for p in self.personalities], self._guarded())

    def _guarded(self) -> bool:
        """Whether a call may ask a policy slot of this stack (``allows``)."""
        return any(self._checks.values())

    def _call(self, key: str, hook: Callable[..., Any], *args: Any) -> Any:
        """One timed hook call; a failure becomes a PersonalityError naming the hook."""
        return self._weighted(1, key, hook, *args)

    def _timed(self, key: str, hook: Callable[..., Any], *args: Any) -> Any:
        """A per-call hook on a sampled call: its time counts for the calls not timed."""
        return self._weighted(self.weight, key, hook, *args)

    def _weighted(self, weight: int, key: str, hook: Callable[..., Any], *args: Any) -> Any:
        """``hook(*args)``, its host time times ``weight`` added to ``key``'s; a failure
        (but KillTask, a decision) becomes a PersonalityError naming the hook."""
        started = perf_counter_ns()
        try:
            answer = hook(*args)
        except KillTask:
            raise
        except Exception as err:  # noqa: BLE001 - contained by the dispatcher, with its name
            raise _raised(key, err) from err
        self.host_ns[key] += (perf_counter_ns() - started) * weight
        return answer

    # The per-call hooks. An untimed call (most of them) runs a loop that calls each
    # hook directly; a sampled call runs its twin through _timed. Every failure is
    # named either way (a try costs nothing until it raises).
    # Each takes the hooks of the call's plan (default: every hook the stack has).
    def enter(self, ctx: SyscallContext,
              hooks: Sequence[Hook] | None = None) -> tuple[int | None, int]:
        """Start a call (sampled or not); run on_entry hooks; (early result or None,
        how many personalities were entered)."""
        if hooks is None:
            hooks = self._entries
        self._countdown -= 1
        if not self._countdown:
            return self._enter_sampled(ctx, hooks)
        self.weight = 0
        for index, hook, key in hooks:
            try:
                result = hook(ctx)
            except KillTask:
                raise
            except FsError as err:  # a ctx helper's errno: the call's answer
                return -err.errno, index + 1
            except Exception as err:  # noqa: BLE001 - contained by the dispatcher
                raise _raised(key, err) from err
            if result is not None:
                return (result if type(result) is int else _result(key, result)), index + 1
        return None, len(self.personalities)

    def _enter_sampled(self, ctx: SyscallContext,
                       hooks: Sequence[Hook]) -> tuple[int | None, int]:
        self._gap = (self._gap + 1) % len(_GAPS)
        self._countdown = self.weight = _GAPS[self._gap]
        for index, hook, key in hooks:
            try:
                result = self._timed(key, hook, ctx)
            except PersonalityError as err:
                if not isinstance(err.cause, FsError):
                    raise
                return -err.cause.errno, index + 1
            if result is not None:
                return (result if type(result) is int else _result(key, result)), index + 1
        return None, len(self.personalities)

    def handle(self, ctx: SyscallContext, hooks: Sequence[Hook] | None = None) -> Any:
        if hooks is None:
            hooks = self._handlers
        if self.weight:
            return self._handle_sampled(ctx, hooks)
        for _, hook, key in hooks:
            try:
                result = hook(ctx)
            except KillTask:
                raise
            except FsError as err:  # a ctx helper's errno: the call's answer
                return -err.errno
            except Exception as err:  # noqa: BLE001 - contained by the dispatcher
                raise _raised(key, err) from err
            if result is not NOT_HANDLED:
                return result if type(result) is int else _result(key, result)
        return NOT_HANDLED

    def _handle_sampled(self, ctx: SyscallContext, hooks: Sequence[Hook]) -> Any:
        for _, hook, key in hooks:
            try:
                result = self._timed(key, hook, ctx)
            except PersonalityError as err:
                if not isinstance(err.cause, FsError):
                    raise
                return -err.cause.errno
            if result is not NOT_HANDLED:
                return result if type(result) is int else _result(key, result)
        return NOT_HANDLED

    def exit(self, ctx: SyscallContext, result: int, ran: int,
             hooks: Sequence[Hook] | None = None) -> int:
        sampled = self.weight
        for index, hook, key in self._exits if hooks is None else hooks:
            if index < ran:
                if sampled:
                    result = self._timed(key, hook, ctx, result)
                else:
                    try:
                        result = hook(ctx, result)
                    except KillTask:
                        raise
                    except Exception as err:  # noqa: BLE001 - contained by the dispatcher
                        raise _raised(key, err) from err
                if type(result) is not int:
                    result = _result(key, result)
        return result

    def cost(self, ctx: SyscallContext, cycles: int,
             hooks: Sequence[Hook] | None = None) -> int:
        if hooks is None:
            hooks = self._costs
        if self.weight:
            return self._cost_sampled(ctx, cycles, hooks)
        for _, hook, key in hooks:
            try:
                answer = hook(ctx, cycles)
            except KillTask:
                raise
            except Exception as err:  # noqa: BLE001 - contained by the dispatcher
                raise _raised(key, err) from err
            cycles = answer if type(answer) is int and answer >= 0 else _cycles(key, answer)
        return cycles

    def cost_once(self, ctx: SyscallContext, cycles: int, hooks: Sequence[Hook]) -> int:
        """``cost`` for a call whose answer stands for later calls of its number (static
        costs, see Personality.static_cost): the hooks run only now, each timed once."""
        for _, hook, key in hooks:
            answer = self._weighted(1, key, hook, ctx, cycles)
            cycles = answer if type(answer) is int and answer >= 0 else _cycles(key, answer)
        return cycles

    def _cost_sampled(self, ctx: SyscallContext, cycles: int, hooks: Sequence[Hook]) -> int:
        for _, hook, key in hooks:
            answer = self._timed(key, hook, ctx, cycles)
            cycles = answer if type(answer) is int and answer >= 0 else _cycles(key, answer)
        return cycles

    # -- published counters ------------------------------------------------------------------
    def published(self) -> list[tuple[str, Personality, dict[str, int | float] | PersonalityError]]:
        """Per personality, in stack order: its name (a second personality of one name is
        ``NAME#2``, then ``NAME#3`` ...), itself, and its :meth:`~Personality.counters`,
        or the PersonalityError saying why they are not usable (the hook raised, or
        answered anything but a dict of identifier names to numbers)."""
        rows: list[tuple[str, Personality, dict[str, int | float] | PersonalityError]] = []
        names: set[str] = set()
        for personality in self.personalities:
            label = _label(personality)
            name, seen = label, 1
            while name in names:
                seen += 1
                name = f"{label}#{seen}"
            names.add(name)
            key = f"{label}.counters"
            values: dict[str, int | float] | PersonalityError = {}
            if _overrides(personality, "counters"):
                try:  # read once a run (and on each read of /proc): not timed
                    values = _counters(key, personality.counters())
                except PersonalityError as err:
                    values = err
                except Exception as err:  # noqa: BLE001 - reported; the run's result stands
                    values = _raised(key, err)
            rows.append((name, personality, values))
        return rows

    def counters(self) -> tuple[dict[str, dict[str, int | float]], list[PersonalityError]]:
        """The counters of :meth:`published` by name, and the failures (left out)."""
        found: dict[str, dict[str, int | float]] = {}
        failed: list[PersonalityError] = []
        for name, _, values in self.published():
            if isinstance(values, PersonalityError):
                failed.append(values)
            else:
                found[name] = values
        return found, failed

    # -- policy slots (read where the kernel applies them) ---------------------------------
    def allows(self, check: str, *args: Any) -> bool:
        """Ask every personality's ``check`` slot; the first False denies."""
        for _, hook, key in self._checks[check]:
            answer = self._call(key, hook, *args)
            if type(answer) is not bool:
                raise _wrong(key, answer, "True or False")
            if not answer:
                return False
        return True

    def scheduling(self, task: Any) -> SchedulingPolicy | None:
        """The scheduling policy for ``task``: the top-most answer wins. Asked outside
        a system call, so a failure is contained here: ``task`` is killed (through
        ``contain``) and left to the scheduler's defaults."""
        try:
            for _, hook, key in self._schedulers:
                policy = self._call(key, hook, task)
                if policy is not None:
                    if not isinstance(policy, SchedulingPolicy):
                        raise _wrong(key, policy, "a SchedulingPolicy or None")
                    return policy
        except (PersonalityError, KillTask) as err:
            if self.contain is None:
                raise
            self.contain(task, err)
        return None

    def mounts(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for _, hook, key in self._mounts:
            answer = self._call(key, hook)
            if not isinstance(answer, (list, tuple)) or not all(
                    isinstance(pair, tuple) and len(pair) == 2
                    and all(isinstance(part, str) for part in pair) for pair in answer):
                raise _wrong(key, answer, "a list of (coffer path, host directory) pairs")
            found.extend(answer)
        return found

    def memory_limit(self) -> int | None:
        answers = []
        for _, hook, key in self._limits:
            limit = self._call(key, hook)
            if limit is not None:
                if not isinstance(limit, int) or isinstance(limit, bool):
                    raise _wrong(key, limit, "a number of bytes or None")
                answers.append(limit)
        return min(answers) if answers else None
