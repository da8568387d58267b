"""Before and after a change, side by side: what the ``benchmarks/*_compare.py`` scripts share.

Each script measures this checkout against ``BASELINE``, a commit of this
repository, on a shared machine where only figures taken in the same rounds are
comparable. This module holds their common parts: the command line (``BASELINE``,
``--rounds``), the baseline's tree extracted with ``git archive`` to a temporary
folder (:func:`baseline_tree`), the start of a child interpreter that imports a
tree's layers from its folders (:data:`LOAD_TREE`, :func:`python_child`), a
child's CPU time (:func:`child_cpu_seconds`; qemu-user's run, :func:`qemu_seconds`),
the runners in their fixed order (before, after, qemu-user when installed:
:func:`before_after`), the alternating rounds (:func:`alternate`: the load hits
every runner alike) and the Markdown table of the figures (:func:`print_table`).
What each script measures, and how it reads a child's output, stays in the script.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent.parent
QEMU = shutil.which("qemu-x86_64")

#: The start of a child's code: import the layers of the tree ``sys.argv[1]`` from its
#: folders (the layer mapping of ``setup.py``), so that it runs that tree's code.
LOAD_TREE = """
import ast, importlib.util, io, sys, time
from pathlib import Path
tree = Path(sys.argv[1])
source = (tree / "setup.py").read_text()
layers = next(ast.literal_eval(node.value) for node in ast.parse(source).body
              if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LAYERS")
specs = []
for name, folder in layers.items():
    spec = importlib.util.spec_from_file_location(
        name, tree / folder / "__init__.py", submodule_search_locations=[str(tree / folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    specs.append((spec, module))
for spec, module in specs:
    spec.loader.exec_module(module)
"""

Case = TypeVar("Case")
Runner = TypeVar("Runner")
Figure = TypeVar("Figure")


def comparison_parser(doc: str, rounds: int) -> argparse.ArgumentParser:
    """The command line every script starts from: ``BASELINE [--rounds N]`` (``doc``:
    the script's docstring, whose first paragraph describes it)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("baseline", help="a commit to compare this checkout with")
    parser.add_argument("--rounds", type=int, default=rounds)
    return parser


def extract(commit: str, where: Path) -> Path:
    """The tree of ``commit`` of this checkout, unpacked at ``where`` (git archive)."""
    where.mkdir()
    archive = subprocess.run(["git", "-C", str(HERE), "archive", commit],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


@contextmanager
def baseline_tree(commit: str) -> Iterator[tuple[Path, Path]]:
    """A temporary work folder and, in it, the tree of ``commit``; both go at the end."""
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        yield work, extract(commit, work / "baseline")


def python_child(code: str, tree: Path, arguments: Iterable[str]) -> str:
    """What ``code`` (starting with :data:`LOAD_TREE`) prints, run in a child interpreter
    for ``tree`` with ``arguments``."""
    return subprocess.run([sys.executable, "-c", code, str(tree), *arguments],
                          check=True, capture_output=True, text=True).stdout


def child_cpu_seconds(command: list[str], **options: Any) -> float:
    """The CPU time (user + system) of running ``command`` to its end, its output
    dropped (``options``: more of :func:`subprocess.run`'s, such as ``env``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **options)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def qemu_seconds(command: list[str]) -> float:
    """qemu-user's CPU time to run the guest ``command`` (a program and its arguments)."""
    return child_cpu_seconds([str(QEMU), *command])


def before_after(commit: str, before: Runner, after: Runner,
                 qemu: Runner | None = None) -> dict[str, Runner]:
    """The runners by the names the tables head their columns with: the baseline's, this
    checkout's, and ``qemu`` when given and qemu-user is installed."""
    runners = {f"before ({commit})": before, "after (this checkout)": after}
    if QEMU and qemu is not None:
        runners["qemu-user"] = qemu
    return runners


def alternate(rounds: int, cases: Iterable[Case], runners: dict[str, Runner],
              measure: Callable[[Case, Runner], Figure]) -> dict[tuple[Case, str], list[Figure]]:
    """``measure(case, runner)`` for every case and runner, ``rounds`` times over, in
    that order: each round takes every runner in turn, so a change in the machine's load
    hits them alike. The figures by (case, runner name), one per round."""
    cases = list(cases)
    figures: dict[tuple[Case, str], list[Figure]] = {}
    for _ in range(rounds):
        for case in cases:
            for name, runner in runners.items():
                figures.setdefault((case, name), []).append(measure(case, runner))
    return figures


def print_table(corner: str, columns: Iterable[str], rows: Iterable[tuple[str, list[str]]]) -> None:
    """A Markdown table: ``corner`` heads the first column, ``columns`` the others; each
    row is its label and its cells."""
    columns = list(columns)
    print(f"| {corner} | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for label, cells in rows:
        print(f"| {label} | " + " | ".join(cells) + " |")
