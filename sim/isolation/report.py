"""``coffersim experiment report``: every isolation experiment, and docs/isolation.md.

Runs each experiment of :data:`cofferos.sim.isolation.EXPERIMENTS` in its
default configuration, saves its results under ``OUT/NAME`` (table, manifest,
figure), copies each figure to ``docs/figures/isolation-NAME.png`` and writes
the Markdown page: per experiment, what it measures (its ``DOC``), the command,
the table, the finding and the figure. The page is generated, so what it says
is what the code measured; the ``tradeoff`` section also shows how each score
moved against the page it replaces (:func:`score_changes`). :func:`read_tables`
reads the page's tables back (tests/test_docs_isolation.py reruns some of their
rows and fails when they have drifted). The sections ``coffersim sensitivity
--docs`` writes are kept as they were.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cofferos.results.outputs import is_stream, make_directory, write_bytes, write_text
from cofferos.sim.isolation import EXPERIMENTS, experiment, run_experiment
from cofferos.sim.isolation.common import DEFAULT_CONTAINERS, DEFAULT_CORES, ExperimentParams, save

FIGURES = Path("figures")
SIGNIFICANT = 4  #: digits kept for floats in the Markdown tables
SECTION = re.compile(r"^## (\S+)\s*$", re.MULTILINE)
CELL_SPLIT = re.compile(r"(?<!\\)\|")  #: a cell border: a pipe not escaped by _cell
#: The drift test's tolerance (tests/test_docs_isolation.py), stated on the page.
DRIFT_RELATIVE = 0.02

HEADER = """\
# Isolation experiments

What one container can do to the others, measured under each kernel architecture
(`linux`: one shared kernel; `cofferos`: one Coffer per container; `vm`: a guest kernel
per container; `sandbox`: a user-space kernel per container). No outcome is decided per
architecture: each follows from where that architecture keeps kernel state, the
*kernel domains* of `coffers/domain.py` and the lock placement of `sim/kernel_locks.py`.

This page is generated: `coffersim experiment report` runs every experiment in its
default configuration ({containers} containers on {cores} cores unless an experiment
says otherwise, seed {seed}), writes
each one's table, manifest and figure under `{out}/NAME/`, and rewrites this file.
One experiment alone: `coffersim experiment NAME [--kernels K,K] [--containers N]
[--personality STACK] [--set KEY=VALUE] [--cost NAME=VALUE] [--repeats N] [--out DIR]
[--json]` (it writes `results/runs/NAME/`, git-ignored, unless `--out` says otherwise;
`--repeats N` shows means with 95% confidence intervals over seeds S..S+N-1). The
sections *Sensitivity: NAME* at the end are written by `coffersim sensitivity NAME
--docs docs/isolation.md`, and kept as they are when this page is rewritten.

