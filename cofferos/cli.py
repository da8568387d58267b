"""The ``coffersim`` command line.

    coffersim run [options] -- PROGRAM [ARGS...]   run one program in a fresh coffer
    coffersim run --kernel K --cores N --containers M -- PROGRAM [ARGS...]
                                                   ... M of them on the timing machine
    coffersim compare WORKLOAD --kernels ... --containers 1,8,32 --cores N
                                                   one workload under several kernels
    coffersim calibrate [--kernel K]               lmbench in simulated time vs published
    coffersim experiment NAME [--kernels ...]      an isolation experiment (docs/isolation.md)
    coffersim fuzz [--calls N] [--seed S]          a hostile guest beside victims (docs/security.md)
    coffersim sweep SPEC.toml [--out DIR] [--jobs N]  a design-space sweep (docs/sweeps.md)
    coffersim results show DIR                     one line per point of a sweep
    coffersim plot DIR --kind KIND [-o FILE]       a figure of a sweep's results
    coffersim workloads                            list the built-in workloads
    coffersim demo                                 several workloads, each in its own coffer

The timing commands live in :mod:`cofferos.cli_timing`.

Every error a user can cause (a missing file, a non-ELF, a bad option, no
compiler) is one line on stderr and exit status 2, never a traceback. ``run``
exits with the guest's status (128 + signal when a signal ended it).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

from cofferos import __version__
from cofferos.cli_args import env_pair, positive
from cofferos.errors import ConfigError, SimError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's contract: a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _coffer_options() -> _Parser:
    """Options that shape each coffer, shared by run and compare."""
    options = _Parser(add_help=False)
    options.add_argument("--rootfs", metavar="DIR",
                         help="host directory imported copy-on-write as the coffer's root")
    options.add_argument("--env", metavar="K=V", action="append", type=env_pair, default=[],
                         help="add an environment variable (repeatable)")
    options.add_argument("--cwd", default="/", help="working directory inside the coffer")
    options.add_argument("--seed", type=int, default=0,
                         help="seed for AT_RANDOM and getrandom (container i gets seed + i)")
    options.add_argument("--max-instructions", type=positive, metavar="N",
                         help="kill the guest with SIGXCPU after N instructions")
    options.add_argument("--personality", metavar="NAME[:k=v,...]", action="append",
                         default=[], help="add a personality to each coffer's stack, in order "
                         "(repeatable; see coffersim personalities)")
    return options


def build_parser() -> argparse.ArgumentParser:
    from cofferos import cli_experiment, cli_fuzz, cli_plot, cli_sweep, cli_timing

    parser = _Parser(
        prog="coffersim", description="Full-system simulator for CofferOS coffers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    coffer_options = _coffer_options()

    run = sub.add_parser("run", parents=[coffer_options], help="run one program in a fresh coffer",
                         description="Run a static x86-64 program (or @workload) in a coffer; "
                                     "with --kernel, --cores or --containers, on the timing "
                                     "machine.")
    run.add_argument("--stats", metavar="FILE.json", help="write the run's statistics as JSON")
    run.add_argument("--trace", action="store_true",
                     help="print one strace-like line per system call to stderr")
    cli_timing.add_timing_options(run, for_run=True)
    run.add_argument("program", nargs=argparse.REMAINDER, metavar="-- PROGRAM [ARGS...]")

    cli_timing.add_parsers(sub, [coffer_options])
    cli_experiment.add_parsers(sub)
    cli_fuzz.add_parsers(sub)
    cli_plot.add_parsers(sub, _Parser)
    cli_sweep.add_parsers(sub, _Parser)
    sub.add_parser("workloads", help="list the built-in workloads")
    sub.add_parser("personalities", help="list the installed personalities and their options")
    demo = sub.add_parser("demo", help="run several built-in workloads, each in its own coffer")
    demo.add_argument("--libc", default="glibc", help="glibc, musl or glibc-pie")
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from cofferos.api import run_program
    from cofferos.cli_timing import coffer_config, is_timed, run_timed
    from cofferos.results import run_record, write_json

    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        raise ConfigError("no program given: coffersim run [options] -- PROGRAM [ARGS...]")
    config = coffer_config(args)
    if is_timed(args):
        return run_timed(args, config, program)
    started = time.perf_counter()
    result = run_program(program[0], program[1:], config=config,
                         trace=sys.stderr if args.trace else None)
    wall = time.perf_counter() - started
    if args.stats:
        write_json(args.stats, run_record(result, wall, config, program))
    for oops in result.oopses:
        print(f"coffersim: a task was killed by the kernel model:\n{oops}", file=sys.stderr)
    return result.exit_code


def cmd_personalities(_args: argparse.Namespace) -> int:
    from cofferos.personalities.stack import available
    from cofferos.results import format_table

    rows = []
    for name, cls in available().items():
        options = ", ".join(f"{key}={option.default!r} ({option.help})"
                            for key, option in cls.options.items()) or "-"
        rows.append((name, cls.description, options))
    print(format_table(("personality", "description", "options"), rows))
    return 0


def cmd_workloads(_args: argparse.Namespace) -> int:
    from cofferos.results import format_table
    from cofferos.workloads import list_workloads

    rows = [(f"@{w.name}", ",".join(w.libcs), " ".join(w.default_args), w.description)
            for w in list_workloads()]
    print(format_table(("workload", "libcs", "default args", "description"), rows))
    return 0


DEMO_RUNS = (
    ("hello", ()),
    ("compute", ("2000000",)),
    ("nullsys", ("20000",)),
    ("fileio", ("16",)),
    ("memtouch", ("4",)),
)


def cmd_demo(args: argparse.Namespace) -> int:
    from cofferos.api import run_program
    from cofferos.coffers.coffer import CofferConfig
    from cofferos.results import format_table

    rows = []
    for index, (name, wl_args) in enumerate(DEMO_RUNS):
        spec = f"@{name}" if args.libc == "glibc" else f"@{name}:{args.libc}"
        label = f"coffer{index}"
        print(f"[{index + 1}/{len(DEMO_RUNS)}] {label}: {spec} {' '.join(wl_args)}", flush=True)
        out = io.BytesIO()
        started = time.perf_counter()
        result = run_program(spec, wl_args, config=CofferConfig(name=label), stdout=out)
        wall = time.perf_counter() - started
        first_line = out.getvalue().decode(errors="replace").splitlines()[:1]
        print(f"    said: {first_line[0] if first_line else '(nothing)'}")
        rows.append((label, spec, result.exit_code, result.instructions, result.user_cycles,
                     result.kernel_cycles, sum(result.syscalls.values()),
                     f"{result.simulated_ns / 1e6:.3f}", f"{wall:.2f}",
                     f"{result.instructions / wall / 1e6:.0f}"))
    print()
    print(format_table(("coffer", "workload", "exit", "instructions", "user cycles",
                        "kernel cycles", "syscalls", "sim ms", "host s", "MIPS"), rows))
    return 0


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    from cofferos import cli_experiment, cli_fuzz, cli_plot, cli_sweep, cli_timing

    return {"run": cmd_run, "workloads": cmd_workloads, "demo": cmd_demo,
            "personalities": cmd_personalities,
            "compare": cli_timing.cmd_compare, "calibrate": cli_timing.cmd_calibrate,
            "experiment": cli_experiment.cmd_experiment, "fuzz": cli_fuzz.cmd_fuzz,
            "plot": cli_plot.run,
            "sweep": cli_sweep.run, "results": cli_sweep.run}[name]


def main(argv: Sequence[str] | None = None) -> int:
    from cofferos.cli_timing import split_program_tail

    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    options, tail = split_program_tail(given)
    args = parser.parse_args(options)
    args.program_tail, args.argv = tail, given
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return _command(args.command)(args)
    except SimError as err:
        print(f"coffersim: error: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        print("coffersim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
