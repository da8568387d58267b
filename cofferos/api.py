"""The Python API: run a program in a fresh coffer in one call.

``run_program`` is what ``coffersim run`` does, minus argument parsing:
resolve the program (``@name`` for a built-in workload; with a root filesystem
(``rootfs``) or an image, a path or bare name inside it, as ``docker run`` looks it
up; else a host path), create a :class:`~cofferos.coffers.coffer.Coffer`, spawn,
run, return the :class:`~cofferos.coffers.coffer.RunResult`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO, TextIO

from cofferos.coffers.coffer import Coffer, CofferConfig, RunResult
from cofferos.coffers.syscalls.trace import Tracer
from cofferos.errors import ProgramError
from cofferos.workloads import resolve


def runs_inside(spec: str, config: CofferConfig | None) -> bool:
    """Whether ``spec`` names a program of the coffer's own tree (a path or a bare name
    looked up inside it) rather than a host file: with a root filesystem or an image,
    every program but a built-in ``@workload`` (which is always built on the host)."""
    return (config is not None and (bool(config.rootfs) or config.image is not None)
            and not spec.startswith("@"))


def resolve_program(spec: str, config: CofferConfig | None = None) -> str:
    """A host path for ``spec``: ``@name[:libc]`` builds a workload, a path must exist.
    A program of ``config``'s root filesystem or image is returned as named (it is looked
    up in the coffer when it starts it, :meth:`~cofferos.coffers.coffer.Coffer.spawn_inside`)."""
    if spec.startswith("@"):
        return str(resolve(spec))
    if runs_inside(spec, config):
        return spec
    if not os.path.exists(spec):
        raise ProgramError(f"{spec}: no such file")
    return spec


def as_tracer(trace: TextIO | Tracer | None) -> Tracer | None:
    """``run_program``'s ``trace``: a stream for ``--trace`` lines, or already a tracer
    (anything with ``enter`` and ``leave``: a verbose Tracer, the debugger), or None."""
    if trace is None or hasattr(trace, "enter"):
        return trace  # type: ignore[return-value]
    return Tracer(trace)  # type: ignore[arg-type]


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