The page cannot drift from the code unnoticed: `tests/test_docs_isolation.py` reruns
some rows of each table at this size (for `tradeoff`: its throughput, and its scores
from the other tables) and fails when a number has moved by more than
{drift:.0%} or any other cell differs.
"""


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{SIGNIFICANT}g}"
    return str(value).replace("|", "\\|")


def markdown_table(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out: Path, docs: Path, command: Sequence[str],
                 params: ExperimentParams | None = None,
                 names: Sequence[str] | None = None) -> None:
    """Run the experiments (all by default) and write their results and the page."""
    params = params or ExperimentParams(containers=None, cores=None, progress=True)
    sections = [HEADER.format(containers=params.containers or DEFAULT_CONTAINERS,
                              cores=params.cores or DEFAULT_CORES, seed=params.seed, out=out,
                              drift=DRIFT_RELATIVE)]
    previous = read_tables(docs.read_text()) if docs.is_file() else {}
    # Figures go beside a page in a directory; a page sent to a device or FIFO gets none.
    figures = None if is_stream(docs) else make_directory(docs.parent / FIGURES)
    chosen = list(names or EXPERIMENTS)
    for index, name in enumerate(chosen, start=1):
        module = experiment(name)
        started = time.perf_counter()
        print(f"[{index}/{len(chosen)}] {name}: {module.DESCRIPTION} ...", file=sys.stderr,
              flush=True)
        result = run_experiment(module, params)
        seconds = time.perf_counter() - started
        print(f"[{index}/{len(chosen)}] {name}: {seconds:.1f} s of host time", file=sys.stderr,
              flush=True)
        written = save(result, out / name, command)
        setup = result.configuration
        section = [f"## {name}", "", f"*{module.DESCRIPTION}* ({setup.get('containers')} "
                   f"containers on {setup.get('cores')} cores).", "", module.DOC.strip(), "",
                   f"Command: `coffersim experiment {name}` ({seconds:.0f} s of host time "
                   f"here).", ""]
        shown = result.shown
        columns = list(result.columns) or list(dict.fromkeys(k for r in shown for k in r))
        section += [markdown_table(columns, shown), "", f"**Finding.** {result.finding}", ""]
        if name == "tradeoff" and previous.get(name):
            section += [CHANGES, "", markdown_table(CHANGE_COLUMNS, score_changes(
                previous[name], shown)), ""]
        png = next((p for p in written if p.suffix == ".png"), None)
        if png is not None and figures is not None:
            target = figures / f"isolation-{name}.png"
            write_bytes(target, png.read_bytes())
            section += [f"![{name}]({FIGURES / target.name})", ""]
        sections.append("\n".join(section))
    sections += _kept(docs)
    write_text(docs, "\n\n".join(sections).rstrip() + "\n", option="--docs")


CHANGES = ("**What changed.** Each configuration's score against the page this run "
           "replaced (`before`: that page's table; `after`: this run, the command above).")
CHANGE_COLUMNS = ("kernel", "personalities", "score_before", "score_after", "now_failed",
                  "now_passed")


def score_changes(before: Sequence[dict[str, Any]],
                  after: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per configuration of ``after`` (the tradeoff rows), its score before and after and
    the checks that changed outcome ("-" before: the configuration is new)."""
    old = {(str(r["kernel"]), str(r["personalities"])): r for r in before}
    changes = []
    for row in after:
        earlier = old.get((str(row["kernel"]), str(row["personalities"])))
        failed_now = _names(row.get("failed_checks"))
        failed_then = _names(earlier.get("failed_checks")) if earlier else set()
        changes.append({
            "kernel": row["kernel"], "personalities": row["personalities"],
            "score_before": _score(earlier), "score_after": _score(row),
            "now_failed": ",".join(sorted(failed_now - failed_then)) if earlier else "",
            "now_passed": ",".join(sorted(failed_then - failed_now)) if earlier else ""})
    return changes


def _names(cell: Any) -> set[str]:
    return {name for name in str(cell or "").split(",") if name and name != "-"}


def _score(row: dict[str, Any] | None) -> str | None:
    if row is None:
        return None
    return f"{row['checks_passed']}/{row['checks_total']}"


def read_tables(page: str) -> dict[str, list[dict[str, str]]]:
    """The first table of each ``## NAME`` section of a page :func:`write_report` wrote:
    NAME -> its rows, each {column: cell text} (escaped pipes restored)."""
    tables: dict[str, list[dict[str, str]]] = {}
    marks = list(SECTION.finditer(page))
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(page)
        lines = [line.strip() for line in page[mark.end():end].splitlines()]
        start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
        if start is None:
            continue
        block = []
        for line in lines[start:]:
            if not line.startswith("|"):
                break
            block.append([cell.strip().replace("\\|", "|")
                          for cell in CELL_SPLIT.split(line.strip().strip("|"))])
        header, rows = block[0], block[2:]
        tables[mark.group(1)] = [dict(zip(header, row, strict=False)) for row in rows]
    return tables


def _kept(docs: Path) -> list[str]:
    """The sections of the page that other commands write (``coffersim sensitivity
    --docs``), kept as they are."""
    from cofferos.sim.sensitivity_report import sections

    try:
        return sections(docs.read_text()) if docs.is_file() else []
    except (OSError, UnicodeDecodeError):
        return []
