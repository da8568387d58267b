"""What every isolation experiment shares: its parameters, its result and how it is saved.

An experiment is a function ``run(params) -> ExperimentResult``. Its result is
a *tidy* table (one row per kernel x configuration x container x measure, plain
JSON values), the fully resolved configuration, a one-paragraph finding and a
function that draws its figure. :func:`save` writes ``OUT`` as a result directory
(:mod:`cofferos.results.resultdir`, kind ``experiment:NAME``)::

    OUT/results.parquet  the table, one row per row (results.csv: the same as CSV)
    OUT/points/*.json    one record per row: {"id": "00003", "row": {...}}
    OUT/manifest.json    the experiment, its parameters, seed, version, commit, host, its
                         finding and the table it prints (``shown``: columns, summary)
    OUT/NAME.png         the figure

so each number in ``docs/isolation.md`` can be traced to its command and code;
:func:`load` reads it back for ``coffersim results show`` and ``plot``, and each
experiment's ``redraw(result, out)`` draws its figure again from it.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cofferos import bounds
from cofferos.errors import ConfigError
from cofferos.sim.kernels import ARCHITECTURES, check_kernel

#: Every kernel architecture, in the order tables and figures show them.
ALL_KERNELS: tuple[str, ...] = ("linux", "cofferos", "vm", "sandbox")
#: The manifest's field with the table the command prints: its columns and the summary.
SHOWN = "shown"
DEFAULT_CONTAINERS = 3
DEFAULT_CORES = 4


@dataclass(frozen=True)
class ExperimentParams:
    """The knobs every experiment takes (``coffersim experiment NAME ...``)."""

    kernels: tuple[str, ...] = ALL_KERNELS
    containers: int | None = DEFAULT_CONTAINERS
    """Containers on the machine (the first is the one that triggers or is the victim);
    None: the experiment's own default (its ``DEFAULTS``, see :meth:`resolved`)."""
    cores: int | None = DEFAULT_CORES
    seed: int = 0
    personalities: tuple[tuple[str, ...], ...] = ((),)
    """Personality stacks to compare (each a tuple of NAME[:k=v] specs; () is none)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Experiment-specific settings (``--set KEY=VALUE``), each documented by the experiment."""
    defaulted: frozenset[str] = frozenset()
    """The fields :meth:`resolved` filled in (so :meth:`unresolved` can leave them open)."""
    progress: bool = False
    """Say on stderr which kernel each experiment is at (the command line turns it on)."""
    costs: tuple[str, ...] = ()
    """``--cost`` overrides (``NAME=VALUE``, ``profile=NAME``) every run takes on top of
    the experiment's own costs (:func:`cofferos.sim.experiment.cost_overrides`)."""
    repeats: int = 1
    """Runs, seeds ``seed`` .. ``seed + repeats - 1``, combined into means with 95%
    confidence intervals (:mod:`.repeats`)."""
    image: str | None = None
    """A container image (``--image``) every container takes as its read-only root, its
    writes on top (:func:`cofferos.sim.experiment.experiment_image`); None: their own."""

    def each_kernel(self, experiment: str) -> Iterator[str]:
        """The kernels, each announced on stderr first when :attr:`progress` is on."""
        started = time.perf_counter()
        for index, kernel in enumerate(self.kernels, start=1):
            if self.progress:
                print(f"  [{experiment}] kernel {index}/{len(self.kernels)}: {kernel} "
                      f"({time.perf_counter() - started:.0f} s so far)", file=sys.stderr,
                      flush=True)
            yield kernel

    def __post_init__(self) -> None:
        unknown = [k for k in self.kernels if k.partition(":")[0] not in ARCHITECTURES]
        for kernel in self.kernels:
            if kernel not in unknown:
                check_kernel(kernel)  # a version suffix: linux:2.6.35
        if unknown:
            raise ConfigError(f"unknown kernel(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(ARCHITECTURES)}")
        if self.containers is not None:  # isolation needs a second container to observe
            bounds.check("containers", self.containers, label="--containers", minimum=2)
        if self.cores is not None:
            bounds.check("cores", self.cores, label="--cores")
        bounds.check("seed", self.seed, label="--seed")
        bounds.check("seeds", self.repeats, label="--repeats")
        if self.costs:
            from cofferos.timing import kernel_costs

            kernel_costs(self.costs)  # a bad --cost is a usage error before anything runs

    def resolved(self, defaults: dict[str, int]) -> ExperimentParams:
        """Containers and cores not given (None) taken from an experiment's ``defaults``."""
        open_fields = frozenset(n for n in ("containers", "cores") if getattr(self, n) is None)
        return replace(self, containers=self.containers or defaults.get(
                           "containers", DEFAULT_CONTAINERS),
                       cores=self.cores or defaults.get("cores", DEFAULT_CORES),
                       defaulted=self.defaulted | open_fields)

    def unresolved(self) -> ExperimentParams:
        """These parameters with what defaults filled in open again (for another experiment)."""
        return replace(self, defaulted=frozenset(),
                       **{name: None for name in self.defaulted})

    def option(self, name: str, default: Any, minimum: float | None = None) -> Any:
        """``options[name]`` converted to ``default``'s type (a clear error if it won't,
        or if it is below ``minimum`` or not a finite number). A setting named in
        :data:`cofferos.bounds.BOUNDS` (``cores``, ``memory_mb`` ...) is held to that range,
        as on the command line and in sweep specs."""
        if name not in self.options:
            return default
        raw = self.options[name]
        try:
            value = type(default)(raw) if not isinstance(default, bool) else \
                str(raw).lower() in ("1", "true", "yes", "on")
        except (TypeError, ValueError):
            raise ConfigError(f"--set {name}={raw!r}: expected {type(default).__name__}") \
                from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"--set {name}={raw!r}: expected a finite number")
        if minimum is not None and value < minimum:
            raise ConfigError(f"--set {name}={raw!r}: must be at least {minimum:g}")
        if name in bounds.BOUNDS:
            bounds.check(name, value, label=f"--set {name}={raw!r}:")
        return value


