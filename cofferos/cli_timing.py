"""The timing commands of ``coffersim``: ``run`` on the machine, ``compare``, ``calibrate``.

    coffersim run --kernel K --cores N --containers M [--cost NAME=V] -- PROGRAM [ARGS...]
    coffersim compare WORKLOAD --kernels linux,cofferos,vm,sandbox --containers 1,8,32 --cores N
    coffersim calibrate [--kernel K] [--native] [--fit OPS] [--json]   (cli_calibrate.py)

:mod:`cofferos.cli` owns the parser and the functional ``run``; this module adds
the subcommands' options and handlers, which call :mod:`cofferos.timing`.
Tables go to stdout, progress to stderr, so ``--json`` output can be piped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cofferos import cli_timeline
from cofferos.cli_args import bounded, bounded_list, kernel_list, kernel_name
from cofferos.errors import ConfigError
from cofferos.sim.kernels import architecture

if TYPE_CHECKING:
    from cofferos.coffers.coffer import CofferConfig

DEFAULT_COMPARE_KERNELS = ("linux", "cofferos", "vm", "sandbox")
DEFAULT_COMPARE_CONTAINERS = (1, 8, 32)
DEFAULT_CORES = 4
PERCENT = 100.0
EXIT_INTERRUPTED = 130  #: 128 + SIGINT, as a shell reports Ctrl-C


def add_timing_options(parser: argparse.ArgumentParser, *, for_run: bool) -> None:
    """Options shared by run (timed) and compare: the machine and the cost model."""
    if for_run:
        parser.add_argument("--kernel", type=kernel_name, metavar="KERNEL",
                            help="run on the timing machine under this kernel architecture "
                                 "(cofferos, linux, vm, sandbox; linux:2.6.35 a Linux version) "
                                 "(default cofferos when --cores or --containers is given)")
        parser.add_argument("--cores", type=bounded("cores"), metavar="N",
                            help=f"cores of the timing machine (default {DEFAULT_CORES})")
        parser.add_argument("--containers", type=bounded("containers"), metavar="M",
                            help="M coffers of the same program (default 1)")
        parser.add_argument("--all-output", action="store_true",
                            help="also print every other container's stdout/stderr, in order")
    parser.add_argument("--cost", metavar="NAME=VALUE", action="append", default=[],
                        help="override a kernel cost: a KernelCosts field (entry_exit=220) or "
                             "one call's work (call.read=900); repeatable")
    parser.add_argument("--op-syscall", metavar="NAME",
                        help="count calls of NAME as the operations (for programs that mark "
                             "none on /dev/coffer/ops; default: one per completed run)")
    cli_timeline.add_options(parser)


def add_parsers(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add ``compare`` and ``calibrate`` (:mod:`cofferos.cli_calibrate`) to the subcommands."""
    compare = sub.add_parser(
        "compare", parents=list(parents), help="one workload under several kernels side by side",
        description="Run WORKLOAD (@name, default args from the catalog unless given after --; "
                    "or -- PROGRAM ARGS) under every kernel x container count.")
    compare.add_argument("workload", nargs="?", metavar="WORKLOAD")
    compare.add_argument("--kernels", type=kernel_list, default=list(DEFAULT_COMPARE_KERNELS),
                         help="comma-separated kernels (default linux,cofferos,vm,sandbox)")
    compare.add_argument("--containers", type=bounded_list("containers"),
                         default=list(DEFAULT_COMPARE_CONTAINERS),
                         help="comma-separated container counts (default 1,8,32)")
    compare.add_argument("--cores", type=bounded("cores"), default=DEFAULT_CORES, metavar="N",
                         help=f"cores of the timing machine (default {DEFAULT_CORES})")
    compare.add_argument("--json", action="store_true", help="print the rows as JSON")
    compare.add_argument("--out", metavar="DIR",
                         help="write a result directory (results.parquet, results.csv, "
                              "manifest.json, points/) for results show and plot")
    compare.add_argument("--plot", metavar="FILE.png",
                         help="draw throughput per container and the CPU breakdown")
    add_timing_options(compare, for_run=False)

    from cofferos.cli_calibrate import add_parser as add_calibrate

    add_calibrate(sub)


