"""Where in a TOML text a key is set: the line a spec error points at.

``tomllib`` parses to plain dictionaries and keeps no positions, so
:func:`key_line` reads the text itself: table headers (``[a.b]``, ``[[a.b]]``),
key assignments (bare, quoted and dotted keys) and inline tables, skipping the
lines inside multi-line arrays, inline tables and strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_BARE_KEY = r"[A-Za-z0-9_-]+"
_QUOTED_KEY = r""""(?:[^"\\]|\\.)*"|'[^']*'"""
_KEY = rf"(?:{_BARE_KEY}|{_QUOTED_KEY})"
_DOTTED_KEY = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED_KEY})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_DOTTED_KEY})\s*=")
_KEY_PART = re.compile(_KEY)
_OPENERS, _CLOSERS = "[{", "]}"
_MULTILINE_QUOTES = ('"""', "\'\'\'")


def _key_path(dotted: str) -> tuple[str, ...]:
    """``a."b c".d`` as ``("a", "b c", "d")``."""
    return tuple(part[1:-1] if part[0] in "\"'" else part
                 for part in _KEY_PART.findall(dotted))


def _statements(text: str) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """``(line, kind, path)`` for every table header (kind ``table``: ``[a.b]`` or
    ``[[a.b]]``) and key assignment (kind ``key``: the full dotted path, table included)
    of a TOML text; lines inside multi-line arrays, inline tables and strings are skipped."""
    table: tuple[str, ...] = ()
    depth, open_string = 0, ""
    for number, line in enumerate(text.splitlines(), start=1):
        rest = line
        if depth == 0 and not open_string:
            header, assign = _HEADER.match(line), _ASSIGN.match(line)
            if header:
                table = _key_path(header.group(1))
                yield number, "table", table
                continue
            if assign:
                yield number, "key", table + _key_path(assign.group(1))
                rest = line[assign.end():]
        depth, open_string = _scan_value(rest, depth, open_string)


def _scan_value(text: str, depth: int, open_string: str) -> tuple[int, str]:
    """Bracket depth and open multi-line string after ``text``, a line of a TOML value."""
    index = 0
    while index < len(text):
        if open_string:
            end = text.find(open_string, index)
            if end < 0:
                return depth, open_string
            index, open_string = end + len(open_string), ""
            continue
        char = text[index]
        triple = text[index:index + 3]
        if triple in _MULTILINE_QUOTES:
            open_string, index = triple, index + 3
        elif char in "\"'":
            index += 1
            while index < len(text) and text[index] != char:
                index += 2 if char == '"' and text[index] == "\\" else 1
            index += 1
        elif char == "#":
            break
        else:
            depth += (char in _OPENERS) - (char in _CLOSERS)
            index += 1
    return max(depth, 0), open_string


def key_line(text: str, section: str | None, key: str) -> int | None:
    """The 1-based line where ``key`` is set inside ``[section]`` (top level when None).

    A header ``[key]``, ``[[key]]`` or ``[key.sub]`` sets a top-level key; a dotted
    ``section.key = ...`` or an inline table ``section = {key = ...}`` sets a key of the
    section (the inline table's line). When the key is set nowhere (it is missing), the
    line of its section (``[section]`` or ``section = ...``); None when that is missing too.
    """
    wanted = (section, key) if section else (key,)
    nearest: tuple[int, int] | None = None  # (depth of the enclosing path, its line)
    for number, _kind, path in _statements(text):
        if path[:len(wanted)] == wanted:
            return number
        if wanted[:len(path)] == path and (nearest is None or len(path) > nearest[0]):
            nearest = (len(path), number)
    return nearest[1] if nearest else None