@dataclass
class ExperimentResult:
    """What an experiment found."""

    name: str
    rows: list[dict[str, Any]]
    configuration: dict[str, Any]
    finding: str
    """One paragraph in plain words: what the rows show."""
    draw: Callable[[str], None] | None = None
    """Draw the figure into a .png/.svg/.pdf path."""
    columns: Sequence[str] = ()
    """The columns printed by the CLI's table (all when empty)."""
    summary: list[dict[str, Any]] = field(default_factory=list)
    """A condensed table (one line per kernel x configuration) for the CLI and the docs;
    empty: the rows are shown."""

    @property
    def shown(self) -> list[dict[str, Any]]:
        """The table a reader sees: the summary if there is one, else the rows."""
        return self.summary or self.rows


def save(result: ExperimentResult, out: str | Path, command: Sequence[str]) -> list[Path]:
    """Write ``result`` under ``out`` as a result directory (kind ``experiment:NAME``) and
    its figure; return what was written."""
    from cofferos.results import resultdir
    from cofferos.results.manifest import manifest
    from cofferos.results.records import plain

    directory = Path(out)
    rows = plain(result.rows)
    run_manifest = manifest(command, {"experiment": result.name, **result.configuration,
                                      "finding": result.finding})
    run_manifest[SHOWN] = {"columns": list(result.columns), "summary": plain(result.summary)}
    written = resultdir.write_result_dir(
        directory, resultdir.experiment_kind(result.name), resultdir.rows_frame(rows),
        resultdir.row_records(rows), run_manifest)
    if result.draw is not None:
        figure = directory / f"{result.name}.png"
        result.draw(str(figure))
        written.append(figure)
    return written


def load(directory: str | Path) -> ExperimentResult:
    """The result :func:`save` wrote to ``directory`` (without ``draw``: the experiment's
    ``redraw(result, out)`` draws it); a one-line ConfigError for any other directory."""
    from cofferos.results import resultdir

    kind = resultdir.kind_of(directory)
    name = resultdir.experiment_name(kind)
    if name is None:
        raise ConfigError(f"{directory}: not an experiment's result directory "
                          f"({resultdir.describe(kind)})")
    manifest = resultdir.read_manifest(directory) or {}
    setup = manifest.get("configuration")
    setup = dict(setup) if isinstance(setup, dict) else {}
    shown = manifest.get(SHOWN)
    shown = shown if isinstance(shown, dict) else {}
    return ExperimentResult(name=name, rows=resultdir.experiment_rows(directory),
                            configuration=setup, finding=str(setup.get("finding", "")),
                            columns=tuple(shown.get("columns") or ()),
                            summary=list(shown.get("summary") or []))


def configuration(params: ExperimentParams, **extra: Any) -> dict[str, Any]:
    """The resolved configuration for the manifest: the parameters plus experiment extras
    (and, with ``--image``, the image's path and its archive's SHA-256)."""
    from cofferos.sim.sweeps.spec import image_keys

    return {**image_keys(params.image), "kernels": list(params.kernels),
            "containers": params.containers, "cores": params.cores, "seed": params.seed,
            "personalities": [list(stack) for stack in params.personalities],
            "options": dict(params.options), "cost": list(params.costs),
            "repeats": params.repeats, **extra}


def stack_label(stack: Sequence[str]) -> str:
    """How a personality stack is named in tables and figures ("none" when empty)."""
    return "+".join(stack) if stack else "none"
