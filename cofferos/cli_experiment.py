"""``coffersim experiment``: the isolation experiments from the command line.

    coffersim experiment NAME [--kernels K,K] [--containers N] [--cores N] [--seed S]
                              [--personality STACK]... [--set KEY=VALUE]...
                              [--cost NAME=VALUE]... [--repeats N] [--image FILE.tar|DIR]
                              [--out DIR] [--json] [--no-figure]
    coffersim experiment report [--out DIR] [--docs FILE]

``NAME`` is one of :data:`cofferos.sim.isolation.EXPERIMENTS` or ``all``. A
personality STACK is ``+``-joined specs (``hardened+agent:max_procs=64``; ``none``
for an empty stack); ``--set`` passes an experiment's own settings (its section
of docs/isolation.md lists them); ``--cost`` overrides the cost model of every run
(as for ``run``: ``NAME=VALUE``, ``profile=NAME``); ``--repeats N`` runs seeds S..S+N-1
and shows means with 95% confidence intervals; ``--image`` gives every container a
container image as its read-only root, its writes on top, as for ``compare``, with the
data an experiment writes for its containers mounted over it (agents, whose tools are
a tree it builds, refuses it). A run writes under
``results/runs/NAME`` (git-ignored) unless ``--out`` says otherwise. ``report`` runs every
experiment in its default configuration, writes ``results/isolation`` and rewrites
docs/isolation.md with the results and figures: the only command that writes the committed results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cofferos import cli_timeline
from cofferos.cli_args import bounded, kernel_list
from cofferos.errors import ConfigError

#: Where ``experiment NAME`` writes: git-ignored (.gitignore's ``results/*/``), so a run
#: leaves the checkout clean.
DEFAULT_OUT = "results/runs"
#: Where ``experiment report`` writes: the committed results docs/isolation.md shows.
REPORT_OUT = "results/isolation"
ALL = "all"
REPORT = "report"


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _hosting_list(text: str) -> str:
    from cofferos.sim.agents.hosting import hosting_list

    try:
        return ",".join(hosting_list(text))
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _stack(text: str) -> tuple[str, ...]:
    return () if text in ("", "none") else tuple(part for part in text.split("+") if part)


def add_parsers(sub: Any) -> None:
    from cofferos.sim.isolation import EXPERIMENTS, OTHER_EXPERIMENTS
    from cofferos.sim.isolation.common import DEFAULT_CONTAINERS, DEFAULT_CORES

    names = [*EXPERIMENTS, *OTHER_EXPERIMENTS, ALL, REPORT]
    parser = sub.add_parser(
        "experiment", help="isolation experiments: fault, noisy-neighbor, infoflow, ...",
        description="Run an isolation experiment under every kernel architecture and write "
                    "its table, manifest and figure (see docs/isolation.md).")
    parser.add_argument("name", metavar="NAME", choices=names,
                        help=f"one of {', '.join(names)}")
    parser.add_argument("--kernels", type=kernel_list, metavar="K,K",
                        help="comma-separated kernels (default linux,cofferos,vm,sandbox)")
    parser.add_argument("--containers", type=bounded("containers"), metavar="N",
                        help=f"containers on the machine (default {DEFAULT_CONTAINERS}, "
                             "noisy-neighbor 8)")
    parser.add_argument("--cores", type=bounded("cores"), metavar="N",
                        help=f"cores of the timing machine (default {DEFAULT_CORES}, "
                             "noisy-neighbor 8)")
    parser.add_argument("--seed", type=bounded("seed"), default=0,
                        help="seed of the first container")
    parser.add_argument("--personality", metavar="STACK", action="append", default=[],
                        help="a personality stack to compare, '+'-joined specs, 'none' for "
                             "none (repeatable; default: the experiment's own)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        type=_key_value, dest="settings",
                        help="an experiment setting (repeatable; see docs/isolation.md)")
    add_cost_options(parser)
    parser.add_argument("--image", metavar="FILE.tar|DIR",
                        help="container image as every container's read-only root, its "
                             "writes on top (docker export/save, OCI layout, or a "
                             "directory), as for compare; recorded with its SHA-256")
    agents = parser.add_argument_group("the agents experiment (docs/agents.md)")
    agents.add_argument("--agents", type=bounded("containers"), metavar="N",
                        help="agents (its --containers; default 16)")
    agents.add_argument("--hosting", type=_hosting_list, metavar="H,H",
                        help="hosting models: processes and the kernels (its --set "
                             "hosting=; default processes,linux,cofferos,vm,sandbox)")
    agents.add_argument("--scenario", metavar="NAME",
                        help="coding, data, browsing, analysis (python3 tools) or a scenario "
                             ".toml file (its --set scenario=)")
    agents.add_argument("--misbehave", metavar="KIND[,KIND][:M]",
                        help="M agents (default 1) misbehave: forkbomb, memhog, fillfs, snoop, "
                             "probe, killer, exfil, spin, flood, or none (its --set "
                             "misbehave=; default forkbomb,snoop,probe:2)")
    agents.add_argument("--policy", metavar="NAME",
                        help="live policy rules: contain or a policy .toml file "
                             "(its --set policy=)")
    parser.add_argument("--out", metavar="DIR",
                        help=f"results directory (default {DEFAULT_OUT}/NAME, git-ignored; "
                             f"report: {REPORT_OUT})")
    parser.add_argument("--json", action="store_true",
                        help="print the rows as JSON (for all: one object, by experiment)")
    parser.add_argument("--no-figure", action="store_true", help="do not draw the figure")
    cli_timeline.add_options(parser)
    parser.add_argument("--docs", metavar="FILE", default="docs/isolation.md",
                        help="for report: the Markdown file to write (default docs/isolation.md)")


def add_cost_options(parser: argparse.ArgumentParser) -> None:
    """``--cost`` and ``--repeats`` (experiment and sensitivity)."""
    parser.add_argument("--cost", metavar="NAME=VALUE", action="append", default=[],
                        help="override a kernel cost of every run, or profile=NAME, as for "
                             "run (repeatable; recorded in the manifest)")
    parser.add_argument("--repeats", type=bounded("seeds"), default=1, metavar="N",
                        help="runs with seeds S..S+N-1: tables show mean ± 95%% confidence "
                             "interval (default 1)")


def _params(args: argparse.Namespace) -> Any:
    from cofferos.personalities.stack import available, parse_spec
    from cofferos.sim.isolation.common import ExperimentParams

    _agents_aliases(args)
    stacks = tuple(_stack(text) for text in args.personality)
    known = available()
    for stack in stacks:
        for spec in stack:
            parse_spec(spec, known)  # a bad name or option is a usage error, now
    fields: dict[str, Any] = {"containers": args.containers, "cores": args.cores,
                              "seed": args.seed, "options": dict(args.settings),
                              "progress": True, "costs": tuple(args.cost),
                              "repeats": args.repeats, "image": args.image}
    if args.image is not None:  # read and check the whole image now, before any run
        _check_image(args.image)
    if args.kernels:
        fields["kernels"] = tuple(args.kernels)
    if stacks:
        fields["personalities"] = stacks
    return ExperimentParams(**fields)


def _check_image(image: str) -> None:
    from cofferos.coffers.config import host_disk_limit
    from cofferos.coffers.fs.image import check_image
    from cofferos.coffers.fs.imagetree import ImageError

    try:
        check_image(image, size_limit=host_disk_limit())
    except ImageError as err:
        raise ConfigError(f"--image {image}: {err}") from None


def _agents_aliases(args: argparse.Namespace) -> None:
    """``--agents``, ``--hosting``, ``--scenario``, ``--misbehave`` and ``--policy`` as
    the agents experiment's --containers, --set hosting=, scenario=, misbehave= and
    policy= (a usage error elsewhere or twice)."""
    given = [flag for flag, value in (("--agents", args.agents), ("--hosting", args.hosting),
                                      ("--scenario", args.scenario),
                                      ("--misbehave", args.misbehave),
                                      ("--policy", args.policy)) if value is not None]
    if not given:
        return
    if args.name != "agents":
        raise ConfigError(f"{given[0]}: only the agents experiment takes it")
    if args.agents is not None:
        if args.containers is not None:
            raise ConfigError("--agents and --containers both give the agents: choose one")
        args.containers = args.agents
    if args.hosting is not None:
        if args.kernels:
            raise ConfigError("--hosting and --kernels both give the hosting models: "
                              "choose one")
        args.settings = [*args.settings, ("hosting", args.hosting)]
    for key in ("scenario", "misbehave", "policy"):
        if getattr(args, key) is not None:
            args.settings = [*args.settings, (key, getattr(args, key))]


def table_text(result: Any, width: int | None = None) -> str:
    """What ``coffersim experiment NAME`` prints of a result (and ``results show`` of its
    directory): the table it shows (wrapped to ``width``), a blank line, the finding."""
    from cofferos.results.tables import format_table
    from cofferos.sim.isolation.repeats import CI_SUFFIX, shown_value

    shown = result.shown
    columns = list(result.columns) or list(dict.fromkeys(
        k for row in shown for k in row if not k.endswith(CI_SUFFIX)))
    return (format_table(columns, [[shown_value(row, c) for c in columns] for row in shown],
                         width)
            + f"\n\n{result.finding}")


def _print(result: Any, as_json: bool) -> None:
    from cofferos.results.records import plain
    from cofferos.results.tables import terminal_width

    if as_json:
        print(json.dumps(plain(result.rows), indent=2))
        return
    print(table_text(result, terminal_width()))


def run_one(name: str, args: argparse.Namespace, params: Any) -> Any:
    from cofferos.memory import check_fits
    from cofferos.sim.isolation import (
        check_image_taken,
        check_option_names,
        check_personalities,
        experiment,
        options_of,
        run_experiment,
    )
    from cofferos.sim.isolation.common import save

    module = experiment(name)
    if args.name != ALL:  # settings errors before any progress line
        check_option_names(params, options_of(module))
        check_personalities(module, params)
        check_image_taken(module, params)
    resolved = params.resolved(getattr(module, "DEFAULTS", {}))
    if hasattr(module, "check"):
        module.check(resolved)
    check_fits(resolved.containers or 1)
    if args.out is not None and args.name != ALL:
        out = Path(args.out)
    else:
        out = Path(args.out or DEFAULT_OUT) / name
    _writable(out)  # before the run, not after it
    started = time.perf_counter()
    print(f"[{name}] {module.DESCRIPTION} ...", file=sys.stderr, flush=True)
    result = run_experiment(module, params, check_options=False)
    print(f"[{name}] done in {time.perf_counter() - started:.1f} s of host time",
          file=sys.stderr, flush=True)
    if args.no_figure:
        result.draw = None
    try:
        written = save(result, out, ["coffersim", *getattr(args, "argv", [])])
    except OSError as error:
        raise ConfigError(f"--out {out}: cannot write: {error.strerror or error}") from None
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return result


def _writable(out: Path) -> None:
    """Make ``out`` (a usage error, one line, if it cannot be made or written to)."""
    from cofferos.results.outputs import check_directory

    check_directory(out, "--out")


def cmd_experiment(args: argparse.Namespace) -> int:
    from cofferos.sim.isolation import EXPERIMENTS

    check_args(args)
    if args.name == REPORT:
        from cofferos.results.outputs import check_file
        from cofferos.sim.isolation.report import write_report

        check_file(args.docs, "--docs", stdout=False)
        _writable(Path(args.out or REPORT_OUT))
        write_report(Path(args.out or REPORT_OUT), Path(args.docs),
                     command=["coffersim", *getattr(args, "argv", [])])
        print(f"wrote {args.docs}", file=sys.stderr)
        return 0
    params = _params(args)
    names: Sequence[str] = list(EXPERIMENTS) if args.name == ALL else [args.name]
    if args.name == ALL:  # a setting any experiment takes is fine for all
        from cofferos.sim.isolation import (
            check_image_taken,
            check_option_names,
            experiment,
            options_of,
        )

        check_option_names(params, tuple(dict.fromkeys(
            option for name in names for option in options_of(experiment(name)))))
        for name in names:  # --image: every one must take it, before the first runs
            check_image_taken(experiment(name), params)
        base = Path(args.out or DEFAULT_OUT)
        for out in (base, *(base / name for name in names)):  # all before the first runs
            _writable(out)
    cli_timeline.check(args)
    with cli_timeline.recording(args, ["coffersim", *getattr(args, "argv", [])]):
        if args.json and args.name == ALL:  # one JSON document: {experiment: rows}
            from cofferos.results.records import plain

            print(json.dumps({name: plain(run_one(name, args, params).rows)
                              for name in names}, indent=2))
            return 0
        for name in names:
            result = run_one(name, args, params)
            _print(result, args.json)
    return 0


def check_args(args: argparse.Namespace) -> None:
    """Reject combinations argparse cannot see."""
    if args.name == REPORT and (args.kernels or args.personality or args.settings
                                or args.cost or args.repeats != 1 or args.image):
        raise ConfigError("report runs the default configuration: drop --kernels, "
                          "--personality, --set, --cost, --repeats and --image (or run one "
                          "experiment)")
    if args.name == REPORT and (args.timeline or args.timeline_limit):
        raise ConfigError("--timeline: report runs every experiment; give one experiment "
                          "(coffersim experiment NAME --timeline FILE.json)")
