"""Start-up of ``coffersim run``, before and after a change, beside qemu-user (issue #17).

    .venv/bin/python -m benchmarks.startup_compare BASELINE [--rounds 7]

``BASELINE`` is a commit of this repository, extracted as ``benchmarks.sidebyside``
extracts it. Each round runs, alternately, ``coffersim run -- PROGRAM`` from the
baseline tree, from this checkout, and ``qemu-x86_64 PROGRAM`` (when installed), for
``@hello`` and a static ``true``; a figure is the child's CPU time (user + system),
median over the rounds. Each tree runs as ``python -m cofferos.cli`` from a folder
of links that lays its layers out as the installed package (``setup.py``'s
``LAYERS``), so each imports exactly what the installed command would, with
``.pyc`` files written and a first run to warm them; ``PYTHONDONTWRITEBYTECODE``
is cleared, as a user's shell would not set it (it adds about 0.19 s here). A
shared block-cost cache churned by other processes makes runs cost blocks again:
set ``COFFERSIM_CACHE`` to a folder of its own. Target: <= 0.25 s.
"""

from __future__ import annotations

import ast
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.sidebyside import (
    HERE,
    QEMU,
    alternate,
    baseline_tree,
    before_after,
    child_cpu_seconds,
    comparison_parser,
    print_table,
)

STATIC_TRUE = "int main(void) { return 0; }\n"


def _package(tree: Path, site: Path) -> Path:
    """``site``, holding ``tree``'s layers as the package ``cofferos`` (links)."""
    source = (tree / "setup.py").read_text()
    layers = next(ast.literal_eval(node.value) for node in ast.parse(source).body
                  if isinstance(node, ast.Assign)
                  and getattr(node.targets[0], "id", "") == "LAYERS")
    for name, folder in layers.items():
        place = site.joinpath(*name.split("."))
        place.mkdir(parents=True, exist_ok=True)
        for entry in (tree / folder).iterdir():
            if entry.name != "__pycache__" and not (place / entry.name).exists():
                (place / entry.name).symlink_to(entry)
    return site


def _cpu_seconds(command: list[str], site: Path | None = None) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    if site is not None:
        env["PYTHONPATH"] = str(site)  # searched before the installed (editable) package
    return child_cpu_seconds(command, stderr=subprocess.DEVNULL, env=env, cwd=site or "/")


def _programs(work: Path) -> dict[str, str]:
    from cofferos.workloads import build

    source, true = work / "true.c", work / "true"
    source.write_text(STATIC_TRUE)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(true), str(source)], check=True)
    return {"@hello": str(build("hello")), "static true": str(true)}


def main(argv: list[str] | None = None) -> None:
    options = comparison_parser(__doc__, rounds=7).parse_args(argv)
    with baseline_tree(options.baseline) as (work, baseline):
        programs = _programs(work)
        before, after = _package(baseline, work / "site-before"), _package(HERE, work / "site")
        cli = [sys.executable, "-m", "cofferos.cli", "run", "--"]
        runners = before_after(options.baseline, lambda p: _cpu_seconds([*cli, p], before),
                               lambda p: _cpu_seconds([*cli, p], after),
                               lambda p: _cpu_seconds([str(QEMU), p]))
        for run in runners.values():  # warm: .pyc files, hooks, block costs
            for program in programs.values():
                run(program)
        figures = alternate(options.rounds, programs, runners,
                            lambda case, run: run(programs[case]))
    print_table("start-up, CPU s", runners, (
        (case, [f"{statistics.median(figures[case, name]):.3f}" for name in runners])
        for case in programs))


if __name__ == "__main__":
    main()
