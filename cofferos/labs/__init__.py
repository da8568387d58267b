"""OS-course labs with graders: ``coffersim lab list``, ``start N DIR``, ``check N DIR``.

Each lab is a module here (``lab1_syscall`` ... ``lab5_locks``) holding its title, a
one-line summary, and its checks (functions of the student's directory, see
:mod:`cofferos.labs.grader`); its instructions and skeleton files are the folder
``skeletons/labN/``, which ``start`` copies into the student's directory. A lab's
reference solution lives in the tests (``tests/labs/``), never in the student's
tree: the grader passes on it and fails on the untouched skeleton.

    1  syscall   add a system call: a personality serves a new number, a table adds it
    2  counting  a counting personality that publishes its counters
    3  filter    a seccomp-like filter, and what it blocks
    4  channel   an information channel between containers on a shared kernel
    5  locks     a lock's placement or algorithm changed, seen in a scaling curve
"""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from cofferos.errors import ConfigError
from cofferos.labs.grader import SKELETONS, Outcome, Work, format_report, run_checks

__all__ = ["LABS", "Lab", "check", "lookup", "start"]


@dataclass(frozen=True)
class Lab:
    """One lab: its number, short name, title and the module holding its checks."""

    number: int
    name: str
    module: str

    def load(self) -> ModuleType:
        return importlib.import_module(f"cofferos.labs.{self.module}")

    @property
    def title(self) -> str:
        return str(self.load().TITLE)

    @property
    def summary(self) -> str:
        return str(self.load().SUMMARY)

    @property
    def skeleton(self) -> Path:
        return SKELETONS / f"lab{self.number}"


LABS: dict[int, Lab] = {lab.number: lab for lab in (
    Lab(1, "syscall", "lab1_syscall"),
    Lab(2, "counting", "lab2_counting"),
    Lab(3, "filter", "lab3_filter"),
    Lab(4, "channel", "lab4_channel"),
    Lab(5, "locks", "lab5_locks"),
)}


def lookup(number: int) -> Lab:
    """The lab numbered ``number``; ConfigError naming the valid ones."""
    try:
        return LABS[number]
    except KeyError:
        raise ConfigError(f"no lab {number}: choose {min(LABS)} to {max(LABS)} "
                          "(coffersim lab list)") from None


def start(number: int, directory: str | Path) -> list[Path]:
    """Write lab ``number``'s instructions (README.md) and skeleton into ``directory``,
    which must be new or empty; return the files written."""
    lab = lookup(number)
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{directory}: not a directory")
    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(f"{directory} is not empty: lab start writes a new lab into a new "
                          "or empty directory (your work there is left alone)")
    try:
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for source in sorted(lab.skeleton.iterdir()):
            if source.is_file():
                shutil.copyfile(source, target / source.name)
                written.append(target / source.name)
    except OSError as err:
        raise ConfigError(f"{directory}: {err.strerror or err}") from None
    return written


def check(number: int, directory: str | Path) -> tuple[str, list[Outcome]]:
    """Grade the work in ``directory`` for lab ``number``: the report and the outcomes."""
    lab = lookup(number)
    where = Path(directory)
    if not where.is_dir():
        raise ConfigError(f"{directory}: no such directory")
    module = lab.load()
    outcomes = run_checks(module.CHECKS, Work(number, where))
    return format_report(number, module.TITLE, outcomes), outcomes
