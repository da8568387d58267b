"""Built-in guest workloads: small static x86-64 programs the simulator runs as-is.

The catalog (:mod:`.catalog`) names each program and what it exercises; the
builder (:mod:`.build`) compiles one on first use into a cache and returns its
path. On the command line a workload is ``@name`` or ``@name:libc``::

    from cofferos.workloads import build, resolve
    path = build("hello")              # static glibc ELF
    path = resolve("@fileio:musl")     # the same program against musl

Nothing here knows about the simulator: the binaries also run natively, which
is how tests check the simulator's output against reality.
"""

from .build import (
    CACHE_ENV,
    TOOLCHAINS,
    Toolchain,
    build,
    cache_dir,
    compilers_available,
    lookup,
    resolve,
)
from .catalog import (
    ALL_LIBCS,
    ASMLOOP_ITERATIONS,
    GLIBC,
    GLIBC_PIE,
    MUSL,
    WORKLOADS,
    Workload,
    list_workloads,
)

__all__ = [
    "ALL_LIBCS",
    "ASMLOOP_ITERATIONS",
    "CACHE_ENV",
    "GLIBC",
    "GLIBC_PIE",
    "MUSL",
    "TOOLCHAINS",
    "WORKLOADS",
    "Toolchain",
    "Workload",
    "build",
    "cache_dir",
    "compilers_available",
    "list_workloads",
    "lookup",
    "resolve",
]
