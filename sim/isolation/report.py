"""``coffersim experiment report``: every isolation experiment, and docs/isolation.md.

Runs each experiment of :data:`cofferos.sim.isolation.EXPERIMENTS` in its
default configuration, saves its results under ``OUT/NAME`` (table, manifest,
figure), copies each figure to ``docs/figures/isolation-NAME.png`` and writes
the Markdown page: per experiment, what it measures (its ``DOC``), the command,
the table, the finding and the figure. The page is generated, so what it says
is what the code measured; the sections ``coffersim sensitivity --docs`` writes are
kept as they were.
"""

from __future__ import annotations

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
                              cores=params.cores or DEFAULT_CORES, seed=params.seed, out=out)]
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
        png = next((p for p in written if p.suffix == ".png"), None)
        if png is not None and figures is not None:
            target = figures / f"isolation-{name}.png"
            write_bytes(target, png.read_bytes())
            section += [f"![{name}]({FIGURES / target.name})", ""]
        sections.append("\n".join(section))
    sections += _kept(docs)
    write_text(docs, "\n\n".join(sections).rstrip() + "\n", option="--docs")


def _kept(docs: Path) -> list[str]:
    """The sections of the page that other commands write (``coffersim sensitivity
    --docs``), kept as they are."""
    from cofferos.sim.sensitivity_report import sections

    try:
        return sections(docs.read_text()) if docs.is_file() else []
    except (OSError, UnicodeDecodeError):
        return []
