"""The graders' common machinery: a student's work loaded and run, checks reported.

A lab's checks (``cofferos/labs/labN_*.py``) are functions of a :class:`Work`, the
student's directory: :meth:`Work.module` imports one of the student's Python files
by path under a name of its own (``coffersim_lab1_nproc``), so it can neither
shadow nor be shadowed by a module of the simulator; :meth:`Work.guest` builds one
C file with the workloads' toolchain (:func:`cofferos.workloads.build.build_source`).
Both are done once per grading, and a failure to load or build fails every check
that needs it with the same reason.

A check passes by returning a short note of what it saw, and fails by raising
:class:`CheckFailed` with why. Whatever else it raises (the student's code raising
inside a hook, a compile error) is a failed check too, reported by its last line
(:func:`last_line`), never a traceback. :func:`run_checks` runs a lab's checks in
order and :func:`format_report` prints one line per check and the score, in the
spirit of xv6's ``grade-lab-*``.

:func:`run_guest` is how a check (or a student trying their work from Python) runs
a program in a fresh coffer with given personalities or a given system call table.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from cofferos.coffers.coffer import Coffer, CofferConfig, RunResult
from cofferos.coffers.syscalls.table import SyscallTable

#: The skeletons the ``start`` command copies, one folder per lab.
SKELETONS = Path(__file__).resolve().parent / "skeletons"
#: Characters of a reason kept on a report line.
REASON_CHARS = 300
#: Bytes of a guest's output quoted in a failed check.
QUOTED_BYTES = 200
#: A lab guest is killed (SIGXCPU) past this many instructions or host seconds: a
#: student's filter that denies exit_group leaves glibc's _exit spinning, for one.
GUEST_INSTRUCTIONS = 20_000_000
GUEST_HOST_SECONDS = 10.0
#: The coffer a lab guest runs in, unless the check gives another.
GUEST_CONFIG = CofferConfig(instruction_limit=GUEST_INSTRUCTIONS,
                            max_host_seconds=GUEST_HOST_SECONDS)


class CheckFailed(Exception):
    """A check did not pass; the message says why, in one line."""


@dataclass(frozen=True)
class Outcome:
    """One check's result: its name, whether it passed, and what was seen or why not."""

    name: str
    passed: bool
    detail: str


Check = tuple[str, Callable[["Work"], str]]  #: (what the check asks, the check)


def last_line(err: BaseException, directory: Path | None = None) -> str:
    """An exception as one line: its type and message, and where in the student's
    ``directory`` it was raised (the innermost frame in a file there), if there."""
    text = traceback.format_exception_only(err)[-1].strip()
    if directory is not None:
        root = directory.resolve()
        theirs = [frame for frame in traceback.extract_tb(err.__traceback__)
                  if Path(frame.filename).resolve().parent == root]
        if theirs:
            text += f" (at {Path(theirs[-1].filename).name}:{theirs[-1].lineno})"
    return text


@dataclass
class Work:
    """The student's directory, with what the checks load or build from it, each once."""

    lab: int
    directory: Path
    _modules: dict[str, ModuleType | BaseException] = field(default_factory=dict)
    _guests: dict[str, Path | BaseException] = field(default_factory=dict)
    #: What one check measured that another reuses (a lab's own keys).
    memo: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        """A file of the student's directory; CheckFailed when it is not there."""
        found = self.directory / name
        if not found.is_file():
            raise CheckFailed(f"{name} is missing from {self.directory} "
                              f"(coffersim lab start {self.lab} DIR writes it)")
        return found

    def module(self, name: str) -> ModuleType:
        """The student's ``name`` (``nproc.py``) imported from its path, once."""
        if name not in self._modules:
            try:
                self._modules[name] = _import(self.path(name), f"coffersim_lab{self.lab}_"
                                                               f"{Path(name).stem}")
            except BaseException as err:  # noqa: BLE001 - the student's module failed
                if isinstance(err, KeyboardInterrupt):
                    raise
                self._modules[name] = err
        loaded = self._modules[name]
        if isinstance(loaded, BaseException):
            if isinstance(loaded, CheckFailed):
                raise loaded
            raise CheckFailed(f"{name} does not import: {last_line(loaded, self.directory)}")
        return loaded

    def attribute(self, module: str, name: str) -> Any:
        """``name`` from the student's ``module``; CheckFailed when it is not defined."""
        found = getattr(self.module(module), name, None)
        if found is None:
            raise CheckFailed(f"{module} defines no {name}")
        return found

    def guest(self, source: str | Path) -> Path:
        """The executable of a C file (the student's, by name, or a path), built once."""
        key = str(source)
        if key not in self._guests:
            from cofferos.workloads.build import build_source

            try:
                path = source if isinstance(source, Path) else self.path(source)
                self._guests[key] = build_source(path)
            except Exception as err:  # noqa: BLE001 - a compile error is the check's reason
                self._guests[key] = err
        built = self._guests[key]
        if isinstance(built, BaseException):
            if isinstance(built, CheckFailed):
                raise built
            lines = str(built).strip().splitlines()
            errors = [line for line in lines if "error" in line] or lines
            raise CheckFailed(f"{Path(key).name} does not build: {errors[0] if errors else ''}"
                              .strip())
        return built


