"""Every shell and Python example of README.md and docs/*.md runs, and shows what it prints.

The machinery and the markup a document may use (skip with a reason, a small
stand-in for a large command, output normalisation) are in :mod:`tests.docs_examples`.
One test per document: its examples share a temporary directory and a namespace, in
order, as a reader running them one after another would. A failure lists every
example that failed, by file and line, with what to change.

Slow: docs/timing.md (its full-size 12-point compare and calibrate: 76-86 s measured on
two cores shared with other runs) and README.md (53-70 s there); sweeps.md about 20 s,
the rest seconds. Run one document with ``-k timing.md``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.docs_examples import (
    DOCUMENTS,
    ROOT,
    contains_dedented,
    output_matches,
    parse_options,
    run_document,
    shell_commands,
)


def _git_status() -> str:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return ""
    return subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout


@pytest.mark.parametrize("document", DOCUMENTS)
def test_examples_run(document: str, tmp_path: Path) -> None:
    before = _git_status()
    report = run_document(document, tmp_path)
    assert not report.failures, (
        f"{len(report.failures)} example(s) of {document} failed (run "
        f"`python -m pytest tests/test_docs_examples.py -k '{document}'`):\n\n"
        + "\n\n".join(report.failures))
    assert _git_status() == before, "running the examples changed the checkout"


def test_every_runnable_block_runs_or_says_why_not() -> None:
    """No fenced sh, console or python block is silently ignored: the parsers find
    as many as a plain scan of the Markdown does."""
    from sybil import Document

    from tests.docs_examples import PARSERS

    for document in DOCUMENTS:
        text = (ROOT / document).read_text()
        fences = len(re.findall(r"^[ \t]*```(?:sh|console|python)[ \t]*$", text, re.MULTILINE))
        parsed = Document.parse(str(ROOT / document), *PARSERS)
        blocks = sum(1 for example in parsed if isinstance(example.region.parsed, str))
        assert blocks == fences, document


def test_output_normalisation() -> None:
    assert output_matches(["a 1", "...", "z"], ["a 1", "b", "c", "z"], numbers=False)
    assert output_matches(["took ... s"], ["took 0.25 s  "], numbers=False)
    assert not output_matches(["a 1"], ["a 2"], numbers=False)
    assert output_matches(["a 1,234.5 b"], ["a 9.1 b"], numbers=True)
    assert not output_matches(["a 1", "b"], ["a 1"], numbers=False)


def test_directive_options() -> None:
    options = parse_options('replace "--containers 1,8" "--containers 1" numbers -->')
    assert options.replacements == [("--containers 1,8", "--containers 1")] and options.numbers
    assert options.apply("x --containers 1,8 y", "here") == "x --containers 1 y"
    with pytest.raises(AssertionError, match="not in the block"):
        options.apply("nothing", "doc.md:3")
    with pytest.raises(ValueError, match="cannot read 'bogus'"):
        parse_options("bogus")


def test_an_excerpt_is_found_at_any_indentation() -> None:
    text = "class C:\n    def f(self):\n        return 1\n\n    def g(self):\n        pass\n"
    assert contains_dedented(text, "def f(self):\n    return 1\n")
    assert contains_dedented(text, "    def g(self):\n        pass")
    assert not contains_dedented(text, "def f(self):\n    return 2\n")


def test_shell_blocks_split_into_commands_and_their_output() -> None:
    console = "$ coffersim run \\\n      -- @hello\nhello\n$ coffersim workloads\n"
    commands = shell_commands(console, console=True)
    assert [(c.text, c.expected) for c in commands] == [
        ("coffersim run -- @hello", ["hello"]), ("coffersim workloads", [])]
    assert [c.text for c in shell_commands("# a comment\ncoffersim demo\n\n", console=False)] \
        == ["coffersim demo"]