def split_program_tail(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """For ``compare``, cut ``-- PROGRAM ARGS`` off before argparse sees it.

    argparse cannot take an optional positional (``@name``) followed by options
    and then ``-- ARGS``; everything after the first ``--`` is the program tail.
    """
    command = next((a for a in argv if not a.startswith("-")), None)
    if command != "compare" or "--" not in argv:
        return argv, None
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]


def coffer_config(args: argparse.Namespace) -> CofferConfig:
    """The CofferConfig that run's and compare's coffer options and ``--cost`` describe."""
    from cofferos.coffers.coffer import CofferConfig
    from cofferos.sim.costmodel import DEFAULT_KERNEL_COSTS

    if args.rootfs is not None and not os.path.isdir(args.rootfs):  # before any work
        problem = "no such directory" if not os.path.exists(args.rootfs) else "not a directory"
        raise ConfigError(f"--rootfs {args.rootfs}: {problem}")
    costs = DEFAULT_KERNEL_COSTS
    if args.cost:
        from cofferos.timing import kernel_costs

        costs = kernel_costs(args.cost)
    changes: dict[str, list[str]] = {}  # --personality-change, by trigger, in order
    for trigger, spec in getattr(args, "personality_change", ()):
        changes.setdefault(trigger, []).append(spec)
    if args.personality or changes:  # check every spec now: a bad one is a usage error
        from cofferos.personalities.stack import available, parse_spec

        known = available()
        for spec in [*args.personality, *(s for specs in changes.values() for s in specs)]:
            parse_spec(spec, known)
    if args.image is not None and args.rootfs is not None:
        raise ConfigError("--image and --rootfs both give the root filesystem: choose one")
    config = CofferConfig(rootfs=args.rootfs, image=args.image, cwd=args.cwd, seed=args.seed,
                          instruction_limit=args.max_instructions, env=tuple(args.env),
                          max_host_seconds=args.max_host_seconds,
                          kernel_costs=costs, personalities=tuple(args.personality),
                          personality_changes=tuple((trigger, tuple(specs))
                                                    for trigger, specs in changes.items()),
                          cycle_model=args.cycle_model, mca_cpu=args.mca_cpu)
    if args.cycle_model == "mca":  # llvm-mca missing is a usage error, before any work
        from cofferos.isa.mcahost import llvm_mca_path

        llvm_mca_path()
    if args.disk_limit is not None:
        config = replace(config, disk_limit=args.disk_limit)
    if args.image is not None:  # read and check the whole image now, before any run
        from cofferos.coffers.fs.image import check_image
        from cofferos.coffers.fs.imagetree import ImageError

        try:
            check_image(args.image, size_limit=config.disk_limit)
        except ImageError as err:
            raise ConfigError(f"--image {args.image}: {err}") from None
    return config


# -- run on the timing machine -----------------------------------------------------------------
def is_timed(args: argparse.Namespace) -> bool:
    timed = any(v is not None for v in (args.kernel, args.cores, args.containers))
    if not timed and (args.op_syscall or args.all_output or args.timeline):
        raise ConfigError("--op-syscall, --all-output and --timeline need --kernel, --cores "
                          "or --containers")
    if timed and (getattr(args, "breaks", None) or getattr(args, "step", False)
                  or getattr(args, "script", None)):
        raise ConfigError("--break, --step and --script are not available on the timing "
                          "machine (--kernel, --cores, --containers): run without them")
    return timed


