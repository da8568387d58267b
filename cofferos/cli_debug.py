"""``coffersim run``'s tracer: ``--trace[=verbose]``, or the debugger (``--break``,
``--step``, ``--script``) with the trace inside it.

:func:`debugger_for` checks the options before any work (an unknown call name,
N < 1, a script that cannot be read: one line, exit status 2) and yields the
tracer the coffer is given, or None: no option, no tracer, nothing on the trap's
hot path. :func:`traced_machine` is ``--trace`` on the timing machine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cofferos.coffers.syscalls.trace import Tracer
from cofferos.errors import ConfigError


def wants_debugger(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "breaks", None) or getattr(args, "step", False)
                or getattr(args, "script", None))


@contextmanager
def debugger_for(args: argparse.Namespace) -> Iterator[Tracer | None]:
    trace = Tracer(sys.stderr, verbose=args.trace == "verbose") if args.trace else None
    if not wants_debugger(args):
        yield trace
        return
    # Only here: a plain run does not pay for the debugger's imports (issue #17).
    from cofferos.debugger import STEP, Breakpoint, Debugger, parse_breakpoint

    points = [parse_breakpoint(text) for text in args.breaks]
    if args.step:
        points.append(Breakpoint(STEP))
    if not points:
        raise ConfigError("--script needs a --break CALL[:N] or --step to stop at")
    if args.script is None:
        debugger = Debugger(points, sys.stderr, sys.stdin, trace)
        yield debugger  # type: ignore[misc]
    else:
        try:
            commands = open(args.script, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as err:
            raise ConfigError(f"--script {args.script}: {err.strerror or err}") from None
        with commands:
            debugger = Debugger(points, sys.stderr, commands, trace, echo=True)
            yield debugger  # type: ignore[misc]
    for point in debugger.unreached():
        print(f"coffersim: breakpoint {point} was never reached ({point.name} ran "
              f"{debugger.counts.get(point.name, 0)} times)", file=sys.stderr)


def traced_machine(mode: str) -> Callable[[Any], None]:
    """``--trace`` on the timing machine: each coffer its own tracer, each line prefixed
    with the container's name (c0, c1, ...), all on stderr in simulated order."""
    def install(machine: Any) -> None:
        for coffer in machine.coffers:
            coffer.dispatcher.tracer = Tracer(sys.stderr, verbose=mode == "verbose",
                                              prefix=f"{coffer.config.name} ")
    return install
