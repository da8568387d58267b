"""The Python API: run a program in a fresh coffer in one call.

``run_program`` is what ``coffersim run`` does, minus argument parsing:
resolve the program (``@name`` for a built-in workload; with a root filesystem
(``rootfs``) or an image, a path or bare name inside it, as ``docker run`` looks it
up; else a host path), create a :class:`~cofferos.coffers.coffer.Coffer`, spawn,
run, return the :class:`~cofferos.coffers.coffer.RunResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO, TextIO

from cofferos.coffers.coffer import Coffer, CofferConfig, RunResult
from cofferos.coffers.program import resolve_program, runs_inside
from cofferos.coffers.syscalls.trace import Tracer


def as_tracer(trace: TextIO | Tracer | None) -> Tracer | None:
    """``run_program``'s ``trace``: a stream for ``--trace`` lines, or already a tracer
    (anything with ``enter`` and ``leave``: a verbose Tracer, the debugger), or None."""
    if trace is None or hasattr(trace, "enter"):
        return trace  # type: ignore[return-value]
    return Tracer(trace)  # type: ignore[arg-type]


__all__ = ["as_tracer", "resolve_program", "run_program", "runs_inside"]


def run_program(program: str, args: Sequence[str] = (), *, config: CofferConfig | None = None,
                stdin: BinaryIO | int = 0, stdout: BinaryIO | int = 1,
                stderr: BinaryIO | int = 2, trace: TextIO | None = None) -> RunResult:
    """Run ``program`` with ``args`` in a new coffer and return what it did."""
    path = resolve_program(program, config)
    coffer = Coffer(config, stdin=stdin, stdout=stdout, stderr=stderr,
                    tracer=as_tracer(trace))
    argv0 = program.lstrip("@").split(":")[0] if program.startswith("@") else program
    if runs_inside(program, config):
        coffer.spawn_inside(path, [argv0, *args], None)
    else:
        coffer.spawn(path, [argv0, *args], None)
    return coffer.run()
