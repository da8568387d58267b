"""``coffersim fuzz``: a fuzzing campaign against the kernel model, from the command line.

    coffersim fuzz [--calls N] [--seed S] [--batch B] [--victim "PROGRAM ARGS"]...
                   [--kernel K] [--cores N] [--memory-limit MIB] [--disk-limit MIB]
                   [--host-memory-base MIB] [--show N]

Runs :func:`cofferos.sim.fuzz.run_campaign` and prints the calls made, the oopses
(distinct by traceback, the first traceback of each shown with the call that raised
it), the harm done to each victim, the host's peak memory against its bound, and the
host time. Exits 0 when there was no oops, no harm, the host stayed within the bound
and the fuzzer finished; 1 otherwise; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from cofferos.cli_args import bounded, positive
from cofferos.errors import ConfigError

EXIT_FAILED = 1
MIB = 1 << 20
GIB = 1 << 30
DEFAULT_SHOWN = 5


def add_parsers(sub: Any) -> None:
    from cofferos.cli_args import kernel_name
    from cofferos.sim.fuzz import DEFAULT_VICTIMS, FuzzConfig

    defaults = FuzzConfig()
    victims = "; ".join(" ".join(victim) for victim in DEFAULT_VICTIMS)
    parser = sub.add_parser(
        "fuzz", help="fuzz the kernel model: a hostile guest beside victims (docs/security.md)",
        description="Run the @fuzz guest (seeded random system calls with adversarial "
                    "arguments) beside victim coffers on one simulated machine; report "
                    "oopses, harm to the victims, host peak memory and host time.")
    parser.add_argument("--calls", type=positive, default=defaults.calls, metavar="N",
                        help=f"system calls the fuzzer draws (default {defaults.calls})")
    parser.add_argument("--seed", type=bounded("seed"), default=defaults.seed, metavar="S",
                        help="the fuzzer's seed (default 0)")
    parser.add_argument("--batch", type=positive, default=defaults.batch, metavar="B",
                        help=f"calls per fuzzing child (default {defaults.batch})")
    parser.add_argument("--victim", action="append", default=[], metavar='"PROGRAM ARGS"',
                        help=f"a victim coffer (repeatable; default: {victims})")
    parser.add_argument("--kernel", default=defaults.kernel, metavar="K",
                        type=kernel_name,
                        help=f"kernel architecture (default {defaults.kernel})")
    parser.add_argument("--cores", type=bounded("cores"), default=defaults.cores, metavar="N",
                        help=f"cores of the simulated machine (default {defaults.cores})")
    parser.add_argument("--memory-limit", type=positive, default=defaults.memory_limit // MIB,
                        metavar="MIB", help="each coffer's memory limit in MiB "
                        f"(default {defaults.memory_limit // MIB})")
    parser.add_argument("--disk-limit", type=positive, default=defaults.disk_limit // MIB,
                        metavar="MIB", help="each coffer's disk quota in MiB "
                        f"(default {defaults.disk_limit // MIB})")
    parser.add_argument("--host-memory-base", type=positive,
                        default=defaults.host_memory_base // MIB, metavar="MIB",
                        help="the host's peak memory bound before the coffers' limits are "
                        f"added (default {defaults.host_memory_base // MIB})")
    parser.add_argument("--show", type=int, default=DEFAULT_SHOWN, metavar="N",
                        help=f"distinct oopses shown with their traceback (default "
                        f"{DEFAULT_SHOWN})")


def _config(args: argparse.Namespace) -> Any:
    from cofferos.sim.fuzz import DEFAULT_VICTIMS, FuzzConfig

    victims = tuple(tuple(shlex.split(text)) for text in args.victim) or DEFAULT_VICTIMS
    if not all(victims):
        raise ConfigError("--victim: give a program, e.g. --victim '@fileio 16'")
    return FuzzConfig(calls=args.calls, seed=args.seed, batch=args.batch, victims=victims,
                      kernel=args.kernel, cores=args.cores,
                      memory_limit=args.memory_limit * MIB, disk_limit=args.disk_limit * MIB,
                      host_memory_base=args.host_memory_base * MIB)


def cmd_fuzz(args: argparse.Namespace) -> int:
    from cofferos.sim.fuzz import run_campaign

    config = _config(args)
    report = run_campaign(config)
    print(format_report(report, shown=args.show))
    return 0 if report.ok else EXIT_FAILED


def format_report(report: Any, shown: int = DEFAULT_SHOWN) -> str:
    """The campaign's report as the command prints it."""
    config = report.config
    rate = report.syscalls / report.host_seconds if report.host_seconds else 0.0
    drawn = (f"{report.calls_drawn} drawn by {report.children} fuzzing children"
             if report.finished else f"{config.calls} asked (the fuzzer printed no summary)")
    lines = [
        f"calls: {drawn} (seed {config.seed}, batch {config.batch}); {report.syscalls} "
        "system calls served to the fuzzing coffer, setup included",
        f"fuzzer: {'finished' if report.finished else 'did NOT finish'}, "
        f"exit {report.fuzzer_exit}; kernel {config.kernel}, {config.cores} cores, "
        f"{report.simulated_seconds:.3f} simulated s",
        f"oopses: {len(report.oopses)} distinct, {report.oops_total} in all",
    ]
    for oops in report.oopses[:max(shown, 0)]:
        lines.append(f"--- oops x{oops.count}: {oops.first_line}")
        lines.append(f"    first raised by {oops.call}")
        lines += ["    " + line for line in oops.traceback.rstrip().splitlines()]
    victims = ", ".join(" ".join(victim) for victim in config.victims)
    lines.append(f"victim harm: {len(report.harm) or 'none'} ({victims}: compared with a "
                 "run without the attacker)")
    lines += [f"    {harm}" for harm in report.harm]
    verdict = "EXCEEDED" if report.memory_exceeded else "within"
    lines.append(f"host peak memory: {report.peak_rss_bytes / MIB:.0f} MiB (ru_maxrss), "
                 f"{verdict} the bound of {config.host_memory_bound / GIB:.2f} GiB "
                 f"({config.host_memory_base // MIB} MiB + {1 + len(config.victims)} coffers x "
                 f"({config.memory_limit // MIB} MiB memory + {config.disk_limit // MIB} MiB "
                 "disk))")
    lines.append(f"host time: {report.host_seconds:.1f} s wall, {report.cpu_seconds:.1f} s "
                 f"CPU ({rate:.0f} calls/s), victims' solo runs included")
    lines.append("result: " + ("ok" if report.ok else "FAILED"))
    return "\n".join(lines)
