"""Running the examples of README.md and docs/*.md: sybil finds them, this module runs them.

sybil (https://sybil.readthedocs.io) parses each Markdown file into its fenced code
blocks and HTML-comment directives; :func:`run_document` evaluates them in order, in
one temporary directory per document, and collects every failure with its file and
line. What the documents may say, in HTML comments (invisible when rendered, visible
in the source):

``<!-- skip: next "why" -->``
    sybil's own directive: the next block does not run, and the test report gives
    the reason (installation with apt or pip, docker, a Dask cluster, placeholders
    for the reader's own program, synopses).
``<!-- docs-test: replace "OLD" "NEW" [replace ...] [numbers] -->``
    the next block runs with each OLD replaced by NEW: the small stand-in for a large
    command (the same command with smaller numbers) or a concrete value for a
    placeholder. ``numbers`` compares the output shown with every number masked
    and runs of blanks made one (for host times, and for figures the small stand-in
    changes); text after it on the line is the reason, for the reader.
``<!-- docs-test: requires /bin/busybox -->``
    the next block needs that host file (busybox-static, as the tests that compare
    with busybox do): skipped, saying so, where it is missing.
``<!-- docs-test: excerpt PATH -->``
    the next block is part of a file of the checkout (a method of the example
    personality, say), which another test runs: it must appear in PATH verbatim.

Blocks:

- ``sh``: every command (backslash continuations joined) runs with bash; it must
  succeed. ``console``: commands start with ``$ ``; the lines after one are its
  output (stdout and stderr together), compared after normalisation: trailing
  blanks are ignored, a line ``...`` stands for any lines, ``...`` inside a line
  for any text. Output that starts with ``coffersim: error:`` expects exit status 2,
  any other exit status 0.
  Only ``coffersim`` and ``python`` commands run (``coffersim`` is this checkout's CLI,
  ``python`` this interpreter); a block with any other command must be skipped.
  Commands run in the document's temporary directory with a fresh ``HOME``, where
  ``workloads`` and ``docs`` are links to the checkout's (for the paths the documents
  use); the built workloads' cache is shared with the rest of the tests.
- ``python``: executed in one namespace per document (a later block sees what an
  earlier one defined), with the temporary directory as the working directory.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import SkipTest

from sybil import Document, Example, Region
from sybil.parsers.markdown import CodeBlockParser, SkipParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer

from cofferos.workloads.build import CACHE_ENV, cache_dir
from tests.docs_fixtures import FIXTURES

ROOT = Path(__file__).resolve().parents[1]
#: The documents whose examples run.
DOCUMENTS = ("README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")))
#: Programs a shell example may run; anything else must be marked skip.
RUNNABLE = ("coffersim", "python", "python3")
#: Host time one documented command may take before the test gives up on it.
COMMAND_TIMEOUT_S = 600
#: The exit status of a command-line error (cofferos/errors.py).
USAGE_ERROR_STATUS = 2
ERROR_PREFIX = "coffersim: error:"
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?")
_CONTINUATION = re.compile(r"[ \t]*\\\n\s*")
_NEXT_OPTIONS = "__docs_test_next__"


@dataclass
class Options:
    """What a ``docs-test`` directive says about the next block."""

    replacements: list[tuple[str, str]] = field(default_factory=list)
    numbers: bool = False
    excerpt: str = ""  #: the block is checked to be this file's text, not run
    requires: list[str] = field(default_factory=list)  #: host files the block needs

    def apply(self, text: str, where: str) -> str:
        for old, new in self.replacements:
            if old not in text:
                raise AssertionError(f"{where}: docs-test replace {old!r}: not in the block")
            text = text.replace(old, new)
        return text


def parse_options(arguments: str) -> Options:
    arguments = arguments.strip().removesuffix("-->").strip()
    words = shlex.split(arguments)
    options = Options()
    while words:
        word = words.pop(0)
        if word == "replace" and len(words) >= 2:
            options.replacements.append((words.pop(0), words.pop(0)))
        elif word == "numbers":
            options.numbers = True
            break  # the rest of the line says why
        elif word == "excerpt" and words:
            options.excerpt = words.pop(0)
        elif word == "requires" and words:
            options.requires.append(words.pop(0))
        else:
            raise ValueError(f"docs-test: cannot read {word!r} in {arguments!r} "
                             "(replace \"OLD\" \"NEW\" | numbers | excerpt PATH | requires PATH)")
    return options


def _take_options(example: Example) -> Options:
    options = example.namespace.pop(_NEXT_OPTIONS, None) or Options()
    missing = [path for path in options.requires if not Path(path).exists()]
    if missing:
        raise SkipTest(f"needs {', '.join(missing)} (apt-get install busybox-static)")
    return options


def contains_dedented(text: str, excerpt: str) -> bool:
    """Whether ``excerpt`` (dedented, as sybil gives a block) is a run of ``text``'s lines
    at some indentation."""
    want = textwrap.dedent(excerpt).rstrip("\n").split("\n")
    lines = text.split("\n")
    return any(textwrap.dedent("\n".join(lines[i:i + len(want)])).split("\n") == want
               for i in range(len(lines) - len(want) + 1))


def _excerpt_problem(options: Options, source: str, where: str) -> str | None:
    path = ROOT / options.excerpt
    if not path.is_file():
        return f"{where}: docs-test excerpt {options.excerpt}: no such file"
    if not contains_dedented(path.read_text(), source):
        return (f"{where}: this block is no longer part of {options.excerpt}: copy the "
                "current code into the document")
    return None


def _where(example: Example) -> str:
    return f"{Path(example.path).relative_to(ROOT)}:{example.line}"


# --- shell ------------------------------------------------------------------------------

@dataclass
class Command:
    text: str
    expected: list[str] | None  # the output shown, for console blocks


def shell_commands(source: str, console: bool) -> list[Command]:
    """The commands of a block, continuations joined, with the output shown after each."""
    source = _CONTINUATION.sub(" ", source)
    commands: list[Command] = []
    for line in source.splitlines():
        if console and line.startswith("$ "):
            commands.append(Command(line[2:].strip(), []))
        elif console:
            if not commands:
                raise ValueError(f"console block output before any '$ ' command: {line!r}")
            assert commands[-1].expected is not None
            commands[-1].expected.append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            commands.append(Command(line.strip(), None))
    return commands


def _program(command: str) -> str:
    return shlex.split(command, comments=True)[0] if command else ""


def output_matches(expected: list[str], actual: list[str], numbers: bool) -> bool:
    """Whether ``actual`` is what ``expected`` shows, as the module docstring says."""
    def norm(line: str) -> str:
        line = line.rstrip()
        return " ".join(_NUMBER.sub("N", line).split()) if numbers else line

    pattern = []
    for line in expected:
        line = norm(line)
        if line == "...":
            pattern.append(r"(?:.*\n)*?")
        else:
            pieces = [re.escape(piece) for piece in line.split("...")]
            pattern.append(".*".join(pieces) + r"[ \t]*\n")
    text = "".join(norm(line) + "\n" for line in actual)
    while text.endswith("\n\n"):
        text = text[:-1]
    return re.fullmatch("".join(pattern), text) is not None


@dataclass
class Workspace:
    """A document's temporary directory and the environment its commands run in."""

    path: Path

    def __post_init__(self) -> None:
        (self.path / "home").mkdir(parents=True, exist_ok=True)
        bin_dir = self.path / ".docs-bin"
        bin_dir.mkdir(exist_ok=True)
        shim = bin_dir / "coffersim"
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m cofferos "$@"\n')
        shim.chmod(0o755)
        for name in ("python", "python3"):
            if not (bin_dir / name).exists():
                (bin_dir / name).symlink_to(sys.executable)
        for name in ("workloads",):
            if not (self.path / name).exists():
                (self.path / name).symlink_to(ROOT / name)
        self.env = {**os.environ, "HOME": str(self.path / "home"),
                    CACHE_ENV: str(cache_dir()),
                    "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                    "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
        self.env.pop("PYTEST_CURRENT_TEST", None)

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", command], cwd=self.path, env=self.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT_S, check=False)


class ShellBlockParser(CodeBlockParser):
    def __init__(self, language: str) -> None:
        super().__init__(language)

    def evaluate(self, example: Example) -> str | None:
        options = _take_options(example)
        where = _where(example)
        if options.excerpt:
            return _excerpt_problem(options, str(example.parsed), where)
        source = options.apply(str(example.parsed), where)
        workspace: Workspace = example.namespace["__workspace__"]
        problems = []
        for command in shell_commands(source, console=self.language == "console"):
            program = _program(command.text)
            if program not in RUNNABLE:
                problems.append(f"{where}: `{command.text}` runs {program!r}, which the docs "
                                "tests do not run: mark the block <!-- skip: next \"why\" -->")
                continue
            done = workspace.run(command.text)
            lines = done.stdout.splitlines()
            expected = command.expected
            want = (USAGE_ERROR_STATUS if expected and expected[0].startswith(ERROR_PREFIX)
                    else 0)
            if done.returncode != want:
                problems.append(f"{where}: `{command.text}` exited {done.returncode}, not {want}:"
                                f"\n{_tail(done.stdout)}")
            elif expected and not output_matches(expected, lines, options.numbers):
                problems.append(f"{where}: `{command.text}` printed\n{_tail(done.stdout)}\n"
                                "but the document shows\n" + "\n".join(expected) +
                                "\n(fix the document if the program is right)")
        return "\n\n".join(problems) or None


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --- python -----------------------------------------------------------------------------

class PythonBlockParser(CodeBlockParser):
    def __init__(self) -> None:
        super().__init__("python")

    def evaluate(self, example: Example) -> str | None:
        options = _take_options(example)
        if options.excerpt:
            return _excerpt_problem(options, str(example.parsed), _where(example))
        source = options.apply(str(example.parsed), _where(example))
        code = compile("\n" * example.line + source, example.path, "exec")
        exec(code, example.namespace)  # noqa: S102 - the document's own example
        return None


# --- directives ---------------------------------------------------------------------------

class DocsTestParser:
    """``<!-- docs-test: ... -->``: options for the next block."""

    def __init__(self) -> None:
        self.lexer = DirectiveInHTMLCommentLexer("docs-test", arguments=r"[^\n]*?")

    def __call__(self, document: Document) -> Any:
        for lexed in self.lexer(document):
            options = parse_options(lexed.lexemes["arguments"])
            yield Region(lexed.start, lexed.end, options, self.evaluate)

    @staticmethod
    def evaluate(example: Example) -> None:
        example.namespace[_NEXT_OPTIONS] = example.parsed


PARSERS = (SkipParser(), DocsTestParser(), ShellBlockParser("sh"),
           ShellBlockParser("console"), PythonBlockParser())


@dataclass
class Report:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def run_document(relative: str, workdir: Path) -> Report:
    """Evaluate every example of ``relative`` (under the checkout) in ``workdir``."""
    document = Document.parse(str(ROOT / relative), *PARSERS)
    paths = FIXTURES[relative](workdir) if relative in FIXTURES else []
    workspace = Workspace(workdir)
    workspace.env["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT)])
    document.namespace["__workspace__"] = workspace
    document.namespace["__name__"] = "docs_example"
    report = Report()
    cwd = Path.cwd()
    os.chdir(workdir)
    sys.path[:0] = paths
    try:
        for example in document:
            is_block = isinstance(example.region.parsed, str)
            where = _where(example)
            try:
                example.evaluate()
            except SkipTest as skip:
                report.skipped.append(f"{where}: {skip}")
            except Exception as error:  # noqa: BLE001 - every failure is reported
                detail = getattr(error, "result", None) or "".join(
                    traceback.format_exception(error)[-6:])
                report.failures.append(f"{where}:\n{detail}")
            else:
                if is_block:
                    report.ran.append(where)
    finally:
        os.chdir(cwd)
        for path in paths:
            sys.path.remove(path)
        for name in [name for name in sys.modules if name.split(".")[0] == "cofferos_counter"]:
            del sys.modules[name]
        importlib.invalidate_caches()
    return report
