"""docs/walkthrough.md quotes the code by file and line: each excerpt must still be there.

A quote is a caption line ``[PATH:A-B](../PATH#LA-LB)`` followed by a fenced
block (language ``py``, which the examples runner of :mod:`tests.docs_examples`
leaves alone): the block must be lines A to B of PATH, exactly. When an excerpt has
only moved, ``python -m tests.test_docs_walkthrough --fix`` rewrites its line
numbers; when the code itself changed, the walkthrough's text needs a look too.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ROOT / "docs" / "walkthrough.md"
FIX = "python -m tests.test_docs_walkthrough --fix"
QUOTE = re.compile(
    r"^\[(?P<path>[\w./-]+):(?P<first>\d+)-(?P<last>\d+)\]\((?P<link>[^)]*)\)\n\n"
    r"```py\n(?P<body>.*?)\n```$", re.MULTILINE | re.DOTALL)


@dataclass
class Quote:
    path: str
    first: int
    last: int
    link: str
    body: str
    start: int  #: where the caption starts in the walkthrough
    end: int  #: where the caption's link ends

    def caption(self, first: int, last: int) -> str:
        return f"[{self.path}:{first}-{last}](../{self.path}#L{first}-L{last})"


def quotes(text: str) -> list[Quote]:
    return [Quote(m["path"], int(m["first"]), int(m["last"]), m["link"], m["body"],
                  m.start(), m.start() + len(m.group(0).split("\n")[0]))
            for m in QUOTE.finditer(text)]


def find(lines: list[str], body: list[str]) -> list[int]:
    """The 1-based line numbers where ``body`` starts in ``lines``."""
    return [i + 1 for i in range(len(lines) - len(body) + 1) if lines[i:i + len(body)] == body]


def problem(quote: Quote) -> str | None:
    """What is wrong with one quote, with how to fix it; None when it matches."""
    source = ROOT / quote.path
    where = f"docs/walkthrough.md quotes {quote.path}:{quote.first}-{quote.last}"
    if not source.is_file():
        return f"{where}, but there is no such file: re-quote from where the code went"
    lines = source.read_text().split("\n")
    body = quote.body.split("\n")
    if quote.link != f"../{quote.path}#L{quote.first}-L{quote.last}":
        return f"{where} but links to {quote.link}: run `{FIX}`"
    if len(body) != quote.last - quote.first + 1:
        return f"{where} but shows {len(body)} lines: copy lines {quote.first}-{quote.last} again"
    if lines[quote.first - 1:quote.last] == body:
        return None
    moved = find(lines, body)
    if len(moved) == 1:
        return (f"{where}, but that code is now at lines {moved[0]}-{moved[0] + len(body) - 1}: "
                f"run `{FIX}`")
    return (f"{where}, but the code there changed: re-read the section around it, copy the "
            "current lines into the walkthrough and fix the caption's line numbers")


def fix(text: str) -> str:
    """``text`` with every quote that moved (unchanged, found once) re-numbered."""
    for quote in reversed(quotes(text)):
        lines = (ROOT / quote.path).read_text().split("\n") if (ROOT / quote.path).is_file() \
            else []
        moved = find(lines, quote.body.split("\n"))
        if len(moved) == 1:
            first = moved[0]
            last = first + len(quote.body.split("\n")) - 1
            text = text[:quote.start] + quote.caption(first, last) + text[quote.end:]
    return text


def test_the_walkthrough_quotes_code() -> None:
    found = quotes(WALKTHROUGH.read_text())
    assert len(found) >= 15
    assert {q.path for q in found} >= {"isa/cpu.py", "coffers/syscalls/dispatch.py",
                                       "coffers/syscalls/read_write.py", "sim/machine.py"}


def test_every_quote_matches_the_code() -> None:
    problems = [p for p in map(problem, quotes(WALKTHROUGH.read_text())) if p]
    assert not problems, "\n".join(problems)


def test_a_changed_or_moved_excerpt_is_reported_with_its_fix(tmp_path: Path) -> None:
    path = "coffers/syscalls/table.py"
    lines = (ROOT / path).read_text().split("\n")
    first = lines.index("def name_of(nr: int) -> str:") + 1
    body = "\n".join(lines[first - 1:first + 1])
    good = Quote(path, first, first + 1, f"../{path}#L{first}-L{first + 1}", body, 0, 0)
    assert problem(good) is None
    moved = Quote(path, first - 3, first - 2, f"../{path}#L{first - 3}-L{first - 2}", body, 0, 0)
    assert f"now at lines {first}-{first + 1}" in (problem(moved) or "")
    changed = Quote(path, first, first + 1, good.link, body + "  # edited", 0, 0)
    assert "the code there changed" in (problem(changed) or "")
    page = f"intro\n\n{moved.caption(first - 3, first - 2)}\n\n```py\n{body}\n```\n"
    assert fix(page) == f"intro\n\n{good.caption(first, first + 1)}\n\n```py\n{body}\n```\n"


def test_readme_links_the_walkthrough() -> None:
    assert "(docs/walkthrough.md)" in (ROOT / "README.md").read_text()


if __name__ == "__main__":
    if sys.argv[1:] != ["--fix"]:
        sys.exit(f"usage: {FIX}")
    WALKTHROUGH.write_text(fix(WALKTHROUGH.read_text()))
    remaining = [p for p in map(problem, quotes(WALKTHROUGH.read_text())) if p]
    print("\n".join(remaining) or "every quote matches")
    sys.exit(1 if remaining else 0)

