"""Plain text tables for people: numbers rounded and right-aligned, long text wrapped.

Tables are for reading; JSON and CSV keep every digit. A float shows four
significant digits (whole numbers from 1,000 up, with separators); a table
wider than the terminal wraps its text columns (descriptions, option lists)
rather than letting every line fold (on a terminal only: piped, a row stays one
line for grep).

    >>> print(format_table(("kernel", "p50 us"), [("linux", 1.23456), ("vm", None)]))
    kernel  p50 us
    ------  ------
    linux    1.235
    vm           -
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence

MISSING = "-"  #: how a table shows a value that does not exist (no latency measured)
SIGNIFICANT_DIGITS = 4  #: of a float in a table
WHOLE_FROM = 1_000  #: floats at least this large show as whole numbers
GAP = "  "  #: between columns
MIN_WRAP_WIDTH = 12  #: a wrapped column is never made narrower than this


def _cell(value: object) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) >= WHOLE_FROM:
            return f"{value:,.0f}"
        return f"{value:.{SIGNIFICANT_DIGITS}g}"
    return str(value)


def number_text(value: float | int | None) -> str:
    """A number as a table shows it (``1,234``, ``1.235``, ``-`` for none)."""
    return _cell(value)


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def terminal_width() -> int | None:
    """Columns of the terminal stdout is (or COLUMNS, if set); None when stdout is a pipe
    or a file, where one line per row suits grep better than wrapping."""
    if "COLUMNS" not in os.environ:
        isatty = getattr(sys.stdout, "isatty", None)
        if not (isatty and isatty()):
            return None
    return shutil.get_terminal_size().columns


def _fit(widths: list[int], wrappable: list[bool], width: int) -> list[int]:
    """Narrow the widest wrappable columns until the table fits ``width`` (if it can)."""
    widths = list(widths)
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - width
    while excess > 0:
        candidates = [i for i, w in enumerate(widths) if wrappable[i] and w > MIN_WRAP_WIDTH]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                 width: int | None = None) -> str:
    """A plain text table, numbers right-aligned, for terminals and docs.

    None prints as ``-`` and does not stop a column of numbers being one. With
    ``width`` (a terminal's, see :func:`terminal_width`), text columns wrap so that
    lines fit in it where they can.
    """
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    numeric = [any(_numeric(r[i]) for r in rows)
               and all(_numeric(r[i]) or r[i] is None for r in rows)
               for i in range(len(headers))]
    if width is not None:
        widths = _fit(widths, [not n for n in numeric], width)

    def lines(values: Sequence[str]) -> list[str]:
        parts = [textwrap.wrap(v, w, break_on_hyphens=False) or [""] if len(v) > w else [v]
                 for v, w in zip(values, widths, strict=True)]
        out = []
        for k in range(max(len(p) for p in parts)):
            out.append(GAP.join(
                (p[k] if k < len(p) else "").rjust(w) if n else
                (p[k] if k < len(p) else "").ljust(w)
                for p, w, n in zip(parts, widths, numeric, strict=True)).rstrip())
        return out

    out = [*lines(headers), *lines(["-" * w for w in widths])]
    for r in cells:
        out += lines(r)
    return "\n".join(out)
