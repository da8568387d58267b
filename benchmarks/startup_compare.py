"""Start-up of ``coffersim run``, before and after a change, beside qemu-user (issue #17).

    .venv/bin/python -m benchmarks.startup_compare BASELINE [--rounds 7]

``BASELINE`` is a commit of this repository, extracted as ``benchmarks.trap_compare``
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

import argparse
import ast
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.trap_compare import HERE, QEMU, extract

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
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env, cwd=site or "/")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _programs(work: Path) -> dict[str, str]:
    from cofferos.workloads import build

    source, true = work / "true.c", work / "true"
    source.write_text(STATIC_TRUE)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(true), str(source)], check=True)
    return {"@hello": str(build("hello")), "static true": str(true)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", help="a commit to compare this checkout with")
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        baseline = extract(options.baseline, work / "baseline")
        programs = _programs(work)
        before, after = _package(baseline, work / "site-before"), _package(HERE, work / "site")
        cli = [sys.executable, "-m", "cofferos.cli", "run", "--"]
        runners = {f"before ({options.baseline})": lambda p: _cpu_seconds([*cli, p], before),
                   "after (this checkout)": lambda p: _cpu_seconds([*cli, p], after)}
        if QEMU:
            runners["qemu-user"] = lambda p: _cpu_seconds([str(QEMU), p])
        for run in runners.values():  # warm: .pyc files, hooks, block costs
            for program in programs.values():
                run(program)
        figures: dict[tuple[str, str], list[float]] = {}
        for _ in range(options.rounds):
            for case, program in programs.items():
                for name, run in runners.items():
                    figures.setdefault((case, name), []).append(run(program))
    print("| start-up, CPU s | " + " | ".join(runners) + " |")
    print("|---" * (len(runners) + 1) + "|")
    for case in programs:
        cells = [f"{statistics.median(figures[case, name]):.3f}" for name in runners]
        print(f"| {case} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