def run_timed(args: argparse.Namespace, config: CofferConfig, program: Sequence[str]) -> int:
    """``coffersim run`` through run_containers: c0's output is the host's."""
    from cofferos.api import resolve_program, runs_inside
    from cofferos.cli_debug import traced_machine
    from cofferos.cli_output import report_run
    from cofferos.memory import check_fits
    from cofferos.results.records import machine_record, write_json
    from cofferos.sim.experiment import OUTPUT_LIMIT, run_containers
    from cofferos.timing import machine_for

    kernel = args.kernel or "cofferos"
    cores = args.cores or DEFAULT_CORES
    machine = machine_for(kernel, cores, config.kernel_costs)
    inside = runs_inside(program[0], config)  # --rootfs: the program is the tree's
    path = resolve_program(program[0], config)
    check_fits(args.containers or 1, None if inside else path, running=cores)
    cli_timeline.check(args)
    started = time.perf_counter()
    with cli_timeline.recording(args, ["coffersim", *getattr(args, "argv", [])]):
        report = run_containers(path, program[1:], kernel=kernel,
                                containers=args.containers or 1, cores=cores, base=config,
                                machine=machine, op_syscall=args.op_syscall, inside=inside,
                                prepare=traced_machine(args.trace) if args.trace else None)
    wall = time.perf_counter() - started
    shown = report.containers if args.all_output else report.containers[:1]
    guest_stdout = sys.stderr if args.json else sys.stdout  # --json: stdout is the record's
    for container in shown:
        guest_stdout.buffer.write(container.stdout)
        guest_stdout.buffer.flush()
        sys.stderr.buffer.write(container.stderr)
        sys.stderr.buffer.flush()
    for container in report.containers:
        if container.output_dropped:
            print(f"coffersim: {container.name}: {container.output_dropped} bytes of output "
                  f"past the first {OUTPUT_LIMIT} of each stream were dropped", file=sys.stderr)
    record = machine_record(report, wall, config, machine, program)
    if args.stats:
        write_json(args.stats, record, option="--stats")
    failed = [c.name for c in report.containers if c.exit_code != 0]
    if failed and len(report.containers) > 1:
        print(f"coffersim: {len(failed)} of {len(report.containers)} containers failed: "
              f"{', '.join(failed[:8])}", file=sys.stderr)
    report_run(record, summary=args.summary, as_json=args.json)
    return int(record["exit_code"])


