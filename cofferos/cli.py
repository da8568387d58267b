"""The ``coffersim`` command line.

    coffersim run [options] -- PROGRAM [ARGS...]   run one program in a fresh coffer
    coffersim run --kernel K --cores N --containers M -- PROGRAM [ARGS...]
                                                   ... M of them on the timing machine
    coffersim compare WORKLOAD --kernels ... --containers 1,8,32 --cores N
                                                   one workload under several kernels
    coffersim calibrate [--kernel K]               lmbench in simulated time vs published
    coffersim experiment NAME [--kernels ...]      an isolation experiment (docs/isolation.md)
    coffersim fuzz [--calls N] [--seed S]          a hostile guest beside victims (docs/security.md)
    coffersim validate [--quick] [--cores N]      the lock model against published scaling
    coffersim sweep SPEC.toml [--out DIR] [--jobs N]  a design-space sweep (docs/sweeps.md)
    coffersim results show DIR                     a result directory (sweep, compare,
                                                   experiment) as its command printed it
    coffersim plot DIR [--kind KIND] [-o FILE]     a figure of a result directory
    coffersim workloads                            list the built-in workloads
    coffersim personalities                        list the installed personalities
    coffersim demo                                 several workloads, each in its own coffer
    coffersim lab list|start N DIR|check N DIR     OS-course labs with graders (docs/labs.md)

The timing commands live in :mod:`cofferos.cli_timing`.

Every error a user can cause (a missing file, a non-ELF, a bad option, no
compiler, an output path that cannot be written) is one line on stderr starting
``coffersim: error:`` and exit status 2, found before any work, never a
traceback. Ctrl-C is exit status 130, a reader that leaves a pipe 141. ``run``
exits with the guest's status (128 + signal when a signal ended it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from cofferos import __version__
from cofferos.cli_args import (
    bounded,
    env_pair,
    personality_change,
    positive_seconds,
    size,
    trace_mode,
)
from cofferos.cli_examples import add_examples
from cofferos.errors import ConfigError, SimError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  #: 128 + SIGINT, as a shell reports Ctrl-C
EXIT_BROKEN_PIPE = 141  #: 128 + SIGPIPE, as a shell reports a writer whose reader left


ERROR_PREFIX = "coffersim: error: "  #: the start of every error line, whatever the command


class _Formatter(argparse.HelpFormatter):
    """Wraps a description to the terminal, but keeps text that has its own line breaks
    (the examples of each command's epilog) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text.strip():
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's contract: a usage error is one line and exit status 2."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{ERROR_PREFIX}{message} (see {self.prog} --help)\n")


def _coffer_options() -> _Parser:
    """Options that shape each coffer, shared by run and compare."""
    options = _Parser(add_help=False)
    options.add_argument("--rootfs", metavar="DIR",
                         help="host directory imported copy-on-write as the coffer's root")
    options.add_argument("--image", metavar="FILE.tar|DIR",
                         help="container image as the coffer's read-only root (docker export "
                              "or docker save tarball, OCI layout tar or directory, or "
                              "unpacked tree); the program is looked up inside it")
    options.add_argument("--env", metavar="K=V", action="append", type=env_pair, default=[],
                         help="add an environment variable (repeatable)")
    options.add_argument("--cwd", default="/", help="working directory inside the coffer")
    options.add_argument("--seed", type=bounded("seed"), default=0,
                         help="seed for AT_RANDOM and getrandom (container i gets seed + i)")
    options.add_argument("--max-instructions", type=bounded("instructions"), metavar="N",
                         help="kill the guest with SIGXCPU after N instructions")
    options.add_argument("--disk-limit", type=size, metavar="SIZE",
                         help="bytes each coffer's files may hold (e.g. 512M; default: the "
                              "host memory available, since files live in it)")
    options.add_argument("--max-host-seconds", type=positive_seconds, metavar="S",
                         help="end a coffer (SIGXCPU) once it has used S seconds of host CPU, "
                         "in guest code and in the kernel work it causes")
    options.add_argument("--cycle-model", choices=("simple", "mca"), default="simple",
                         help="user-mode cycles per block: simple (instruction table, about "
                              "one a cycle) or mca (llvm-mca's throughput, cached, and "
                              "mispredicted branches; needs llvm)")
    options.add_argument("--mca-cpu", metavar="CPU", default="native",
                         help="the core llvm-mca models with --cycle-model mca (an -mcpu "
                              "name such as skylake; default: this host's)")
    options.add_argument("--personality", metavar="NAME[:k=v,...]", action="append",
                         default=[], help="add a personality to each coffer's stack, in order "
                         "(repeatable; see coffersim personalities)")
    return options


def build_parser() -> argparse.ArgumentParser:
    from cofferos import (
        cli_conformance,
        cli_experiment,
        cli_fuzz,
        cli_lab,
        cli_plot,
        cli_sensitivity,
        cli_sweep,
        cli_timing,
        cli_validate,
    )
    from cofferos.workloads import ALL_LIBCS

    parser = _Parser(
        prog="coffersim", description="Full-system simulator for CofferOS coffers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    coffer_options = _coffer_options()

    run = sub.add_parser("run", parents=[coffer_options], help="run one program in a fresh coffer",
                         description="Run a static x86-64 program (or @workload) in a coffer; "
                                     "with --kernel, --cores or --containers, on the timing "
                                     "machine.")
    run.add_argument("--personality-change", metavar="TRIGGER:SPEC", action="append",
                     type=personality_change, default=[],
                     help="replace the stack while the coffer runs: after=CALL:N:SPEC once "
                          "CALL has completed N times, at=SECONDS:SPEC at that simulated time "
                          "(the coffer's clock, functional or timed run); repeat one trigger "
                          "to stack several, bottom first")
    run.add_argument("--stats", metavar="FILE.json", help="write the run's statistics as JSON")
    run.add_argument("--json", action="store_true",
                     help="print the run's statistics as JSON on stdout once the guest has "
                          "finished; stdout then holds only that record, so the guest's "
                          "stdout goes to stderr")
    run.add_argument("--summary", action=argparse.BooleanOptionalAction, default=None,
                     help="one line of totals on stderr after the run: instructions, cycles, "
                          "calls, simulated and host time (default: when stderr is a terminal)")
    run.add_argument("--trace", nargs="?", const="brief", type=trace_mode, metavar="MODE",
                     help="print one strace-like line per system call to stderr; "
                          "--trace=verbose adds buffers and structures, user time since the "
                          "previous call, and what each personality did and charged")
    run.add_argument("--break", dest="breaks", metavar="CALL[:N]", action="append",
                     default=[], help="stop before the Nth CALL (every CALL without :N) and "
                     "give a prompt to look inside (repeatable; docs/debugging.md)")
    run.add_argument("--step", action="store_true",
                     help="stop before every system call, as --break for each")
    run.add_argument("--script", metavar="FILE",
                     help="read the debugger's commands from FILE instead of the terminal")
    cli_timing.add_timing_options(run, for_run=True)
    run.add_argument("program", nargs=argparse.REMAINDER, metavar="-- PROGRAM [ARGS...]")

    cli_timing.add_parsers(sub, [coffer_options])
    cli_experiment.add_parsers(sub)
    cli_sensitivity.add_parsers(sub)
    cli_fuzz.add_parsers(sub)
    cli_validate.add_parsers(sub)
    cli_conformance.add_parsers(sub)
    cli_lab.add_parsers(sub, _Parser)
    cli_plot.add_parsers(sub, _Parser)
    cli_sweep.add_parsers(sub, _Parser)
    workloads = sub.add_parser("workloads", help="list the built-in workloads")
    workloads.add_argument("--json", action="store_true", help="print the list as JSON")
    personalities = sub.add_parser("personalities",
                                   help="list the installed personalities and their options")
    personalities.add_argument("--json", action="store_true", help="print the list as JSON")
    demo = sub.add_parser("demo", help="run several built-in workloads, each in its own coffer")
    demo.add_argument("--libc", default="glibc", choices=ALL_LIBCS,
                      help="the C library the workloads are built with (default glibc)")
    add_examples(parser)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from cofferos.api import run_program
    from cofferos.cli_debug import debugger_for
    from cofferos.cli_output import report_run
    from cofferos.cli_timing import coffer_config, is_timed, run_timed
    from cofferos.coffers.coffer import COUNTERS_FAILED
    from cofferos.results import run_record, write_json
    from cofferos.results.outputs import check_file

    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        raise ConfigError("no program given: coffersim run [options] -- PROGRAM [ARGS...]")
    config = coffer_config(args)
    timed = is_timed(args)
    if args.stats:
        check_file(args.stats, "--stats")  # before the run, not after it
    if timed:
        return run_timed(args, config, program)
    started = time.perf_counter()
    with debugger_for(args) as tracer:
        result = run_program(program[0], program[1:], config=config,
                             stdout=_guest_stdout(args), trace=tracer)
    wall = time.perf_counter() - started
    record = run_record(result, wall, config, program)
    if args.stats:
        write_json(args.stats, record, option="--stats")
    told = result.oopses[-1:] if result.end_reason in ("oops", "personality-kill",
                                                            "personality-failure") else []
    for oops in result.oopses:  # the one that ended the run is the end line's
        if oops.startswith(COUNTERS_FAILED):  # no task was killed for it
            print(f"coffersim: {_first_words(oops)}", file=sys.stderr)
        elif oops not in told:
            print(f"coffersim: the kernel model killed a task: {_first_words(oops)} "
                  "(in full: oops_reports of --stats)", file=sys.stderr)
    report_run(record, summary=args.summary, as_json=args.json)
    return result.exit_code


def _guest_stdout(args: argparse.Namespace) -> Any:
    """The guest's stdout: the host's, or with --json (stdout is the record's) stderr."""
    if not args.json:
        return 1
    sys.stderr.flush()
    try:  # the descriptor, so the guest's stdout and stderr interleave as written
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # (io.UnsupportedOperation: captured)
        return sys.stderr.buffer if hasattr(sys.stderr, "buffer") else 2


def _first_words(oops: str) -> str:
    """An oops on one line: its first line and, for a traceback, the exception."""
    lines = oops.strip().splitlines()
    if len(lines) <= 1:
        return oops.strip()
    return f"{lines[0].rstrip(':')}: {lines[-1]}"


def cmd_personalities(args: argparse.Namespace) -> int:
    """List every installed personality; one that cannot be loaded is a row saying
    why ("BROKEN: ..."; in JSON, a "broken" field), and the others are listed as usual."""
    from cofferos.personalities.stack import available
    from cofferos.results.tables import format_table, terminal_width

    listing = available().listing()
    if args.json:
        print(json.dumps([
            {"name": name, "broken": str(getattr(cls, "problem", cls))}
            if isinstance(cls, Exception) else
            {"name": name, "description": cls.description,
             "options": [{"name": key, "type": option.type.__name__,
                          "default": option.default, "help": option.help}
                         for key, option in cls.options.items()]}
            for name, cls in listing], indent=2))
        return 0
    rows = []
    for name, found in listing:
        if isinstance(found, Exception):
            rows.append((name, f"BROKEN: {getattr(found, 'problem', found)}", "-"))
            continue
        options = ", ".join(f"{key}={option.default!r} ({option.help})"
                            for key, option in found.options.items()) or "-"
        rows.append((name, found.description, options))
    print(format_table(("personality", "description", "options"), rows, terminal_width()))
    return 0


def cmd_workloads(args: argparse.Namespace) -> int:
    from cofferos.results.tables import format_table, terminal_width
    from cofferos.workloads import list_workloads

    if args.json:
        print(json.dumps([{"name": f"@{w.name}", "libcs": list(w.libcs),
                           "default_args": list(w.default_args), "description": w.description}
                          for w in list_workloads()], indent=2))
        return 0
    rows = [(f"@{w.name}", ",".join(w.libcs), " ".join(w.default_args), w.description)
            for w in list_workloads()]
    print(format_table(("workload", "libcs", "default args", "description"), rows,
                       terminal_width()))
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
    from cofferos import (
        cli_calibrate,
        cli_conformance,
        cli_experiment,
        cli_fuzz,
        cli_lab,
        cli_plot,
        cli_sensitivity,
        cli_sweep,
        cli_timing,
        cli_validate,
    )

    return {"run": cmd_run, "workloads": cmd_workloads, "demo": cmd_demo,
            "personalities": cmd_personalities,
            "compare": cli_timing.cmd_compare, "calibrate": cli_calibrate.cmd_calibrate,
            "experiment": cli_experiment.cmd_experiment, "fuzz": cli_fuzz.cmd_fuzz,
            "validate": cli_validate.cmd_validate,
            "sensitivity": cli_sensitivity.cmd_sensitivity,
            "conformance": cli_conformance.cmd_conformance, "plot": cli_plot.run,
            "lab": cli_lab.run,
            "sweep": cli_sweep.run, "results": cli_sweep.run}[name]


#: numpy's OpenBLAS starts a thread per host core when numpy is imported, which costs
#: about 50 ms of CPU time, a fifth of ``coffersim run``'s start-up (issue #17); no
#: command does linear algebra worth a thread. Set before any command imports numpy;
#: a value the user set is kept.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault(*BLAS_THREADS)
    from cofferos.cli_timing import split_program_tail
    from cofferos.isa.interrupts import interruptible

    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    options, tail = split_program_tail(given)
    args = parser.parse_args(options)
    args.program_tail, args.argv = tail, given
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        with interruptible():  # Ctrl-C stops the guest, never lost in a simulator callback
            return _command(args.command)(args)
    except SimError as err:
        print(f"coffersim: error: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        print("coffersim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader left (`coffersim workloads | head`): no traceback
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit does not raise again (the recipe
    in Python's signal module documentation, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # a captured or replaced stdout
        pass
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
