"""Finding personalities, checking their options, and running a coffer's stack.

Personalities are found through the ``cofferos.personalities`` entry-point
group (built-ins included, see pyproject.toml). :func:`available` loads an entry
point only when its name is looked up, so one broken plugin fails only the runs
that ask for it (``coffersim personalities`` lists it as broken, with the
reason). :func:`parse_spec` turns ``NAME[:key=value,...]`` into an instance
with validated options, and :class:`PersonalityStack` applies the composition
rule of :mod:`cofferos.personalities.base` to one system call: it checks what
each hook returns, names the personality and hook of any failure
(:class:`~cofferos.personalities.base.PersonalityError`), and adds up the host
time spent in each hook (``host_ns``, keyed ``NAME.HOOK``).
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from time import perf_counter_ns
from typing import Any

from cofferos.errors import ConfigError
from cofferos.personalities.base import (
    NOT_HANDLED,
    KillTask,
    Personality,
    PersonalityError,
    SchedulingPolicy,
    SyscallContext,
)

GROUP = "cofferos.personalities"
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
POLICY_CHECKS = ("may_exec", "may_open", "may_connect")  #: the slots ``allows`` asks
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 40


# -- discovery ---------------------------------------------------------------------------
class Installed(Mapping[str, type[Personality]]):
    """The installed personalities by name, each entry point loaded when first looked up.

    Iterating gives names without loading anything; looking up a name that cannot
    be loaded, or that is no :class:`Personality` subclass, raises a
    :class:`PersonalityError` saying why.
    """

    def __init__(self, points: Iterable[EntryPoint]) -> None:
        self._points = {point.name: point for point in points}  # a later duplicate wins
        self._loaded: dict[str, type[Personality]] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._points))

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, name: object) -> bool:
        return name in self._points

    def __getitem__(self, name: str) -> type[Personality]:
        cls = self._loaded.get(name)
        if cls is None:
            cls = self._loaded[name] = _load(self._points[name])  # KeyError if not installed
        return cls

    def listing(self) -> list[tuple[str, type[Personality] | PersonalityError]]:
        """Every name with its class, or with the error that keeps it from loading."""
        rows: list[tuple[str, type[Personality] | PersonalityError]] = []
        for name in self:
            try:
                rows.append((name, self[name]))
            except PersonalityError as err:
                rows.append((name, err))
        return rows


def _load(point: EntryPoint) -> type[Personality]:
    try:
        cls = point.load()
    except Exception as err:  # noqa: BLE001 - a broken plugin is reported, not fatal
        raise PersonalityError(point.name, "load", f"cannot load entry point {point.value}: "
                               f"{type(err).__name__}: {err}", err) from None
    if not (isinstance(cls, type) and issubclass(cls, Personality)):
        what = f"class {cls.__name__}" if isinstance(cls, type) else type(cls).__name__
        raise PersonalityError(point.name, "load", f"entry point {point.value} is a {what}, "
                               "not a subclass of cofferos.personalities.base.Personality")
    return cls


def available() -> Installed:
    """Every installed personality by name (entry points load when looked up)."""
    return Installed(entry_points(group=GROUP))


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


def parse_spec(spec: str, known: Mapping[str, type[Personality]] | None = None) -> Personality:
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
    try:
        return cls(**options)
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - a bug in a plugin is one line, not a traceback
        raise PersonalityError(name, "__init__", f"__init__ raised {type(err).__name__}: "
                               f"{err}", err) from err


# -- one coffer's stack --------------------------------------------------------------------
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


Hook = tuple[int, Callable[..., Any], str]  #: (position in the stack, bound hook, NAME.HOOK)


class PersonalityStack:
    """One coffer's personalities, in order, applied per the composition rule.

    Every hook call is timed with :func:`time.perf_counter_ns` into ``host_ns``
    (``NAME.HOOK`` -> host nanoseconds), which lives as long as the stack, across
    live changes. A hook that raises, or returns what its contract forbids, raises
    :class:`PersonalityError` naming it (``KillTask`` passes through); the
    dispatcher contains it. ``contain`` is how a failure outside a system call
    (the scheduling slot) kills the task it was asked about.
    """

    def __init__(self, personalities: Sequence[Personality] = (),
                 host_ns: dict[str, int] | None = None) -> None:
        self.on_change: Callable[[PersonalityStack], None] | None = None
        self.contain: Callable[[Any, Exception], None] | None = None
        self.host_ns: dict[str, int] = {} if host_ns is None else host_ns
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
        self.personalities = list(personalities)
        self._entries = self._hooks("on_entry")
        self._handlers = self._hooks("handle", reverse=True)
        self._exits = self._hooks("on_exit", reverse=True)
        self._costs = self._hooks("cost")
        self._checks = {check: self._hooks(check) for check in POLICY_CHECKS}
        self._schedulers = self._hooks("scheduling", reverse=True)
        self._limits = self._hooks("memory_limit")
        self._mounts = self._hooks("mounts")
        if self.on_change is not None:
            self.on_change(self)

    def _call(self, key: str, hook: Callable[..., Any], *args: Any) -> Any:
        """One timed hook call; a failure becomes a PersonalityError naming the hook."""
        started = perf_counter_ns()
        try:
            answer = hook(*args)
        except KillTask:
            raise
        except Exception as err:  # noqa: BLE001 - contained by the caller, with its name
            raise _raised(key, err) from err
        self.host_ns[key] += perf_counter_ns() - started
        return answer

    # The per-call hooks below inline _call: they run on every system call.
    def enter(self, ctx: SyscallContext) -> tuple[int | None, int]:
        """Run on_entry hooks; (early result or None, how many personalities were entered)."""
        host = self.host_ns
        for index, hook, key in self._entries:
            started = perf_counter_ns()
            try:
                result = hook(ctx)
            except KillTask:
                raise
            except Exception as err:  # noqa: BLE001 - contained by the dispatcher
                raise _raised(key, err) from err
            host[key] += perf_counter_ns() - started
            if result is not None:
                return (result if type(result) is int else _result(key, result)), index + 1
        return None, len(self.personalities)

    def handle(self, ctx: SyscallContext) -> Any:
        host = self.host_ns
        for _, hook, key in self._handlers:
            started = perf_counter_ns()
            try:
                result = hook(ctx)
            except KillTask:
                raise
            except Exception as err:  # noqa: BLE001 - contained by the dispatcher
                raise _raised(key, err) from err
            host[key] += perf_counter_ns() - started
            if result is not NOT_HANDLED:
                return result if type(result) is int else _result(key, result)
        return NOT_HANDLED

    def exit(self, ctx: SyscallContext, result: int, ran: int) -> int:
        host = self.host_ns
        for index, hook, key in self._exits:
            if index < ran:
                started = perf_counter_ns()
                try:
                    result = hook(ctx, result)
                except KillTask:
                    raise
                except Exception as err:  # noqa: BLE001 - contained by the dispatcher
                    raise _raised(key, err) from err
                host[key] += perf_counter_ns() - started
                if type(result) is not int:
                    result = _result(key, result)
        return result

    def cost(self, ctx: SyscallContext, cycles: int) -> int:
        host = self.host_ns
        for _, hook, key in self._costs:
            started = perf_counter_ns()
            try:
                answer = hook(ctx, cycles)
            except KillTask:
                raise
            except Exception as err:  # noqa: BLE001 - contained by the dispatcher
                raise _raised(key, err) from err
            host[key] += perf_counter_ns() - started
            if type(answer) is not int:  # a float is rounded down, as before
                if not isinstance(answer, (int, float)) or isinstance(answer, bool):
                    raise _wrong(key, answer, "a number of cycles")
                answer = int(answer)
            cycles = max(0, answer)
        return cycles

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
