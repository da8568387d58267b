"""cofferos-sim: a full-system simulator for the CofferOS kernel design.

Public API (imported lazily, so ``import cofferos`` stays cheap)::

    from cofferos import Coffer, CofferConfig, run_program
    result = run_program("@hello")            # a built-in workload, or a host path
    print(result.exit_code, result.instructions)

Layers, each in its own folder of the source tree:

    cofferos/       this API and the ``coffersim`` command line
    isa/            the guest CPU: ELF loader, Unicorn wrapper, per-block counter, costs
    coffers/        the kernel model: Coffer, tasks, memory, files, system calls
    personalities/  per-coffer kernel plugins
    sim/            time, machine, kernel architectures, cost model
    workloads/      built-in guest programs and their build cache
    results/        run records and tables
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Coffer": ("cofferos.coffers.coffer", "Coffer"),
    "CofferConfig": ("cofferos.coffers.coffer", "CofferConfig"),
    "RunResult": ("cofferos.coffers.coffer", "RunResult"),
    "run_program": ("cofferos.api", "run_program"),
    "resolve_program": ("cofferos.api", "resolve_program"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'cofferos' has no attribute {name!r}")