# -- compare --------------------------------------------------------------------------------
TABLE_COLUMNS = ("kernel", "containers", "ops/s per container", "ops/s total", "p50 us",
                 "p99 us", "user %", "kernel %", "lock %", "virt %", "idle %", "sim s", "host s")


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _significant(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else float(f"{value:.{digits}g}")


def table_row(row: dict[str, Any]) -> tuple[object, ...]:
    """One compare row as the table shows it (percentages of core time, rounded)."""
    return (row["kernel"], row["containers"], round(row["throughput_per_container"]),
            round(row["throughput_total"]), _rounded(row["p50_us"], 2),
            _rounded(row["p99_us"], 2),
            *(round(PERCENT * row[key], 1) for key in
              ("cpu_user", "cpu_kernel", "cpu_lock_wait", "cpu_virtualization", "cpu_idle")),
            _significant(row["simulated_seconds"], 4), round(row["host_seconds"], 2))


def _workload(args: argparse.Namespace) -> tuple[str, list[str]]:
    from cofferos.workloads.catalog import WORKLOADS

    tail = getattr(args, "program_tail", None)
    if args.workload is None:
        if not tail:
            raise ConfigError("no workload given: coffersim compare @name [-- ARGS] "
                              "or coffersim compare [options] -- PROGRAM [ARGS...]")
        return tail[0], tail[1:]
    if tail is not None:
        return args.workload, tail
    name = args.workload[1:].split(":")[0] if args.workload.startswith("@") else None
    workload = WORKLOADS.get(name) if name else None
    return args.workload, list(workload.default_args) if workload else []


class _Progress:
    """compare's progress lines on ``stream`` (``[i/n] kernel x m ... 1.2 s``); keeps each
    finished report in :attr:`finished` (what an interrupted compare writes)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.begun = time.perf_counter()
        self.finished: list[Any] = []
        self.line_open = False  #: a run's line is printed up to its "..."

    def __call__(self, index: int, total: int, point: Any) -> Callable[[Any], None]:
        started = time.perf_counter()
        print(f"[{index}/{total}] {point.kernel} x {point.containers} ...", end="",
              file=self.stream, flush=True)
        self.line_open = True

        def after(report: Any) -> None:
            now = time.perf_counter()
            self.finished.append(report)
            print(f" {now - started:.1f} s ({now - self.begun:.1f} s elapsed), "
                  f"{report.simulated_seconds:.4g} simulated s", file=self.stream, flush=True)
            self.line_open = False
        return after

    def end_line(self) -> None:
        """End a run's line that an interrupt cut short."""
        if self.line_open:
            print(file=self.stream, flush=True)
            self.line_open = False


def check_outputs(args: argparse.Namespace) -> None:
    """compare's --out and --plot, checked before any run (one line, exit 2, when bad)."""
    from cofferos.results.outputs import check_directory, check_figure

    if args.plot:
        check_figure(args.plot, "--plot")
    if args.out:
        check_directory(args.out, "--out")


def compare_records(program: str, wl_args: Sequence[str], args: argparse.Namespace,
                    config: CofferConfig, reports: Sequence[Any]) -> list[dict[str, Any]]:
    """Each run of a compare as a point record, as a sweep keeps it (``points/<id>.json``):
    its configuration in a sweep point's keys (so the same id as the sweep point that runs
    the same), its tidy rows, and ``report``: the run's row as ``--json`` prints it."""
    from cofferos.api import resolve_program, runs_inside
    from cofferos.sim.sweeps.point import report_rows
    from cofferos.sim.sweeps.spec import (
        PROGRAM_HASH_KEY,
        WORKLOAD_PREFIX,
        file_sha256,
        image_keys,
        point_id,
    )

    shared = {"workload": program, "args": list(wl_args),
              "personalities": list(config.personalities), "cost": list(args.cost),
              "seed": config.seed, "duration_ms": 0, "op_syscall": args.op_syscall or "",
              "probes": [], "repeat": 0, **image_keys(config.image)}
    if not program.startswith(WORKLOAD_PREFIX) and not runs_inside(program, config):
        shared[PROGRAM_HASH_KEY] = file_sha256(resolve_program(program))
    records = []
    for report in reports:
        point = {**shared, "kernel": report.kernel, "cores": report.cores,
                 "containers": len(report.containers)}
        records.append({"id": point_id(point), "config": point, "status": "ok", "error": "",
                        "host_seconds": report.host_seconds, "rows": report_rows(report),
                        "report": report.row()})
    return records


def cmd_compare(args: argparse.Namespace) -> int:
    from cofferos.api import resolve_program
    from cofferos.memory import check_fits
    from cofferos.results import format_table, resultdir, sweeps
    from cofferos.results.manifest import manifest
    from cofferos.timing import compare, machine_for

    program, wl_args = _workload(args)
    config = coffer_config(args)
    check_outputs(args)
    cli_timeline.check(args)
    check_fits(max(args.containers), resolve_program(program, config), running=args.cores)
    started = time.perf_counter()
    progress = _Progress(sys.stderr)
    with cli_timeline.recording(args, ["coffersim", *getattr(args, "argv", [])]):
        try:
            compare(program, wl_args, kernels=args.kernels, containers=args.containers,
                    cores=args.cores, config=config, op_syscall=args.op_syscall,
                    progress=progress)
        except KeyboardInterrupt:
            progress.end_line()
            if not progress.finished:
                raise
            interrupted = True
        else:
            interrupted = False
    rows = [report.row() for report in progress.finished]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(TABLE_COLUMNS, [table_row(row) for row in rows]))
    if args.out:
        configuration = {
            "workload": {"program": program, "path": resolve_program(program, config),
                         "args": wl_args},
            "kernels": args.kernels, "containers": args.containers, "cores": args.cores,
            "op_syscall": args.op_syscall, "coffer": config,
            "machine": machine_for(args.kernels[0], args.cores, config.kernel_costs),
            "architectures": {k: architecture(k) for k in args.kernels},
            "host_seconds": time.perf_counter() - started}
        command = ["coffersim", *getattr(args, "argv", [])]
        records = compare_records(program, wl_args, args, config, progress.finished)
        configuration["points"] = [  # the order results show and plot keep
            {"id": r["id"], "kernel": r["config"]["kernel"],
             "containers": r["config"]["containers"]} for r in records]
        for path in resultdir.write_result_dir(args.out, resultdir.COMPARE,
                                               sweeps.frame(records), records,
                                               manifest(command, configuration)):
            print(f"wrote {path}", file=sys.stderr)
    if args.plot:
        from cofferos.results.plot import plot_comparison

        plot_comparison(rows, args.plot, title=" ".join([program, *wl_args]))
        print(f"wrote {args.plot}", file=sys.stderr)
    if interrupted:
        total = len(args.kernels) * len(args.containers)
        kept = f", kept in {args.out}" if args.out else ""
        print(f"coffersim: interrupted: {len(rows)} of {total} runs done{kept}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = sum(row["failed_containers"] for row in rows)
    if failed:
        print(f"coffersim: {failed} containers failed (see failed_containers)", file=sys.stderr)
        return 1
    return 0
