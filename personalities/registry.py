"""Finding personalities and turning specs into instances.

Personalities are found through the ``cofferos.personalities`` entry-point
group (built-ins included, see pyproject.toml). :func:`available` loads an entry
point only when its name is looked up, so one broken plugin fails only the runs
that ask for it (``coffersim personalities`` lists it as broken, with the
reason: :meth:`Installed.listing`); an entry point whose name is not its class's
``name`` is refused, naming both. :func:`parse_spec` turns
``NAME[:key=value,...]`` into an instance with validated options; a plugin that
cannot be loaded, is no :class:`~cofferos.personalities.base.Personality`, or
whose ``__init__`` fails is a :class:`~cofferos.personalities.base.PersonalityError`
(one line on the command line). The per-coffer stack is in
:mod:`cofferos.personalities.stack`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from cofferos.errors import ConfigError
from cofferos.personalities.base import Personality, PersonalityError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "cofferos.personalities"
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


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
    if cls.name != point.name:  # users type the entry point's name; logs show the class's
        raise PersonalityError(point.name, "load", f"entry point {point.name!r} "
                               f"({point.value}) is a class named {cls.name!r}: the two "
                               "must be the same")
    return cls


def available() -> Installed:
    """Every installed personality by name (entry points load when looked up)."""
    return Installed(entry_points(group=GROUP))


def entry_points(group: str) -> Iterable[EntryPoint]:
    """The installed entry points of ``group``. importlib.metadata is imported here,
    not at start-up: a run without personalities never needs it, and it costs
    about 25 ms (issue #17)."""
    from importlib.metadata import entry_points as installed

    return installed(group=group)


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