def _import(path: Path, name: str) -> ModuleType:
    """Import the file at ``path`` as module ``name`` (fresh each time: a student edits
    and checks again in one process, the tests do)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CheckFailed(f"{path.name} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (dataclasses and pickling look the module up by name)
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in DIR
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        sys.dont_write_bytecode = writes
    return module


def run_guest(program: str | Path, args: Sequence[str] = (), *,
              personalities: Sequence[Any] = (), table: SyscallTable | None = None,
              config: CofferConfig | None = None, tracer: Any = None,
              ) -> tuple[RunResult, str]:
    """Run ``program`` in a fresh coffer with the given personality instances (in stack
    order) or system call table; return its result and what it printed (stdout and
    stderr, in order)."""
    out = io.BytesIO()
    coffer = Coffer(config or GUEST_CONFIG, stdin=io.BytesIO(), stdout=out, stderr=out,
                    table=table, tracer=tracer)
    if personalities:
        coffer.dispatcher.personalities.replace(list(personalities))
    coffer.spawn(str(program), [Path(program).name, *args], [])
    result = coffer.run()
    return result, out.getvalue().decode(errors="replace")


def oops_line(oops: str) -> str:
    """A kernel oops report (``RunResult.oopses``) as one line: what failed and the
    exception's last line, without the traceback between them."""
    lines = [line.strip() for line in oops.strip().splitlines() if line.strip()]
    if not lines:
        return "an oops"
    first = "" if lines[0].startswith("Traceback") else lines[0]
    last = lines[-1] if len(lines) > 1 else ""
    return "; ".join(part for part in (first.rstrip(":"), last) if part)


def no_oops(result: RunResult, what: str) -> None:
    """CheckFailed when the kernel model reported an oops (a handler or hook raised)."""
    if result.oopses:
        raise CheckFailed(f"{what}: the kernel reported {oops_line(result.oopses[-1])}")


def quoted(text: str) -> str:
    """A guest's output for a report line: one line, cut short."""
    flat = text.strip().replace("\n", " | ")
    return repr(flat if len(flat) <= QUOTED_BYTES else flat[:QUOTED_BYTES] + "...")


def expect_lines(output: str, expected: Iterable[str], what: str) -> None:
    """CheckFailed naming the first expected line the output lacks (in order)."""
    lines = output.splitlines()
    position = 0
    for line in expected:
        try:
            position = lines.index(line, position) + 1
        except ValueError:
            raise CheckFailed(f"{what}: expected the line {line!r}; the guest printed "
                              f"{quoted(output)}") from None


def run_checks(checks: Sequence[Check], work: Work) -> list[Outcome]:
    """Every check in order, each contained: a failure of one never stops the others."""
    outcomes = []
    for name, check in checks:
        try:
            detail = check(work)
            outcomes.append(Outcome(name, True, detail))
        except CheckFailed as failed:
            outcomes.append(Outcome(name, False, str(failed)))
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # noqa: BLE001 - the student's code, contained
            outcomes.append(Outcome(name, False, f"raised {last_line(err, work.directory)}"))
    return outcomes


def format_report(lab: int, title: str, outcomes: Sequence[Outcome]) -> str:
    """One line per check, ``PASS``/``FAIL`` with what was seen or why, then the score."""
    lines = [f"lab {lab}: {title}"]
    for outcome in outcomes:
        detail = " ".join(outcome.detail.split())
        if len(detail) > REASON_CHARS:
            detail = detail[:REASON_CHARS] + "..."
        lines.append(f"{'PASS' if outcome.passed else 'FAIL'}  {outcome.name}"
                     + (f": {detail}" if detail else ""))
    passed = sum(outcome.passed for outcome in outcomes)
    lines.append(f"score: {passed}/{len(outcomes)}")
    return "\n".join(lines)
